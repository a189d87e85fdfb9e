"""Clock skew at the checkpoint: every code verifier reads ``iat`` and ``exp`` with the same leeway.

A checkpoint whose clock runs one second behind the server still accepts a code fetched at the
gate, online and offline, with our own codes and with EU DCCs; a code more than the leeway
early or late is refused; the leeway comes from ``CHAINCUT_CODE_LEEWAY_SECONDS`` (300 s).
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chaincut.bootstrap import Services, offline_verifier_factory
from chaincut.border import BookingRequest
from chaincut.border.testing import FakeCodeVerifier
from chaincut.cli.app import app as chaincut_cli
from chaincut.clock import FixedClock
from chaincut.codes.code_verify import CodeVerifier
from chaincut.codes.hcert import verify_hcert
from chaincut.codes.trust import TrustAnchors
from chaincut.domain.access import Principal
from chaincut.domain.health_codes import HealthCodeClaims
from chaincut.people import PersonDraft
from chaincut.settings import Settings
from support.dcc import ISSUED, new_signer

OPERATOR = Principal.system("tests")
CHECKPOINT = "shenzhen_bay"
BEHIND = timedelta(seconds=1)
LEEWAY = timedelta(seconds=300)


def _booked_traveller_code(services: Services) -> tuple[str, HealthCodeClaims]:
    """A booked, tested resident's code, signed now by the server: its QR text and claims."""
    services.code_keys.init(OPERATOR)
    assert isinstance(services.clock, FixedClock)
    services.clock.advance(timedelta(hours=1))  # 13:00 in Hong Kong: inside the afternoon slot
    now = services.clock.now()
    person = services.people.register(PersonDraft(ref="T1", id_document="M123456(7)"))
    assert person.id is not None
    day = now.astimezone(services.settings.zone).date()
    services.border.book(BookingRequest(person.id, "M123456(7)", day, CHECKPOINT, "afternoon", (), "r1"))
    services.codes.record_test("T1", now - timedelta(hours=5), "pcr", "negative", "lab")
    qr = services.signed_codes.issue_for(person.id).issued.text
    claims = services.trusted_codes.verify(qr, now).claims
    assert claims is not None and claims.issued_at == now
    return qr, claims


def test_a_checkpoint_one_second_behind_accepts_a_code_fetched_at_the_gate_online_and_offline(
    services: Services, clock: FixedClock, tmp_path: Path
) -> None:
    qr, _ = _booked_traveller_code(services)
    now = clock.now()
    # Online: the server's own verifier, at a scanner's time a second behind.
    online = services.trusted_codes.verify(qr, now - BEHIND)
    assert online.valid, online.reason
    # Offline: `chaincut border clear` on a checkpoint whose clock runs a second behind.
    bundle = tmp_path / "bundle.json"
    bundle.write_text(json.dumps(services.clearances.bundle(OPERATOR, CHECKPOINT, now.date()).to_dict()))
    cleared = CliRunner().invoke(
        chaincut_cli,
        ["border", "clear", "--bundle", str(bundle), "--log", str(tmp_path / "log.jsonl"), qr],
        obj={"clock": FixedClock(now - BEHIND)},
    )
    assert cleared.exit_code == 0, cleared.output
    assert "CLEARED" in cleared.output


def test_the_leeway_is_bounded_and_the_same_in_every_verifier(services: Services, clock: FixedClock) -> None:
    qr, claims = _booked_traveller_code(services)
    issued_at, expires_at = claims.issued_at, claims.expires_at
    offline = offline_verifier_factory(services.settings)(
        services.clearances.bundle(OPERATOR, CHECKPOINT, issued_at.date()).trust_list
    )
    verifiers = {"online": services.trusted_codes.verify, "offline": offline}
    for name, verify in verifiers.items():
        assert verify(qr, issued_at - LEEWAY).valid, name
        early = verify(qr, issued_at - LEEWAY - timedelta(seconds=1))
        assert early.reason == "the code was issued after the validation time", name
        assert verify(qr, expires_at + LEEWAY).valid, name
        assert verify(qr, expires_at + LEEWAY + timedelta(seconds=1)).reason == "the code has expired", name
    # The checkpoint test double reads time the same way.
    fake = FakeCodeVerifier({"QR": claims})
    assert fake("QR", issued_at - LEEWAY).valid and fake("QR", expires_at + LEEWAY).valid
    assert fake("QR", issued_at - LEEWAY - timedelta(seconds=1)).reason == early.reason
    assert fake("QR", expires_at + LEEWAY + timedelta(seconds=1)).reason == "the code has expired"


def test_an_eu_dcc_is_read_with_the_same_leeway() -> None:
    signer = new_signer()
    trust = TrustAnchors.of([signer.certificate])
    text = signer.issue(valid_days=1)
    assert verify_hcert(text, trust, ISSUED - BEHIND).valid
    assert verify_hcert(text, trust, ISSUED - LEEWAY).valid
    early = verify_hcert(text, trust, ISSUED - LEEWAY - timedelta(seconds=1))
    assert early.reason == "the certificate was issued after the validation time"
    assert not verify_hcert(text, trust, ISSUED - BEHIND, leeway=timedelta(0)).valid


def test_the_leeway_comes_from_the_settings(
    services: Services, clock: FixedClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    qr, _ = _booked_traveller_code(services)
    now = clock.now()
    strict = Settings(data_dir=tmp_path, code_leeway_seconds=0)
    offline = offline_verifier_factory(strict)(
        services.clearances.bundle(OPERATOR, CHECKPOINT, now.date()).trust_list
    )
    assert not offline(qr, now - BEHIND).valid and offline(qr, now).valid
    strict_online = CodeVerifier(services.trusted_codes.trust(), leeway=timedelta(0))
    assert not strict_online.verify(qr, now - BEHIND).valid
    # `chaincut verify` reads CHAINCUT_CODE_LEEWAY_SECONDS too.
    trust = tmp_path / "trust.json"
    trust.write_text(json.dumps(services.code_keys.trust_list()))
    at = (now - BEHIND).isoformat()
    runner = CliRunner()
    assert runner.invoke(chaincut_cli, ["verify", "--trust", str(trust), "--at", at, qr]).exit_code == 0
    monkeypatch.setenv("CHAINCUT_CODE_LEEWAY_SECONDS", "0")
    refused = runner.invoke(chaincut_cli, ["verify", "--trust", str(trust), "--at", at, "--json", qr])
    assert refused.exit_code == 1
    assert json.loads(refused.stdout)["reason"] == "the code was issued after the validation time"
    with pytest.raises(ValueError, match="code_leeway_seconds"):
        Settings(data_dir=tmp_path, code_leeway_seconds=3601)
