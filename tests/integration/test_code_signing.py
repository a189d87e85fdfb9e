"""Signed health codes on every backend: keys (init, rotate, revoke), issuance, verification,
the published trust list, partners' lists (sync, rollback, foreign signers), rotation of the
sealed private keys, and the audit of every change."""

from __future__ import annotations

import base64
import json
import os
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.serialization import Encoding
from pydantic import SecretStr

from chaincut.bootstrap import Services, bootstrap
from chaincut.clock import FixedClock
from chaincut.codes.code_verify import CodeTrust, CodeVerifier
from chaincut.codes.issuance import build_claims, code_qr, code_qr_png
from chaincut.codes.partners import Partners
from chaincut.codes.signing_keys import format_kid, new_dsc, new_root
from chaincut.codes.trust_list import read_trust_list
from chaincut.domain.access import Principal
from chaincut.domain.health_codes import CodeReason, HealthCode, HealthCodeClaims
from chaincut.errors import Conflict, InvalidInput, NotFound, TrustListError
from chaincut.security import FieldCipher
from chaincut.security.identity import BorderSubjects
from chaincut.settings import Settings, load_secrets
from chaincut.store import tables as t
from chaincut.store.rotation import SEALED_COLUMNS, rotate_data_keys

ADMIN = Principal.system("keyadmin")


def green(now: datetime, until: datetime | None = None) -> HealthCode:
    reason = CodeReason(rule="default", colour="green", text="no risk found", until=until)
    return HealthCode(1, "green", (reason,), until, now, "2026.11-default")


def issue(
    svc: Services, *, name: str | None = "Chan Tai Man", hours: int = 24
) -> tuple[str, HealthCodeClaims]:
    now = svc.clock.now()
    claims = build_claims(
        green(now),
        code_id=f"code-{now.timestamp():.0f}-{hours}-{name}",
        issuer="HK",
        subject="c3ViamVjdC1pZC0xMjM0NQ",
        name=name,
        last_negative_test_at=now - timedelta(hours=20),
        now=now,
        valid_hours=hours,
    )
    return svc.code_issuer.issue(claims).text, claims


def test_init_issue_and_verify_our_own_code(services: Services) -> None:
    keys = services.code_keys.init(ADMIN)
    assert [(k.role, k.status) for k in keys] == [("root", "active"), ("dsc", "active")]
    text, claims = issue(services)
    assert text.startswith("CC1:")
    result = services.trusted_codes.verify(text, services.clock.now() + timedelta(hours=1))
    assert result.valid, result.reason
    assert result.claims == claims
    assert result.kid == keys[1].kid
    assert result.checks == dict.fromkeys(
        ("unprefix", "b45decode", "compression", "decode", "verify", "expirationcheck", "schemavalidation"),
        True,
    )
    assert "keyusage" not in result.checks
    assert result.payload["colour"] == "green" and result.payload["name"] == "Chan Tai Man"
    with pytest.raises(Conflict):
        services.code_keys.init(ADMIN)


def test_an_expired_code_is_refused(services: Services) -> None:
    services.code_keys.init(ADMIN)
    text, _ = issue(services)
    # Past its expiry by more than the clock leeway (CHAINCUT_CODE_LEEWAY_SECONDS, 300 s).
    expired_at = services.clock.now() + timedelta(hours=24)
    assert services.trusted_codes.verify(text, expired_at + services.settings.code_leeway).valid
    result = services.trusted_codes.verify(
        text, expired_at + services.settings.code_leeway + timedelta(seconds=1)
    )
    assert not result.valid
    assert result.reason == "the code has expired"
    assert result.checks["verify"] is True and result.checks["expirationcheck"] is False


def test_the_code_expires_when_its_colour_may_change(services: Services) -> None:
    services.code_keys.init(ADMIN)
    now = services.clock.now()
    claims = build_claims(
        green(now, now + timedelta(hours=3)),
        code_id="short",
        issuer="HK",
        subject=None,
        name=None,
        last_negative_test_at=None,
        now=now,
        valid_hours=services.policy.signed_codes.valid_hours,
    )
    assert claims.expires_at == now + timedelta(hours=3)
    issued = services.code_issuer.issue(claims)
    assert not services.trusted_codes.verify(issued.text, now + timedelta(hours=4)).valid


def test_rotation_keeps_old_codes_until_they_expire_and_revocation_stops_them(
    services: Services, clock: FixedClock
) -> None:
    first = services.code_keys.init(ADMIN)[1]
    old_text, _ = issue(services)
    second = services.code_keys.rotate(ADMIN)
    assert second.kid != first.kid and second.status == "active"
    new_text, _ = issue(services)
    at = clock.now() + timedelta(minutes=5)
    assert services.trusted_codes.verify(old_text, at).valid
    assert services.trusted_codes.verify(new_text, at).kid == second.kid
    listing = {k.kid: k for k in services.code_keys.list_keys()}
    assert listing[first.kid].status == "retired"
    assert listing[first.kid].trusted_until == clock.now() + timedelta(hours=24)

    document = services.code_keys.trust_list()
    assert set(document["signers"]) == {first.kid, second.kid}  # type: ignore[arg-type]

    revoked = services.code_keys.revoke(second.kid, "key file copied to a laptop", ADMIN)
    assert revoked.status == "revoked" and revoked.revoked_reason == "key file copied to a laptop"
    refused = services.trusted_codes.verify(new_text, at)
    assert not refused.valid
    assert refused.reason.startswith(f"the signing key {second.kid} was revoked by HK")
    # The revoked key was the active one: a new signer replaces it, and its codes verify.
    third_text, _ = issue(services, name="after revocation")
    assert services.trusted_codes.verify(third_text, at).valid
    document = services.code_keys.trust_list()
    assert second.kid not in document["signers"]  # type: ignore[operator]
    assert second.kid in document["revoked"]  # type: ignore[operator]

    # A day later the retired key's codes have all expired: it leaves the list, the sequence grows.
    sequence = document["sequence"]
    clock.advance(timedelta(hours=25))
    later = services.code_keys.trust_list()
    assert first.kid not in later["signers"]  # type: ignore[operator]
    assert later["sequence"] == sequence + 1  # type: ignore[operator]
    with pytest.raises(Conflict):
        services.code_keys.revoke(second.kid, "again", ADMIN)
    with pytest.raises(NotFound):
        services.code_keys.revoke("AAAAAAAAAAA=", "no such key", ADMIN)


def test_every_key_change_is_audited(services: Services) -> None:
    keys = services.code_keys.init(ADMIN)
    services.code_keys.rotate(ADMIN)
    services.code_keys.revoke(keys[1].kid, "retired key leaked", ADMIN)
    with services.db.engine.connect() as conn:
        rows = conn.execute(
            sa.select(t.audit_log.c.action, t.audit_log.c.actor, t.audit_log.c.record).where(
                t.audit_log.c.resource == "code_keys"
            )
        ).all()
    assert [(r.action, r.actor) for r in rows] == [
        ("codes.keys.init", "cli:keyadmin"),
        ("codes.keys.rotate", "cli:keyadmin"),
        ("codes.keys.revoke", "cli:keyadmin"),
    ]
    assert rows[2].record == keys[1].kid
    assert services.audit.verify().intact


def test_the_private_keys_are_sealed_and_rotate_with_the_data_keys(
    services: Services, settings: Settings, clock: FixedClock
) -> None:
    services.code_keys.init(ADMIN)
    text, _ = issue(services)
    assert "code_signing_keys.private_sealed" in SEALED_COLUMNS
    with services.db.engine.connect() as conn:
        blobs = [bytes(b) for b in conn.execute(sa.select(t.code_signing_keys.c.private_sealed)).scalars()]
    assert len(blobs) == 2 and all(b"PRIVATE KEY" not in b for b in blobs)
    assert {FieldCipher.key_of(b) for b in blobs} == {1}
    assert settings.data_keys is not None
    old = settings.data_keys.get_secret_value()
    new = base64.b64encode(os.urandom(32)).decode()
    rekeyed = bootstrap(settings.model_copy(update={"data_keys": SecretStr(f"2:{new},{old}")}), clock=clock)
    try:
        report = rotate_data_keys(rekeyed.store, clock)
        assert report.finished and report.values_resealed >= 2
    finally:
        rekeyed.close()
    with services.db.engine.connect() as conn:
        blobs = [bytes(b) for b in conn.execute(sa.select(t.code_signing_keys.c.private_sealed)).scalars()]
    assert {FieldCipher.key_of(b) for b in blobs} == {2}
    # Only the new key now: the signer still opens, signs, and its codes verify.
    alone = bootstrap(settings.model_copy(update={"data_keys": SecretStr(f"2:{new}")}), clock=clock)
    try:
        again, _ = issue(alone, name="after key rotation")
        assert alone.trusted_codes.verify(again, clock.now()).valid
        assert alone.trusted_codes.verify(text, clock.now()).valid
    finally:
        alone.close()


def test_the_trust_list_is_signed_by_the_root_and_refused_when_altered(services: Services) -> None:
    services.code_keys.init(ADMIN)
    document = services.code_keys.trust_list()
    trust = read_trust_list(json.dumps(document))
    assert trust.issuer == "HK" and len(trust.signers) == 1
    altered = dict(document, sequence=int(document["sequence"]) + 5)  # type: ignore[call-overload]
    with pytest.raises(TrustListError, match="signature"):
        read_trust_list(json.dumps(altered))
    stranger = new_root("HK", services.clock.now())
    with pytest.raises(TrustListError, match="pinned"):
        read_trust_list(json.dumps(document), stranger.certificate)


class FakePartner:
    """A partner authority's published list, as its server would answer."""

    def __init__(self, now: datetime, issuer: str = "MO") -> None:
        self.issuer = issuer
        self.root = new_root(issuer, now)
        self.now = now
        self.sequence = 1
        self.dsc = new_dsc(self.root, issuer, now, 1)
        self.extra: list = []
        self.fail = False

    def document(self) -> dict[str, object]:
        from chaincut.codes.trust_list import ListedSigner, sign_trust_list

        signers = [ListedSigner(self.dsc.kid, self.dsc.certificate, "active"), *self.extra]
        return sign_trust_list(
            issuer=self.issuer,
            sequence=self.sequence,
            issued_at=self.now,
            root_key=self.root.private_key,
            root=self.root.certificate,
            signers=signers,
            revoked={},
        )

    def fetch(self, url: str) -> bytes:
        if self.fail:
            raise TrustListError("fetching the trust list failed: ConnectError")
        return json.dumps(self.document()).encode()


def _partner_code(partner: FakePartner, signer_key: object, kid: bytes, now: datetime) -> str:
    from chaincut.codes.issuance import ActiveSigner, sign_code

    claims = build_claims(
        green(now),
        code_id="mo-1",
        issuer="MO",
        subject=None,
        name="Wong",
        last_negative_test_at=None,
        now=now,
        valid_hours=24,
    )
    return sign_code(claims, ActiveSigner(kid, signer_key, now + timedelta(days=30)))  # type: ignore[arg-type]


def test_partners_sync_verify_and_refuse_rollbacks_and_foreign_signers(services: Services) -> None:
    now = services.clock.now()
    partner = FakePartner(now)
    partners = Partners(services.store, services.clock, "HK", fetch=partner.fetch)
    services.code_partners._fetch = partner.fetch  # type: ignore[attr-defined]
    partners.add(
        "macao",
        "https://mo.example/codes/trust-list",
        partner.root.certificate.public_bytes(Encoding.PEM),
        ADMIN,
    )
    code = _partner_code(partner, partner.dsc.private_key, partner.dsc.kid, now)
    assert not services.trusted_codes.verify(code, now).valid  # nothing synced yet
    outcomes = services.code_partners.sync(ADMIN)
    assert [(o.name, o.accepted, o.sequence) for o in outcomes] == [("macao", True, 1)]
    result = services.trusted_codes.verify(code, now + timedelta(minutes=1))
    assert result.valid, result.reason
    assert result.issuer == "MO" and result.claims is not None and result.claims.name == "Wong"

    # A signer the partner's root did not certify: the whole list is refused, the old one kept.
    rogue_root = new_root("MO", now)
    rogue = new_dsc(rogue_root, "MO", now, 9)
    from chaincut.codes.trust_list import ListedSigner

    partner.sequence = 2
    partner.extra = [ListedSigner(rogue.kid, rogue.certificate, "active")]
    (outcome,) = services.code_partners.sync(ADMIN)
    assert not outcome.accepted and "not chained to MO's root" in outcome.reason
    assert outcome.sequence == 1
    rogue_code = _partner_code(partner, rogue.private_key, rogue.kid, now)
    refused = services.trusted_codes.verify(rogue_code, now)
    assert not refused.valid and refused.reason.startswith(f"unknown key id {format_kid(rogue.kid)}")
    assert services.trusted_codes.verify(code, now).valid

    # A code whose signer sits in a trust set under another root is refused for its chain.
    forged_trust = services.trusted_codes.trust().issuers["MO"]
    mixed = CodeVerifier(
        CodeTrust({"MO": type(forged_trust)("MO", forged_trust.root, {rogue.kid: rogue.certificate})})
    )
    assert "not chained to MO's pinned root" in mixed.verify(rogue_code, now).reason

    # An older sequence (a rollback) is refused; an unreachable partner keeps its list too.
    partner.extra, partner.sequence = [], 3
    assert services.code_partners.sync(ADMIN)[0].accepted
    partner.sequence = 2
    (rollback,) = services.code_partners.sync(ADMIN)
    assert not rollback.accepted and "rollback" in rollback.reason and rollback.sequence == 3
    partner.fail = True
    (down,) = services.code_partners.sync(ADMIN)
    assert not down.accepted and "ConnectError" in down.reason
    (info,) = services.code_partners.list_partners()
    assert info.sequence == 3 and info.last_error is not None and info.signers == 1
    assert services.trusted_codes.verify(code, now).valid


def test_a_partner_list_claiming_our_own_issuer_is_refused(services: Services) -> None:
    services.code_keys.init(ADMIN)
    impostor = FakePartner(services.clock.now(), issuer="HK")
    partners = Partners(services.store, services.clock, "HK", fetch=impostor.fetch)
    partners.add(
        "impostor", "https://x.example/t", impostor.root.certificate.public_bytes(Encoding.PEM), ADMIN
    )
    (outcome,) = partners.sync(ADMIN)
    assert not outcome.accepted and "our own issuer" in outcome.reason
    assert [t.issuer for t in partners.trusts()] == []


def test_an_unconfigured_store_has_no_signer(services: Services) -> None:
    with pytest.raises(NotFound):
        issue(services)
    with pytest.raises(NotFound):
        services.code_keys.trust_list()
    assert not services.trusted_codes.verify("CC1:6BF", services.clock.now()).valid


def test_the_qr_png_is_alphanumeric_and_decodes_back(services: Services) -> None:
    import io

    import zxingcpp
    from PIL import Image

    services.code_keys.init(ADMIN)
    text, _ = issue(services)
    symbol = code_qr(text)
    assert (symbol.mode, symbol.error) == ("alphanumeric", "Q")
    with pytest.raises(ValueError):  # a text outside the alphanumeric alphabet is refused, not re-moded
        code_qr(text.lower())
    with Image.open(io.BytesIO(code_qr_png(text))) as image:
        found = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    assert [f.text for f in found] == [text]
    assert found[0].ec_level == "Q"


def test_keys_backup_covers_the_tables() -> None:
    names = {table.name for table in t.metadata.sorted_tables}
    assert {"code_signing_keys", "code_trust_state", "code_partners"} <= names


def test_claims_for_a_person_carry_their_border_subject_and_expire_on_policy(services: Services) -> None:
    services.code_keys.init(ADMIN)
    now = services.clock.now()
    id_hash = services.hasher.hash("A123456(3)")
    claims = services.code_issuer.claims_for(
        green(now),
        name="Chan Tai Man",
        id_document_hash=id_hash,
        last_negative_test_at=now - timedelta(hours=30),
    )
    subjects = BorderSubjects(load_secrets(services.settings).identity_hash_key)
    assert claims.subject == subjects.subject_of(id_hash)
    assert claims.issuer == "HK" and claims.colour == "green" and claims.reasons == ("no risk found",)
    assert claims.expires_at - claims.issued_at == timedelta(hours=services.policy.signed_codes.valid_hours)
    assert len(claims.code_id) == 22
    other = services.code_issuer.claims_for(
        green(now), name=None, id_document_hash=None, last_negative_test_at=None
    )
    assert other.subject is None and other.code_id != claims.code_id
    issued = services.code_issuer.issue(claims)
    assert issued.code_id == claims.code_id and issued.expires_at == claims.expires_at
    verified = services.trusted_codes.verify(issued.text, now)
    assert verified.valid and verified.claims == claims
    with pytest.raises(InvalidInput):
        services.code_issuer.issue(replace(claims, issuer="MO"))
    with pytest.raises(InvalidInput):
        services.code_issuer.issue(replace(claims, name="x" * 500))
