"""A code fetched green, then its holder named a close contact: refused online and offline, on every backend.

Online, clearance reads the holder's current code at the moment of the scan; their outstanding
signed codes were revoked by id when their colour worsened, and the revoked ids travel in the
checkpoint bundle and in the signed, sequenced revocation list partners fetch. A bundle older
than the policy's maximum age is refused. Nothing is faked: real signed codes, the real
verifier, HTTP and the command line.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from fastapi.testclient import TestClient
from sqlalchemy import text
from typer.testing import CliRunner

from chaincut.api import create_app
from chaincut.bootstrap import Services
from chaincut.cli.app import app as chaincut_cli
from chaincut.clock import FixedClock
from chaincut.codes.issuance import ActiveSigner, build_claims, sign_code
from chaincut.codes.revocation_list import read_revocation_list, sign_revocation_list
from chaincut.codes.signed import SignedCodes
from chaincut.codes.signing_keys import new_dsc, new_root
from chaincut.codes.trust_list import ListedSigner, sign_trust_list
from chaincut.domain.access import Principal, Role
from chaincut.domain.health_codes import CodeReason, HealthCode
from chaincut.errors import InvalidInput, TrustListError
from chaincut.people import PersonDraft
from chaincut.tracing.cases import CaseDraft
from chaincut.whereabouts.retention import purge_expired
from support.auth import resident_headers, staff_headers

TODAY = date(2026, 11, 20)
CHECKPOINT = "shenzhen_bay"
OPERATOR = Principal.system("tests")
DOC = "M123456(7)"


@pytest.fixture
def client(services: Services, clock: FixedClock) -> Iterator[TestClient]:
    services.code_keys.init(OPERATOR)
    clock.advance(timedelta(hours=1))  # 13:00 in Hong Kong: the afternoon slot
    with TestClient(create_app(services)) as http:
        yield http


def _traveller(services: Services, http: TestClient) -> dict[str, str]:
    """T1, booked this afternoon with a negative PCR test, living with P9 (who will be a case)."""
    services.people.register(PersonDraft(ref="T1", id_document=DOC, household="H1"))
    services.people.register(PersonDraft(ref="P9", household="H1"))
    app = resident_headers(services, "T1")
    booked = http.post(
        "/border/bookings",
        headers=app,
        json={"request_id": "r-T1", "id_document": DOC, "day": TODAY.isoformat(), "checkpoint": CHECKPOINT,
              "slot": "afternoon"},
    )  # fmt: skip
    assert booked.status_code == 201, booked.text
    services.codes.record_test("T1", services.clock.now() - timedelta(hours=5), "pcr", "negative", "lab")
    return app


def _signed(http: TestClient, app: dict[str, str]) -> dict[str, Any]:
    signed = http.get("/me/code/signed", headers=app)
    assert signed.status_code == 200, signed.text
    body: dict[str, Any] = signed.json()
    return body


def _case_in_the_household(services: Services) -> None:
    services.cases.register(
        CaseDraft(
            "C1",
            "P9",
            "local",
            onset_on=date(2026, 11, 18),
            isolated_at=datetime(2026, 11, 19, 10, tzinfo=UTC),
        ),
        actor="tracer-1",
    )


def _officer(services: Services) -> dict[str, str]:
    return staff_headers(services, Role.BORDER_OFFICER, username="officer-1", purpose="checkpoint")


def _codes_of(decision: dict[str, Any]) -> set[str]:
    return {reason["code"] for reason in decision["reasons"]}


def _clear_offline(bundle: Path, log: Path, qr: str, now: datetime) -> Any:
    return CliRunner().invoke(
        chaincut_cli,
        ["border", "clear", "--bundle", str(bundle), "--log", str(log), "--json", qr],
        obj={"clock": FixedClock(now)},
    )


def test_a_green_code_fetched_before_the_holder_became_a_close_contact_is_refused_online_and_offline(
    services: Services, client: TestClient, tmp_path: Path
) -> None:
    app = _traveller(services, client)
    code = _signed(client, app)
    assert code["colour"] == "green"
    # Hours before it expires, a case in the household makes the traveller a close contact.
    _case_in_the_household(services)
    assert services.codes.current("T1").colour == "red"

    # Online: the holder's code now decides, and the code itself was revoked.
    online = client.post(
        "/border/clearances", headers=_officer(services), json={"qr": code["qr"], "checkpoint": CHECKPOINT}
    )
    assert online.status_code == 201, online.text
    decided = online.json()
    assert decided["cleared"] is False
    assert {"code_revoked", "colour_not_cleared"} <= _codes_of(decided)
    colour = next(r["text"] for r in decided["reasons"] if r["code"] == "colour_not_cleared")
    assert (
        colour.startswith("now red: close contact (household of a case)") and "the code shows green" in colour
    )
    assert decided["colour"] == "red"

    # Offline: a bundle synced now carries the revoked id, and the checkpoint refuses the code.
    synced = client.get(
        "/border/sync",
        headers=_officer(services),
        params={"checkpoint": CHECKPOINT, "day": TODAY.isoformat()},
    )
    assert synced.status_code == 200, synced.text
    document = synced.json()
    assert document["revoked_codes"] == {"HK": [code["code_id"]]}
    assert document["max_age_hours"] == services.policy.signed_codes.bundle_max_age_hours == 6
    bundle = tmp_path / "bundle.json"
    bundle.write_text(json.dumps(document))
    offline = _clear_offline(bundle, tmp_path / "log.jsonl", code["qr"], services.clock.now())
    assert offline.exit_code == 1, offline.output
    logged = json.loads(offline.stdout)
    assert not logged["cleared"] and "code_revoked" in {r["code"] for r in logged["reasons"]}

    # The traveller's data-access report shows the code, and that it was revoked.
    report = client.get("/people/T1/subject-access", headers=app)
    assert report.status_code == 200, report.text
    (held,) = report.json()["health_records"]["signed_codes"]
    assert held["code_id"] == code["code_id"] and held["revoked_at"] is not None

    # A fresh code shows red, and is refused for its colour, not as revoked.
    fresh = _signed(client, app)
    assert fresh["colour"] == "red"
    again = client.post(
        "/border/clearances", headers=_officer(services), json={"qr": fresh["qr"], "checkpoint": CHECKPOINT}
    )
    assert _codes_of(again.json()) == {"colour_not_cleared"}


def test_the_revocation_list_is_signed_sequenced_and_public(services: Services, client: TestClient) -> None:
    app = _traveller(services, client)
    first, second = _signed(client, app), _signed(client, app)
    empty = client.get("/codes/revocations")
    assert empty.status_code == 200 and empty.json()["sequence"] == 0 and empty.json()["revoked"] == {}
    _case_in_the_household(services)
    published = client.get("/codes/revocations")  # anonymous: code ids only
    assert published.status_code == 200
    own = services.code_keys.own_trust()
    assert own is not None
    root = own.root
    listed = read_revocation_list(published.text, root)
    assert (listed.issuer, listed.sequence) == ("HK", 1)
    assert set(listed.revoked) == {first["code_id"], second["code_id"]}
    assert listed.revoked[first["code_id"]] == datetime.fromisoformat(first["expires_at"])
    assert DOC not in published.text and "T1" not in published.text
    # Altered, it no longer verifies against the root.
    tampered = published.json()
    tampered["revoked"].pop(first["code_id"])
    with pytest.raises(TrustListError, match="code-revocation list signature does not match"):
        read_revocation_list(json.dumps(tampered), root)
    # Each revocation raises the sequence: a later worsening revokes the codes issued since.
    services.codes.set_override("T1", "amber", "reviewed by a supervisor", None, "sup-1")
    third = _signed(client, app)
    services.codes.clear_override("T1", "sup-1")
    assert services.codes.current("T1").colour == "red"
    assert read_revocation_list(client.get("/codes/revocations").text, root).sequence == 2
    assert third["code_id"] in read_revocation_list(client.get("/codes/revocations").text, root).revoked


def test_a_bundle_older_than_the_policys_maximum_age_is_refused(
    services: Services, client: TestClient, tmp_path: Path
) -> None:
    app = _traveller(services, client)
    code = _signed(client, app)
    bundle = tmp_path / "bundle.json"
    synced = services.clearances.bundle(OPERATOR, CHECKPOINT, TODAY)
    bundle.write_text(json.dumps(synced.to_dict()))
    log = tmp_path / "log.jsonl"
    at_limit = synced.generated_at + timedelta(hours=6)
    decided = _clear_offline(bundle, log, code["qr"], at_limit)  # 19:00: decided (the slot is over)
    assert json.loads(decided.stdout)["reasons"] == [
        {"code": "booking_other_slot", "text": json.loads(decided.stdout)["reasons"][0]["text"]}
    ]
    late = _clear_offline(bundle, tmp_path / "late.jsonl", code["qr"], at_limit + timedelta(seconds=1))
    assert late.exit_code == 1
    assert "the bundle was synced at 2026-11-20 13:00" in late.output
    assert "bundle_max_age_hours" in late.output and "sync again" in late.output
    assert not (tmp_path / "late.jsonl").exists()  # nothing decided, nothing logged
    with pytest.raises(InvalidInput) as caught:
        synced.check_age(at_limit + timedelta(seconds=1))
    assert (caught.value.code, caught.value.field) == ("bundle_too_old", "generated_at")


def test_a_code_signed_while_the_colour_worsened_is_recorded_revoked_and_signed_again(
    services: Services, client: TestClient
) -> None:
    _traveller(services, client)
    with services.store.read() as uow:
        person_id = uow.people.id_for_ref("T1")
    assert person_id is not None
    green = services.codes.own_code(person_id)

    class LateCodes:
        """The code service as a recompute racing the signing sees it: green read, red stored since."""

        def __init__(self) -> None:
            self.calls = 0

        def __getattr__(self, name: str) -> Any:
            return getattr(services.codes, name)

        def own_code(self, pid: int) -> HealthCode:
            self.calls += 1
            if self.calls == 1:
                services.codes.set_override("T1", "red", "positive test at a clinic", None, "sup-1")
                return green
            return services.codes.own_code(pid)

    signed = SignedCodes(services.store, LateCodes(), services.code_issuer, ("pcr",))  # type: ignore[arg-type]
    issued = signed.issue_for(person_id)
    assert issued.code.colour == "red"
    with services.store.read() as uow:
        handed_out = uow.issued_codes.get(issued.issued.code_id)
        revoked = uow.issued_codes.revoked_since(0)
    assert handed_out is not None and handed_out.revoked_at is None
    assert len(revoked) == 1 and issued.issued.code_id not in revoked  # the green one, never handed out


def test_expired_codes_are_purged_and_leave_the_list(
    services: Services, client: TestClient, clock: FixedClock
) -> None:
    app = _traveller(services, client)
    code = _signed(client, app)
    _case_in_the_household(services)
    expires = datetime.fromisoformat(code["expires_at"])
    clock.advance(expires - clock.now() + timedelta(minutes=59))
    assert code["code_id"] in services.code_revocations.revocation_list()["revoked"]  # type: ignore[operator]
    assert [
        r.deleted for r in purge_expired(services.store, services.policy, clock) if r.kind == "signed_codes"
    ] == [0]
    clock.advance(timedelta(minutes=2))  # past the expiry and the largest leeway a verifier may allow
    assert [
        r.deleted for r in purge_expired(services.store, services.policy, clock) if r.kind == "signed_codes"
    ] == [1]
    with services.store.read() as uow:
        assert uow.issued_codes.get(code["code_id"]) is None
    assert services.code_revocations.revoked_codes() == {"HK": frozenset()}


# --- a partner's revocations ---------------------------------------------------------------------------


class Macao:
    """A partner jurisdiction serving its trust list and its code-revocation list."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.root = new_root("MO", now)
        self.dsc = new_dsc(self.root, "MO", now, 1)
        self.revoked: dict[str, datetime] = {}
        self.sequence = 0

    def fetch(self, url: str) -> bytes:
        if url.endswith("/codes/revocations"):
            document = sign_revocation_list(
                issuer="MO", sequence=self.sequence, issued_at=self.now, revoked=self.revoked,
                root_key=self.root.private_key,
            )  # fmt: skip
        else:
            signer = ListedSigner(self.dsc.kid, self.dsc.certificate, "active")
            document = sign_trust_list(
                issuer="MO", sequence=1, issued_at=self.now, root_key=self.root.private_key,
                root=self.root.certificate, signers=[signer], revoked={},
            )  # fmt: skip
        return json.dumps(document).encode()

    def code(self, code_id: str, subject: str) -> str:
        reason = CodeReason("default", "green", "no risk found", None)
        claims = build_claims(
            HealthCode(1, "green", (reason,), None, self.now, "mo-1"),
            code_id=code_id,
            issuer="MO",
            subject=subject,
            name=None,
            last_negative_test_at=self.now - timedelta(hours=5),
            now=self.now,
            valid_hours=24,
        )
        return sign_code(
            claims, ActiveSigner(self.dsc.kid, self.dsc.private_key, self.now + timedelta(days=30))
        )


def test_a_partners_revoked_code_is_refused_online_and_offline(
    services: Services, client: TestClient, tmp_path: Path
) -> None:
    _traveller(services, client)
    macao = Macao(services.clock.now() - timedelta(minutes=5))
    services.code_partners._fetch = macao.fetch  # type: ignore[attr-defined]
    pem = macao.root.certificate.public_bytes(Encoding.PEM)
    added = services.code_partners.add("macao", "https://mo.example/codes/trust-list", pem, OPERATOR)
    assert added.revocations_url == "https://mo.example/codes/revocations"
    subject = services.subjects.subject_of(services.hasher.hash(DOC))
    good, bad = macao.code("mo-good", subject), macao.code("mo-bad", subject)
    macao.revoked, macao.sequence = {"mo-bad": macao.now + timedelta(hours=24)}, 1
    (outcome,) = services.code_partners.sync(OPERATOR)
    assert outcome.accepted and outcome.revocations_sequence == 1, outcome.revocations_reason

    # Online: the partner's code has no holder here; its colour and the partner's list decide.
    officer = Principal.system("officer-2")
    refused = services.clearances.clear(officer, bad, CHECKPOINT)
    assert "code_revoked" in refused.decision.reason_codes
    assert "on MO's revocation list (sequence 1)" in refused.decision.reasons[0].text
    # Offline: the bundle carries the partner's revoked ids too.
    synced = services.clearances.bundle(OPERATOR, CHECKPOINT, TODAY)
    assert synced.revoked_codes["MO"] == frozenset({"mo-bad"})
    bundle = tmp_path / "bundle.json"
    bundle.write_text(json.dumps(synced.to_dict()))
    offline = _clear_offline(bundle, tmp_path / "log.jsonl", bad, services.clock.now())
    assert offline.exit_code == 1 and "code_revoked" in offline.stdout
    cleared = _clear_offline(bundle, tmp_path / "log.jsonl", good, services.clock.now())
    assert cleared.exit_code == 0, cleared.output

    # An older list (a rollback) is refused and the one held kept; a gap is reported.
    macao.sequence = 0
    (rollback,) = services.code_partners.sync(OPERATOR)
    assert rollback.revocations_sequence == 1 and "rollback" in rollback.revocations_reason
    macao.sequence = 4
    (gap,) = services.code_partners.sync(OPERATOR)
    assert gap.revocations_sequence == 4
    assert "a gap: 2 list(s) since 1 never fetched" in gap.revocations_reason
    # A list signed by another root is refused.
    impostor = replace(macao.root, private_key=new_root("MO", macao.now).private_key)
    macao.root, macao.sequence = impostor, 5
    (forged,) = services.code_partners.sync(OPERATOR)
    assert forged.revocations_sequence == 4 and "signature does not match" in forged.revocations_reason


def test_a_code_just_past_expiry_but_inside_the_leeway_is_revoked_too(
    services: Services, client: TestClient, tmp_path: Path
) -> None:
    # A checkpoint accepts a code until exp plus its leeway (300 s): a code 60 s past exp is still
    # one a slow clock clears, so its holder turning red must revoke it as well.
    app = _traveller(services, client)
    code = _signed(client, app)
    expires = datetime.fromisoformat(code["expires_at"])
    assert isinstance(services.clock, FixedClock)
    services.clock.advance(expires - services.clock.now() + timedelta(seconds=60))
    services.people.register(PersonDraft(ref="P8", household="H1"))
    services.cases.register(
        CaseDraft("C8", "P8", "local", onset_on=services.clock.now().date(),
                  isolated_at=services.clock.now() - timedelta(minutes=30)),
        actor="tracer-1",
    )  # fmt: skip
    assert services.codes.current("T1").colour == "red"
    with services.store.read() as uow:
        record = uow.issued_codes.get(code["code_id"])
    assert record is not None and record.revoked_at is not None
    synced = services.clearances.bundle(OPERATOR, CHECKPOINT, services.clock.now().date())
    assert code["code_id"] in synced.revoked_codes["HK"]
    bundle = tmp_path / "bundle.json"
    bundle.write_text(json.dumps(synced.to_dict()))
    # A checkpoint whose clock runs two minutes behind still reads the code as valid, and refuses it.
    offline = _clear_offline(bundle, tmp_path / "log.jsonl", code["qr"], expires - timedelta(seconds=60))
    assert offline.exit_code == 1, offline.output
    assert "code_revoked" in {r["code"] for r in json.loads(offline.stdout)["reasons"]}


def test_a_partner_pinned_before_revocation_lists_has_its_list_fetched(
    services: Services, client: TestClient
) -> None:
    # Migration 0008 added the revocation list URL; a partner pinned before it has none stored.
    _traveller(services, client)
    macao = Macao(services.clock.now() - timedelta(minutes=5))
    services.code_partners._fetch = macao.fetch  # type: ignore[attr-defined]
    pem = macao.root.certificate.public_bytes(Encoding.PEM)
    services.code_partners.add("macao", "https://mo.example/codes/trust-list", pem, OPERATOR)
    with services.store.write() as uow:
        uow.connection.execute(text("UPDATE code_partners SET revocations_url = NULL"))
    subject = services.subjects.subject_of(services.hasher.hash(DOC))
    bad = macao.code("mo-bad", subject)
    macao.revoked, macao.sequence = {"mo-bad": macao.now + timedelta(hours=24)}, 1
    (outcome,) = services.code_partners.sync(OPERATOR)
    assert outcome.revocations_sequence == 1, outcome.revocations_reason
    refused = services.clearances.clear(Principal.system("officer-2"), bad, CHECKPOINT)
    assert "code_revoked" in refused.decision.reason_codes
