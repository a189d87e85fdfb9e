"""The EU DCC test vectors (dgc-testdata): every vector's expected results against our checks.

Each vector gives the QR text, the signer certificate and the validation clock; for
every ``EXPECTED*`` key it holds, the matching check must agree. A step the
verifier never reached (an earlier step failed) counts as not passed.
``EXPECTEDSCHEMAVALIDATION`` is met as ``chaincut.codes.dcc_schema`` says: true when the
content conforms to the official schema its ``ver`` picks and holds one record kind.

``known_issues.csv`` lists labels the publishers know to be wrong; the verifier is not
bent to agree with them. A row names one vector (its test set) or a whole country:

- A row naming a vector marks exactly that vector's check ``xfail(strict=True)``: our
  check must disagree with the label, and the run fails the day it agrees (the label
  was fixed upstream, or the verifier broke).
- A country-wide row does not say which of the country's labels are wrong. For the
  schema check the publishers' own procedure tells, vector by vector: the vector's
  published JSON, validated by the stock ``jsonschema`` validator against the official
  schema of its ``ver`` (formats as annotations, as in their reference test), holding one
  record kind. A label that disagrees with it is one of the wrong ones and is marked
  strictly; the others are asserted. No such reference exists for the other checks, so
  a country-wide row marks none of them and their labels are asserted: FI's row (#407)
  is the publishers' reference tool failing to parse FI's signer certificates, not a
  wrong label, and our verifier agrees with every FI label.
- Rows for checks we do not make (the payload comparisons) or for countries this
  subset does not ship mark nothing.
"""

from __future__ import annotations

import base64
import csv
import functools
import io
import json
import re
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from cryptography import x509
from jsonschema import Draft202012Validator
from PIL import Image, UnidentifiedImageError

from chaincut.codes import TrustAnchors, verify_hcert
from support.shared import SHARED_DATA, shared_data

VECTORS = SHARED_DATA / "dcc-testdata"
# The data's own key names (quirky spellings included) -> our check names.
EXPECTED_CHECKS = {
    "EXPECTEDUNPREFIX": "unprefix",
    "EXPECTEDB45DECODE": "b45decode",
    "EXPECTEDCOMPRESSION": "compression",
    "EXPECTEDDECODE": "decode",
    "EXPECTEDVERIFY": "verify",
    "EXPECTEDEXPIRATIONCHECK": "expirationcheck",
    "EXPTECTEDEXPIRED": "expirationcheck",
    "EXPECTEDSCHEMAVALIDATION": "schemavalidation",
    "EXPECTEDKEYUSAGE": "keyusage",
}
# The upstream reference tests named in known_issues.csv -> the check each one exercises.
UPSTREAM_TESTS = {
    "test_cose_schema": "schemavalidation",
    "test_verification_check": "verify",
    "test_expiration_check": "expirationcheck",
    "test_expected_key_usage": "keyusage",
    "test_cose_json": "payload",
    "test_cbor_json": "payload",
}
VECTOR_FILE = "{country}/2DCode/raw/{test_set}.json"


def _known_issue_rows() -> list[dict[str, str]]:
    path = VECTORS / "known_issues.csv"
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _known_issues() -> dict[tuple[str, str, str], str]:
    """(check, country, test set or "" for the whole country) -> the upstream issue."""
    issues = {}
    for row in _known_issue_rows():
        check = UPSTREAM_TESTS.get(row["test_name"], row["test_name"])
        issues[check, row["country"], row["test_set"]] = row["reason"]
    return issues


@functools.cache
def _reference_schemas() -> dict[str, Any]:
    """The stock jsonschema validator of each vendored official schema, by minor version (1.0, ...)."""
    validators = {}
    for entry in (resources.files("chaincut.codes") / "schemas").iterdir():
        if found := re.fullmatch(r"D[GC]C-(\d+\.\d+)\.\d+\.combined-schema\.json", entry.name):
            validators[found[1]] = Draft202012Validator(json.loads(entry.read_text(encoding="utf-8")))
    return validators


def _reference_schema_verdict(vector: dict[str, Any]) -> bool | None:
    """The publishers' own schema procedure on the vector's published JSON, or None if it cannot apply."""
    content = vector.get("JSON")
    if not isinstance(content, dict) or not isinstance(content.get("ver"), str):
        return None
    validator = _reference_schemas().get(".".join(content["ver"].split(".")[:2]))
    if validator is None:
        return None
    return bool(validator.is_valid(content)) and sum(kind in content for kind in "vtr") == 1


def _wrong_label(
    issues: dict[tuple[str, str, str], str], check: str, path: Path, vector: dict[str, Any], label: bool
) -> str | None:
    """The upstream issue that makes this vector's label for ``check`` wrong, or None if it is to hold."""
    country, name = path.relative_to(VECTORS).parts[0], path.stem
    if reason := issues.get((check, country, name)):
        return reason
    country_wide = issues.get((check, country, ""))
    if country_wide and check == "schemavalidation":
        reference = _reference_schema_verdict(vector)
        if reference is not None and reference != label:
            return f"{country_wide} (country-wide; this label disagrees with the official schema)"
    return None


def _cases() -> list[Any]:
    if not VECTORS.exists():
        return [pytest.param(None, None, id="dcc-testdata-absent")]
    issues = _known_issues()
    cases = []
    for path in sorted(VECTORS.glob("**/*.json")):
        vector = json.loads(path.read_text(encoding="utf-8"))
        keys = [key for key in vector.get("EXPECTEDRESULTS", {}) if key in EXPECTED_CHECKS]
        if "EXPECTEDPICTUREDECODE" in vector.get("EXPECTEDRESULTS", {}):
            keys.append("EXPECTEDPICTUREDECODE")
        for key in keys:
            check = EXPECTED_CHECKS.get(key, "picturedecode")
            reason = _wrong_label(issues, check, path, vector, vector["EXPECTEDRESULTS"][key])
            marks = [pytest.mark.xfail(reason=f"known upstream label issue: {reason}", strict=True)]
            test_id = f"{path.relative_to(VECTORS).as_posix()}:{check}"
            cases.append(pytest.param(path, key, id=test_id, marks=marks if reason else []))
    return cases


def _clock(text: str | None) -> datetime:
    if not text:
        return datetime.now(UTC)
    at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return at if at.tzinfo else at.replace(tzinfo=UTC)  # the data's reference tests read naive clocks as UTC


def _picture_matches(vector: dict[str, Any]) -> bool:
    picture = vector.get("2DCODE") or vector.get("_2DCODE")
    if not picture:
        pytest.skip("this subset of the data ships no picture for the vector")
    try:
        image = Image.open(io.BytesIO(base64.b64decode(picture)))
    except (UnidentifiedImageError, ValueError):
        return False  # a picture no reader can open is a QR code that cannot be read
    found = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    return any(barcode.text == vector["PREFIX"] for barcode in found)


@pytest.mark.parametrize(("path", "key"), _cases())
def test_vector(path: Path | None, key: str | None) -> None:
    if path is None or key is None:
        shared_data("dcc-testdata")
        pytest.fail("unreachable: the vectors folder exists but none was collected")
    vector = json.loads(path.read_text(encoding="utf-8"))
    expected = vector["EXPECTEDRESULTS"][key]
    if key == "EXPECTEDPICTUREDECODE":
        assert _picture_matches(vector) == expected
        return
    context = vector["TESTCTX"]
    certificate = x509.load_der_x509_certificate(base64.b64decode(context["CERTIFICATE"]))
    result = verify_hcert(
        vector["PREFIX"], TrustAnchors.of([certificate]), _clock(context.get("VALIDATIONCLOCK"))
    )
    check = EXPECTED_CHECKS[key]
    assert result.checks.get(check, False) == expected, (check, result.reason, result.checks)
    if not result.valid:
        assert result.reason


def test_every_known_issue_names_a_check_and_a_vector_that_is_here_or_a_country_that_is_not() -> None:
    """A mistyped row would mark nothing, silently: each names a test we map, and a vector we hold."""
    shared_data("dcc-testdata", "known_issues.csv")
    for row in _known_issue_rows():
        assert row["test_name"] in UPSTREAM_TESTS, row
        if row["test_set"] and (VECTORS / row["country"]).exists():
            assert (VECTORS / VECTOR_FILE.format(**row)).exists(), row
