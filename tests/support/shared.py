"""The shared real-data folder beside the project (../shared/data): tests skip without it, or fail in CI."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.postgres import in_ci

__all__ = ["SHARED_DATA", "shared_data"]

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


def shared_data(*parts: str) -> Path:
    """A file in ../shared/data, or skip the test saying it is absent; under CI=true, fail it instead.

    CI lays the shared folder beside its clone, so there a missing file means the run would
    pass without the tests on real data: that must be a failure, not a quiet skip.
    """
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        reason = f"{path} is absent: the shared real-data folder is not beside the project"
        if in_ci():
            pytest.fail(f"CI=true but {reason}", pytrace=False)
        pytest.skip(reason)
    return path
