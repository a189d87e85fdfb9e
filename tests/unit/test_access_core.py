"""The pieces under access control: roles, password hashing, secrets, the audit chain."""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chaincut.domain.access import ROLE_PERMISSIONS, Permission, Principal, PrincipalKind, Role, parse_roles
from chaincut.errors import InvalidInput
from chaincut.security.audit_chain import GENESIS, entry_mac, verify_chain
from chaincut.security.credentials import digest, new_secret
from chaincut.security.device_tokens import DeviceClaims, DeviceTokens, derive_key
from chaincut.security.passwords import PasswordVault

KEY = bytes(range(32))


def test_roles_parse_and_unknown_roles_are_named() -> None:
    assert parse_roles("tracer, supervisor") == {Role.TRACER, Role.SUPERVISOR}
    with pytest.raises(ValueError, match="unknown role wizard"):
        parse_roles("tracer,wizard")


def test_least_privilege_between_roles() -> None:
    # Only tracers and supervisors ever read whereabouts; administrators read no personal data.
    readers = {r for r, perms in ROLE_PERMISSIONS.items() if Permission.WHEREABOUTS_READ in perms}
    assert readers == {Role.TRACER, Role.SUPERVISOR}
    admin = ROLE_PERMISSIONS[Role.ADMINISTRATOR]
    assert not admin & {Permission.PEOPLE_READ, Permission.WHEREABOUTS_READ, Permission.EXPORTS_REQUEST}
    # Supervisors alone approve exports and change a person's status by hand.
    for perm in (Permission.EXPORTS_APPROVE, Permission.STATUS_CHANGE):
        assert {r for r, p in ROLE_PERMISSIONS.items() if perm in p} == {Role.SUPERVISOR}
    # Outbreak analytics over every case: epidemiologists and supervisors, not tracers (issue 11).
    analysts = {r for r, perms in ROLE_PERMISSIONS.items() if Permission.ANALYTICS_READ in perms}
    assert analysts == {Role.EPIDEMIOLOGIST, Role.SUPERVISOR}


def test_principals_hold_their_kinds_permissions() -> None:
    anonymous = Principal.anonymous()
    assert anonymous.may(Permission.PUBLIC) and not anonymous.may(Permission.SIGNED_IN)
    resident = Principal(PrincipalKind.RESIDENT, "resident:x", person_id=1)
    assert resident.may(Permission.CHECKIN) and not resident.may(Permission.PEOPLE_READ)
    staff = Principal(PrincipalKind.STAFF, "staff:a", staff_id=1, roles=frozenset({Role.EPIDEMIOLOGIST}))
    assert staff.may(Permission.CASES_READ) and not staff.may(Permission.WHEREABOUTS_READ)
    assert staff.role_names == "epidemiologist"


def test_passwords_are_argon2id_and_checked() -> None:
    vault = PasswordVault(time_cost=1, memory_kib=1024)
    stored = vault.hash("a long enough password")
    assert stored.startswith("$argon2id$")
    assert "a long enough password" not in stored
    assert vault.verify(stored, "a long enough password")
    assert not vault.verify(stored, "a long enough passwore")
    assert not vault.verify(None, "a long enough password")  # unknown user: same work, no match
    assert not vault.verify("not a hash", "whatever")
    with pytest.raises(InvalidInput) as caught:
        vault.hash("short")
    assert caught.value.field == "password"


def test_secrets_are_random_prefixed_and_stored_as_digests() -> None:
    one, two = new_secret("resident"), new_secret("resident")
    assert one != two and one.startswith("ccr_") and len(one) > 40
    assert digest(one) != digest(two) and len(digest(one)) == 32


def _chain(n: int) -> list[tuple[int, bytes, bytes, dict[str, Any]]]:
    entries = []
    prev = GENESIS
    for seq in range(1, n + 1):
        fields = {"seq": seq, "actor": f"staff:s{seq % 3}", "action": "cases.read", "record": f"C{seq}"}
        mac = entry_mac(KEY, prev, fields)
        entries.append((seq, prev, mac, fields))
        prev = mac
    return entries


def _head(entries: list[tuple[int, bytes, bytes, dict[str, Any]]]) -> tuple[int, bytes]:
    return entries[-1][0], entries[-1][2]


def test_an_intact_chain_verifies() -> None:
    entries = _chain(20)
    report = verify_chain(KEY, entries, head=_head(entries))
    assert report.intact and report.checked == 20 and report.last_seq == 20


def test_each_kind_of_tampering_is_found_where_it_happened() -> None:
    entries = _chain(10)
    head = _head(entries)

    altered = list(entries)
    seq, prev, mac, fields = altered[4]
    altered[4] = (seq, prev, mac, {**fields, "record": "C999"})
    assert [b.seq for b in verify_chain(KEY, altered, head=head).breaks] == [5]

    deleted = entries[:3] + entries[4:]
    report = verify_chain(KEY, deleted, head=head)
    assert report.breaks[0].seq == 5 and "4" in report.breaks[0].problem

    forged_fields = {"seq": 4, "actor": "staff:mallory", "action": "cases.read", "record": "C4"}
    forged = (4, entries[2][2], entry_mac(b"another key".ljust(32, b"."), entries[2][2], forged_fields))
    inserted = [*entries[:3], (*forged, forged_fields), *entries[4:]]
    assert verify_chain(KEY, inserted, head=head).breaks[0].seq == 4

    swapped = [*entries[:2], entries[3], entries[2], *entries[4:]]
    assert not verify_chain(KEY, swapped, head=head).intact

    cut = entries[:7]
    report = verify_chain(KEY, cut, head=head)
    assert [b.seq for b in report.breaks] == [8] and "8..10" in report.breaks[0].problem


def test_without_the_key_the_chain_cannot_be_rebuilt() -> None:
    entries = _chain(5)
    # Someone who alters entry 3 and recomputes the rest with a key of their own is still caught.
    wrong = os.urandom(32)
    rebuilt = entries[:2]
    prev = entries[1][2]
    for seq, _p, _m, fields in entries[2:]:
        fields = {**fields, "record": "altered"} if seq == 3 else fields
        mac = entry_mac(wrong, prev, fields)
        rebuilt.append((seq, prev, mac, fields))
        prev = mac
    report = verify_chain(KEY, rebuilt, head=(5, prev))
    assert [b.seq for b in report.breaks][:1] == [3]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=11), min_size=1, max_size=4), st.data())
def test_any_edit_of_a_chain_is_found(positions: list[int], data: st.DataObject) -> None:
    entries = _chain(12)
    head = _head(entries)
    edited = list(entries)
    for i in positions:
        kind = data.draw(st.sampled_from(["alter", "drop", "duplicate"]))
        if i >= len(edited):
            continue
        if kind == "alter":
            seq, prev, mac, fields = edited[i]
            edited[i] = (seq, prev, mac, {**fields, "actor": "staff:someone-else"})
        elif kind == "drop":
            del edited[i]
        else:
            edited.insert(i, edited[i])
    if edited != entries:
        assert not verify_chain(KEY, edited, head=head).intact


def test_device_tokens_carry_their_claims_and_refuse_any_alteration() -> None:
    tokens = DeviceTokens(derive_key(KEY, "chaincut device tokens v1"))
    claims = DeviceClaims(7, "resident", 42, "abcdefghijklmnopqrstuvwxyz", "P0000042", 2_000_000_000)
    secret = tokens.issue(claims)
    assert secret.startswith("ccr_") and tokens.open(secret) == claims
    assert tokens.open(secret.replace("ccr_", "ccv_", 1)) is None  # a resident's token is no device's
    for i in range(4, len(secret)):
        flipped = secret[:i] + ("A" if secret[i] != "A" else "B") + secret[i + 1 :]
        opened = tokens.open(flipped)
        assert opened is None or opened == claims  # base64's spare bits may absorb a change
    other = DeviceTokens(derive_key(KEY, "another purpose"))
    assert other.open(secret) is None
    assert tokens.open("ccr_" + "x" * 500) is None and tokens.open("ccr_e30.") is None


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_any_text_opens_to_nothing_or_genuine_claims(text: str) -> None:
    tokens = DeviceTokens(derive_key(KEY, "chaincut device tokens v1"))
    assert tokens.open(text) is None
    assert tokens.open("ccr_" + text) is None
