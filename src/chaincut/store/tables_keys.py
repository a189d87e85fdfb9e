"""The tables of signed health codes: the authority's code-signing keys, its partners' trust lists
and code-revocation lists, and the codes it issued (so that they can be revoked by id)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, LargeBinary, String, Table, Text

from chaincut.store.metadata import Id, metadata

__all__ = [
    "code_partners",
    "code_revocation_state",
    "code_signing_keys",
    "code_trust_state",
    "issued_codes",
]

# The root (CSCA-like) key and the document signer keys (DSCs) it certifies. ``private_sealed`` is
# the private key's PEM sealed with the FieldCipher (field "code_signing_key"), so ``chaincut keys
# rotate`` re-seals it with the personal fields. ``status``: active (the one DSC that signs; the
# root is always active), retired (still in the trust list until ``trusted_until``), expired (out of
# the list: every code it signed has expired), revoked (out of the list at once, named as revoked).
code_signing_keys = Table(
    "code_signing_keys",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("kid", LargeBinary(8), nullable=False, unique=True),
    Column("role", String(8), nullable=False),  # root, dsc
    Column("status", String(16), nullable=False),
    Column("certificate", LargeBinary, nullable=False),  # DER
    Column("private_sealed", LargeBinary, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(80), nullable=False),
    Column("retired_at", BigInteger),
    Column("trusted_until", BigInteger),
    Column("revoked_at", BigInteger),
    Column("revoked_reason", String(300)),
)

# One row (id 1): the sequence number of the authority's published trust list, raised by every
# change to the keys it lists, so partners can refuse an older list (rollback).
code_trust_state = Table(
    "code_trust_state",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("sequence", BigInteger, nullable=False),
    Column("changed_at", BigInteger, nullable=False),
)

# Partner jurisdictions: their pinned root certificate and the last trust list accepted from them.
code_partners = Table(
    "code_partners",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("url", String(500), nullable=False),
    Column("root_certificate", LargeBinary, nullable=False),  # DER, pinned when the partner was added
    Column("added_at", BigInteger, nullable=False),
    Column("added_by", String(80), nullable=False),
    Column("trust_list", Text),  # the last accepted list, as received (JSON)
    Column("issuer", String(16)),
    Column("sequence", BigInteger),
    Column("synced_at", BigInteger),
    Column("last_attempt_at", BigInteger),
    Column("last_error", String(500)),
    # The partner's signed code-revocation list: where it is published, the last one accepted (JSON, as
    # received), its sequence (only grows) and when it was accepted.
    Column("revocations_url", String(500)),
    Column("revocation_list", Text),
    Column("revocations_sequence", BigInteger),
    Column("revocations_synced_at", BigInteger),
)

# Each signed code issued to a resident (GET /me/code/signed): its id, whose it is, when it was issued
# and expires, and when it was revoked (its holder's colour worsened). Nothing personal beyond the
# person id; a row is purged once its code has expired (retention), as nobody can use it then.
issued_codes = Table(
    "issued_codes",
    metadata,
    Column("code_id", String(64), primary_key=True),
    Column("person_id", Id, ForeignKey("people.id"), nullable=False),
    Column("issued_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("revoked_at", BigInteger),
    Index("ix_issued_codes_person_id", "person_id"),
    Index("ix_issued_codes_expires_at", "expires_at"),
)

# One row (id 1): the sequence number of the authority's published code-revocation list, raised in the
# transaction of every revocation, so partners can tell a newer list from an older one and see a gap.
code_revocation_state = Table(
    "code_revocation_state",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("sequence", BigInteger, nullable=False),
    Column("changed_at", BigInteger, nullable=False),
)
