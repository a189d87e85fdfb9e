"""``chaincut verify``: QR text, stdin, images, trust lists, batches; exit 0 valid, 1 not, 2 usage."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import segno
from cryptography.hazmat.primitives.serialization import Encoding
from typer.testing import CliRunner, Result

from chaincut.cli import app
from chaincut.codes.cose import key_id
from support.dcc import new_signer

SIGNER = new_signer()
OTHER = new_signer()
QR = SIGNER.issue()
AT = "2026-11-20T12:00+08:00"
CERT_B64 = base64.b64encode(SIGNER.certificate.public_bytes(Encoding.DER)).decode()


def chaincut(*args: str | Path, stdin: str | None = None) -> Result:
    return CliRunner().invoke(app, ["verify", *(str(a) for a in args)], input=stdin)


@pytest.fixture
def pem(tmp_path: Path) -> Path:
    path = tmp_path / "dsc.pem"
    path.write_bytes(SIGNER.certificate.public_bytes(Encoding.PEM))
    return path


def test_valid_certificate_exits_zero_with_one_json_object(pem: Path) -> None:
    result = chaincut(QR, "--trust-cert", pem, "--at", AT, "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert set(out) == {"valid", "payload", "reason", "checks"}
    assert out["valid"] is True
    assert all(out["checks"].values())
    assert out["payload"]["v"][0]["dn"] == 2


def test_human_output_and_stdin(pem: Path) -> None:
    result = chaincut("-", "--trust-cert", pem, "--at", AT, stdin=QR + "\n")
    assert result.exit_code == 0
    assert "VALID" in result.stdout
    assert "schemavalidation  ok" in result.stdout


def test_expired_or_untrusted_certificate_exits_one(tmp_path: Path, pem: Path) -> None:
    expired = chaincut(QR, "--trust-cert", pem, "--at", "2027-06-01T00:00Z", "--json")
    assert expired.exit_code == 1
    assert json.loads(expired.stdout)["checks"]["expirationcheck"] is False

    other = tmp_path / "other.pem"
    other.write_bytes(OTHER.certificate.public_bytes(Encoding.PEM))
    untrusted = chaincut(QR, "--trust-cert", other, "--at", AT, "--json")
    assert untrusted.exit_code == 1
    assert json.loads(untrusted.stdout)["checks"]["verify"] is False


def test_garbage_is_a_result_not_a_crash(pem: Path) -> None:
    result = chaincut("HC1:not base45 ~~", "--trust-cert", pem, "--at", AT, "--json")
    assert result.exit_code == 1
    out = json.loads(result.stdout)
    assert out == {
        "valid": False,
        "payload": None,
        "reason": out["reason"],
        "checks": {"unprefix": True, "b45decode": False},
    }


def test_trust_list_by_kid(tmp_path: Path) -> None:
    trust = tmp_path / "trust.json"
    trust.write_text(json.dumps({base64.b64encode(key_id(SIGNER.certificate)).decode(): CERT_B64}))
    assert chaincut(QR, "--trust", trust, "--at", AT).exit_code == 0
    trust.write_text(json.dumps({"AAAAAAAAAAA=": CERT_B64}))
    assert chaincut(QR, "--trust", trust, "--at", AT).exit_code == 1


def test_image(tmp_path: Path, pem: Path) -> None:
    picture = tmp_path / "qr.png"
    segno.make_qr(QR, error="q").save(str(picture), scale=4)
    assert chaincut("--image", picture, "--trust-cert", pem, "--at", AT).exit_code == 0
    not_a_picture = tmp_path / "x.png"
    not_a_picture.write_bytes(b"not a picture")
    result = chaincut("--image", not_a_picture, "--trust-cert", pem, "--at", AT, "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["valid"] is False


def test_batch_keeps_order_and_never_stops(tmp_path: Path) -> None:
    lines = [
        json.dumps({"qr": QR, "trust_cert": CERT_B64, "at": "2026-11-20T04:00:00Z"}),
        json.dumps({"qr": QR, "trust_cert": CERT_B64, "at": "2030-01-01T00:00:00Z"}),
        "not json",
        json.dumps({"qr": QR, "trust_cert": "bm90IGEgY2VydA=="}),
        json.dumps({"qr": QR, "trust_cert": CERT_B64, "at": "2026-11-20"}),
        json.dumps({"qr": 5}),
        json.dumps({"qr": QR}),
    ]
    batch = tmp_path / "batch.jsonl"
    batch.write_text("\n".join(lines) + "\n")
    result = chaincut("--batch", batch, "--at", AT)
    assert result.exit_code == 1
    outputs = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["valid"] for o in outputs] == [True, False, False, False, False, False, False]
    assert outputs[1]["checks"]["expirationcheck"] is False
    assert all(o["reason"] for o in outputs[1:])
    assert outputs[6]["checks"]["verify"] is False  # no signer trusted for that line


@pytest.mark.parametrize(
    "args",
    [
        [],
        [QR, "--batch", "x.jsonl"],
        [QR],  # no trusted signer
        [QR, "--trust-cert", "missing.pem"],
        [QR, "--trust-cert", "{pem}", "--at", "yesterday"],
        [QR, "--trust-cert", "{pem}", "--at", "2026-11-20T12:00"],  # no offset
    ],
)
def test_usage_errors_exit_two(
    args: list[str], pem: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = chaincut(*(a.replace("{pem}", str(pem)) for a in args))
    assert result.exit_code == 2, result.output


def test_bad_trust_files_exit_two(tmp_path: Path) -> None:
    bad_cert = tmp_path / "bad.pem"
    bad_cert.write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    assert chaincut(QR, "--trust-cert", bad_cert).exit_code == 2
    bad_list = tmp_path / "trust.json"
    for text in ("[1, 2]", "{", '{"!!": "AAAA"}', '{"AAAA": 5}'):
        bad_list.write_text(text)
        assert chaincut(QR, "--trust", bad_list).exit_code == 2, text
