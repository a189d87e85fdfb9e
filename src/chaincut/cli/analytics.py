"""Commands for outbreak analytics (``chaincut analytics ...``)."""

from __future__ import annotations

import typer

__all__ = ["analytics_app"]

analytics_app = typer.Typer(
    help="Outbreak analytics: serial interval, epidemic curve, reproduction number.",
    no_args_is_help=True,
)
