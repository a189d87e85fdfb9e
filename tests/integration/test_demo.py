"""``chaincut demo``: a district built, loaded and ready to trace, as the README's first command runs it."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from chaincut.cli.app import app


def test_the_demo_builds_a_district_with_a_case_to_trace(tmp_path: Path) -> None:
    env = {"CHAINCUT_DATA_DIR": str(tmp_path / "data"), "CHAINCUT_ENV": "development"}
    runner = CliRunner()
    built = runner.invoke(app, ["demo", "--people", "2000", "--no-serve"], env=env)
    assert built.exit_code == 0, built.output
    assert "loaded 2,000 people" in built.output
    assert "chaincut trace --case C-DEMO" in built.output

    traced = runner.invoke(app, ["trace", "--case", "C-DEMO", "--json"], env=env)
    assert traced.exit_code == 0, traced.output
    doc = json.loads(traced.stdout)
    assert doc["case"] == "C-DEMO"
    assert doc["count"] == len(doc["contacts"]) > 0  # the busiest resident met people
    assert all(c["evidence"] for c in doc["contacts"])

    again = runner.invoke(app, ["demo", "--people", "2000", "--no-serve"], env=env)
    assert again.exit_code == 0, again.output
    assert "already holds data" in again.output  # a second run keeps the store and the case
