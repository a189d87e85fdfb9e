"""Every ``chaincut`` command, and every server start, loads the command line and the services:
what only a few commands use (scipy's statistics, PDF and font libraries, spreadsheets, the web
pages, numba, PySpark) loads when used, not then. Each of these cost a command a third to a half
of a second."""

from __future__ import annotations

import json
import subprocess
import sys

LOADED_ONLY_WHEN_USED = (
    "scipy.stats",
    "scipy.sparse",
    "fpdf",
    "fontTools.ttLib",
    "openpyxl",
    "matplotlib",
    "numba",
    "pyspark",  # an optional extra: only --engine spark loads it
    "fastapi",
    "chaincut.web",
    "chaincut.api",
)


def test_the_command_line_loads_nothing_it_may_not_need() -> None:
    probe = (
        "import json, sys\n"
        "import chaincut.cli.app, chaincut.bootstrap\n"
        f"print(json.dumps(sorted(m for m in {LOADED_ONLY_WHEN_USED!r} if m in sys.modules)))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    assert json.loads(loaded.stdout) == []
