"""``chaincut verify`` on chaincut health codes (``CC1:``): signed trust lists, mixed batches, images."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding
from typer.testing import CliRunner, Result

from chaincut.cli import app
from chaincut.codes.issuance import ActiveSigner, build_claims, code_qr_png, sign_code
from chaincut.codes.signing_keys import KeyPair, format_kid, new_dsc, new_root
from chaincut.codes.trust_list import ListedSigner, sign_trust_list
from chaincut.domain.health_codes import CodeReason, HealthCode
from support.dcc import new_signer

NOW = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)
AT = "2026-11-20T13:00+08:00"


def _authority(issuer: str) -> tuple[KeyPair, KeyPair]:
    root = new_root(issuer, NOW)
    return root, new_dsc(root, issuer, NOW, 1)


HK_ROOT, HK_DSC = _authority("HK")
MO_ROOT, MO_DSC = _authority("MO")


def _code(issuer: str, dsc: KeyPair, name: str) -> str:
    reason = CodeReason("default", "green", "no risk found", None)
    claims = build_claims(
        HealthCode(1, "green", (reason,), None, NOW, "v"),
        code_id=f"{issuer}-{len(name)}",
        issuer=issuer,
        subject=None,
        name=name,
        last_negative_test_at=NOW - timedelta(hours=5),
        now=NOW,
        valid_hours=24,
    )
    return sign_code(claims, ActiveSigner(dsc.kid, dsc.private_key, NOW + timedelta(days=300)))


def _list(
    path: Path, issuer: str, root: KeyPair, signers: list[KeyPair], revoked: tuple[KeyPair, ...] = ()
) -> Path:
    document = sign_trust_list(
        issuer=issuer,
        sequence=3,
        issued_at=NOW,
        root_key=root.private_key,
        root=root.certificate,
        signers=[ListedSigner(s.kid, s.certificate, "active") for s in signers],
        revoked={r.kid: NOW for r in revoked},
    )
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def chaincut(*args: str | Path) -> Result:
    return CliRunner().invoke(app, ["verify", *(str(a) for a in args)])


def test_our_code_and_a_partners_code_verify_against_their_signed_lists(tmp_path: Path) -> None:
    hk = _list(tmp_path / "hk.json", "HK", HK_ROOT, [HK_DSC])
    mo = _list(tmp_path / "mo.json", "MO", MO_ROOT, [MO_DSC])
    for issuer, dsc in (("HK", HK_DSC), ("MO", MO_DSC)):
        result = chaincut(_code(issuer, dsc, "Chan"), "--trust", hk, "--trust", mo, "--at", AT, "--json")
        assert result.exit_code == 0, result.output
        out = json.loads(result.stdout)
        assert set(out) == {"valid", "payload", "reason", "checks"}
        assert out["payload"]["issuer"] == issuer and out["payload"]["colour"] == "green"
        assert "keyusage" not in out["checks"] and all(out["checks"].values())
    human = chaincut(_code("HK", HK_DSC, "Chan"), "--trust", hk, "--at", AT)
    assert human.exit_code == 0 and "VALID health code issued by HK" in human.stdout


def test_refusals_name_their_reason(tmp_path: Path) -> None:
    hk_only = _list(tmp_path / "hk.json", "HK", HK_ROOT, [HK_DSC])
    partner = chaincut(_code("MO", MO_DSC, "Wong"), "--trust", hk_only, "--at", AT, "--json")
    assert (
        partner.exit_code == 1 and json.loads(partner.stdout)["reason"] == "no trust list for the issuer 'MO'"
    )

    revoked = _list(tmp_path / "revoked.json", "HK", HK_ROOT, [], (HK_DSC,))
    out = json.loads(chaincut(_code("HK", HK_DSC, "Chan"), "--trust", revoked, "--at", AT, "--json").stdout)
    assert out["reason"].startswith(f"the signing key {format_kid(HK_DSC.kid)} was revoked by HK")

    expired = chaincut(_code("HK", HK_DSC, "Chan"), "--trust", hk_only, "--at", "2026-11-22T00:00Z", "--json")
    assert json.loads(expired.stdout)["reason"] == "the code has expired"

    tampered = _code("HK", HK_DSC, "Chan")
    tampered = tampered[:60] + ("A" if tampered[60] != "A" else "B") + tampered[61:]
    assert not json.loads(chaincut(tampered, "--trust", hk_only, "--at", AT, "--json").stdout)["valid"]

    forged = tmp_path / "forged.json"
    document = json.loads(hk_only.read_text())
    document["sequence"] = 99
    forged.write_text(json.dumps(document))
    usage = chaincut(_code("HK", HK_DSC, "Chan"), "--trust", forged, "--at", AT)
    assert usage.exit_code == 2 and "signature" in usage.output


def test_a_batch_mixes_health_codes_and_eu_certificates(tmp_path: Path) -> None:
    hk = _list(tmp_path / "hk.json", "HK", HK_ROOT, [HK_DSC])
    dcc = new_signer()
    lines = [
        {"qr": _code("HK", HK_DSC, "Chan")},
        {
            "qr": dcc.issue(),
            "trust_cert": base64.b64encode(dcc.certificate.public_bytes(Encoding.DER)).decode(),
        },
        {"qr": "CC1:not base45!"},
        {"qr": "XX1:whatever"},
    ]
    batch = tmp_path / "batch.jsonl"
    batch.write_text("\n".join(json.dumps(line) for line in lines))
    result = chaincut("--batch", batch, "--trust", hk, "--at", AT)
    outs = [json.loads(line) for line in result.stdout.splitlines()]
    assert outs[0]["valid"] is True and outs[0]["payload"]["issuer"] == "HK"
    assert outs[1]["valid"] is True and outs[1]["payload"]["nam"]["fnt"] == "CHAN"  # the EU DCC, unchanged
    assert outs[-2]["checks"] == {"unprefix": True, "b45decode": False}
    assert outs[-1]["reason"].startswith("the QR text starts with neither 'CC1:'")
    assert result.exit_code == 1


def test_a_code_read_from_an_image(tmp_path: Path) -> None:
    hk = _list(tmp_path / "hk.json", "HK", HK_ROOT, [HK_DSC])
    image = tmp_path / "code.png"
    image.write_bytes(code_qr_png(_code("HK", HK_DSC, "陳大文")))
    result = chaincut("--image", image, "--trust", hk, "--at", AT, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["payload"]["name"] == "陳大文"
