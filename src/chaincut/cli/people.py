"""Commands for people's data rights: people access-report (a data-access request, PDPO s.18)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from chaincut.cli.console import console, err, services
from chaincut.cli.users import operator

__all__ = ["access_report"]


def access_report(
    person: Annotated[str, typer.Option(help="the person's ref")],
    out: Annotated[
        Path | None,
        typer.Option(help="write it here: FILE.json, or FILE.html for a printable page (else stdout)"),
    ] = None,
    purpose: Annotated[
        str, typer.Option(help="the request being answered, for the audit log")
    ] = "data access request (PDPO s.18)",
) -> None:
    """Everything held about one person, as JSON or a printable page; the access is audited."""
    if out is not None and out.suffix.lower() not in (".json", ".html", ".htm"):
        raise typer.BadParameter("expected a file ending .json or .html", param_hint="--out")
    with services() as wired:
        report = wired.subject_access.report_for(operator(), person, purpose=purpose)
    if out is None:
        typer.echo(report.to_json())
        return
    text = report.to_html() if out.suffix.lower() in (".html", ".htm") else report.to_json()
    # The report is personal data: readable by its owner only (0600), as secrets are.
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        err.print(f"[red]error:[/red] cannot write {out}: {exc.strerror}", highlight=False)
        raise typer.Exit(1) from exc
    console.print(f"wrote the access report for {person} to {out}", highlight=False)
