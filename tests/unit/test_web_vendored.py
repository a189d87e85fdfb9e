"""Every vendored script is the published file its README names, with its licence beside it."""

from __future__ import annotations

import hashlib
import re
from importlib.resources import files
from pathlib import Path

VENDOR = Path(str(files("chaincut.web").joinpath("static", "vendor")))


def test_each_vendored_file_matches_the_digest_and_has_its_licence() -> None:
    table = (VENDOR / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([^`]+)` \|.*\| ([^|]+) \| `([0-9a-f]{64})` \|$", table, flags=re.M)
    assert rows, "the README lists no vendored file"
    listed = {name for name, _, _ in rows}
    scripts = {p.name for p in VENDOR.iterdir() if p.suffix in (".js", ".wasm")}
    assert scripts == listed  # nothing unlisted, nothing missing
    for name, licence, digest in rows:
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, name
        licence_file = re.search(r"`([^`]+LICENSE[^`]*)`", licence)
        assert licence_file is not None and (VENDOR / licence_file.group(1)).is_file(), name
