"""The shared real-data lookup: present files are found; absent ones skip, or fail under CI."""

from __future__ import annotations

from pathlib import Path

import pytest

import support.shared
from support.shared import shared_data

SKIPPED, FAILED = pytest.skip.Exception, pytest.fail.Exception


def outcome(*parts: str) -> tuple[type[BaseException] | None, str]:
    """What looking a file up does to the test: nothing (found), skip it or fail it, and why."""
    try:
        shared_data(*parts)
    except (SKIPPED, FAILED) as stop:
        return type(stop), str(stop)
    return None, ""


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "dcc-testdata").mkdir()
    monkeypatch.setattr(support.shared, "SHARED_DATA", tmp_path)
    return tmp_path


@pytest.mark.parametrize("ci", ["true", ""])
def test_a_present_file_is_found_in_and_out_of_ci(
    data_dir: Path, ci: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", ci)
    assert shared_data("dcc-testdata") == data_dir / "dcc-testdata"


def test_an_absent_file_skips_outside_ci(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    stop, why = outcome("hk", "building_list_eng.2020-12-17.csv")
    assert stop is SKIPPED
    assert "building_list_eng.2020-12-17.csv is absent" in why


@pytest.mark.parametrize("ci", ["true", "1", "TRUE"])
def test_an_absent_file_fails_in_ci(data_dir: Path, ci: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", ci)
    stop, why = outcome("sociopatterns")
    assert stop is FAILED
    assert why.startswith("CI=true but ") and "sociopatterns is absent" in why


def test_the_whole_folder_missing_fails_in_ci(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(support.shared, "SHARED_DATA", tmp_path / "no-shared" / "data")
    monkeypatch.setenv("CI", "true")
    assert outcome("dcc-testdata")[0] is FAILED
