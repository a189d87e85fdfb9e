"""The session's log scan finds planted personal data, in every form, and nothing else."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest

from support import canaries
from support.log_scan import LOG_DIR_ENV, find_leaks


def _log(path: Path, *lines: str) -> Path:
    path.write_text("".join(f"2026-11-20 12:00:00,000 INFO chaincut.cases {line}\n" for line in lines))
    return path


def test_the_canary_document_number_has_a_valid_check_digit() -> None:
    letter, digits, check = canaries.ID_DOCUMENT[0], canaries.ID_DOCUMENT[1:7], canaries.ID_DOCUMENT[8]
    assert canaries.hkid_check_digit(letter, digits) == check
    assert canaries.hkid_check_digit("A", "123456") == "3"  # the example the Immigration Department uses


def test_a_clean_log_reports_nothing(tmp_path: Path) -> None:
    clean = _log(
        tmp_path / "clean.log",
        "case C-1 registered by tracer-7 (policy hk-2026.1)",
        "maintenance: closed 3 stale visits; purged 0 visits, 0 encounters",
        "HTTP Request: POST http://testserver/people/P-CANARY-1 201 Created",
    )
    assert find_leaks([clean]) == []


@pytest.mark.parametrize(
    ("label", "written"),
    [
        ("name", canaries.NAME),
        ("name", canaries.NAME.upper()),
        ("name", "Mr Quillfeather"),
        ("chinese_name", canaries.CHINESE_NAME),
        ("chinese_name", urllib.parse.quote(canaries.CHINESE_NAME)),
        ("chinese_name", canaries.CHINESE_NAME.encode("unicode_escape").decode()),
        ("phone", canaries.PHONE),
        ("phone", "tel:85261782943"),
        ("phone", "61782943"),
        ("address", canaries.ADDRESS),
        ("address", "88 wintergreen terrace"),
        ("id_document", canaries.ID_DOCUMENT),
        ("id_document", "z6833714"),
        ("id_document", "Z683371 (4)"),
        ("email", canaries.EMAIL),
        ("email", urllib.parse.quote(canaries.EMAIL)),
    ],
)
def test_a_canary_in_any_form_is_found_with_its_file_and_line(
    tmp_path: Path, label: str, written: str
) -> None:
    clean = _log(tmp_path / "clean.log", "nothing to see")
    leaky = _log(tmp_path / "leaky.log", "case C-1 registered", f"person P-1 is {written}", "done")
    leaks = find_leaks([clean, leaky])
    assert [(leak.path, leak.line, leak.label) for leak in leaks] == [(leaky, 2, label)]
    assert written in leaks[0].render()


def test_undecodable_bytes_do_not_hide_a_leak(tmp_path: Path) -> None:
    raw = tmp_path / "server.stderr"
    raw.write_bytes(b"\xff\xfe garbage\nphone " + canaries.PHONE.encode() + b" \xc3\n")
    assert [leak.line for leak in find_leaks([raw])] == [2]


def test_the_plugin_records_this_run_at_debug_and_exposes_its_folder(log_dir: Path) -> None:
    marker = "log-scan self-check: a debug record reaches the run log"
    logging.getLogger("chaincut.log_scan_check").debug(marker)
    run_log = log_dir / "run.log"
    for handler in logging.getLogger().handlers:
        handler.flush()
    assert marker in run_log.read_text(encoding="utf-8")
    assert os.environ[LOG_DIR_ENV] == str(log_dir)


@pytest.mark.parametrize(("logged", "status"), [("case C-1 registered", 0), (canaries.ID_DOCUMENT, 1)])
def test_a_run_whose_logs_hold_a_canary_fails(tmp_path: Path, logged: str, status: int) -> None:
    (tmp_path / "test_inner.py").write_text(
        "import logging\n\n\n"
        "def test_logs_something() -> None:\n"
        f"    logging.getLogger('chaincut.inner').debug({logged!r})\n"
    )
    tests_dir = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tests_dir), os.environ.get("PYTHONPATH", "")])}
    inner = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "support.log_scan", "-p", "no:cacheprovider", "test_inner.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert inner.returncode == status, inner.stdout + inner.stderr
    assert "1 passed" in inner.stdout
    if status:
        assert "personal data found in the logs of this run" in inner.stdout
        assert "run.log:" in inner.stdout
        assert ": id_document: " in inner.stdout
    else:
        assert "no planted personal data" in inner.stdout
