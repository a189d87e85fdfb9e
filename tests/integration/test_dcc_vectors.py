"""The EU DCC test vectors (dgc-testdata): every vector's expected results against our checks.

Each vector gives the QR text, the signer certificate and the validation clock; for
every ``EXPECTED*`` key it holds, the matching check must agree. A step the
verifier never reached (an earlier step failed) counts as not passed. Vectors the
publishers list in ``known_issues.csv`` carry wrong labels and are marked xfail
with the upstream issue; the verifier is not bent to agree with them.
"""

from __future__ import annotations

import base64
import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from cryptography import x509
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


def _known_issues() -> dict[tuple[str, str, str], str]:
    path = VECTORS / "known_issues.csv"
    if not path.exists():
        return {}
    with path.open(encoding="utf-8") as handle:
        return {
            (UPSTREAM_TESTS.get(row["test_name"], row["test_name"]), row["country"], row["test_set"]): row[
                "reason"
            ]
            for row in csv.DictReader(handle)
        }


def _cases() -> list[Any]:
    if not VECTORS.exists():
        return [pytest.param(None, None, id="dcc-testdata-absent")]
    issues = _known_issues()
    cases = []
    for path in sorted(VECTORS.glob("**/*.json")):
        vector = json.loads(path.read_text(encoding="utf-8"))
        country, name = path.relative_to(VECTORS).parts[0], path.stem
        keys = [key for key in vector.get("EXPECTEDRESULTS", {}) if key in EXPECTED_CHECKS]
        if "EXPECTEDPICTUREDECODE" in vector.get("EXPECTEDRESULTS", {}):
            keys.append("EXPECTEDPICTUREDECODE")
        for key in keys:
            check = EXPECTED_CHECKS.get(key, "picturedecode")
            reason = issues.get((check, country, name)) or issues.get((check, country, ""))
            marks = [pytest.mark.xfail(reason=f"known upstream label issue: {reason}", strict=False)]
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
