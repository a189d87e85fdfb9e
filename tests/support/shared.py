"""The shared real-data folder beside the project (../shared/data): tests skip, saying so, without it."""

from __future__ import annotations

from pathlib import Path

import pytest

__all__ = ["SHARED_DATA", "shared_data"]

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


def shared_data(*parts: str) -> Path:
    """A file in ../shared/data, or skip the test saying it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent: the shared real-data folder is not beside the project")
    return path
