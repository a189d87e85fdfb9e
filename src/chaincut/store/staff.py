"""Staff accounts, bearer tokens and web sessions in the store.

Passwords are kept only as Argon2 hashes, tokens and session ids only as
their SHA-256 (chaincut.security); nothing here can be turned back into a
credential.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from chaincut.domain.access import Role, parse_roles
from chaincut.errors import Conflict
from chaincut.store.tables import (
    api_tokens,
    people,
    revocation_head,
    session_purposes,
    staff,
    venues,
    web_sessions,
)

__all__ = [
    "CredentialRow",
    "Revocations",
    "SessionRepository",
    "SessionRow",
    "StaffRecord",
    "StaffRepository",
    "TokenRepository",
]


@dataclass(frozen=True)
class StaffRecord:
    """One staff account; instants are epoch seconds (UTC)."""

    id: int
    username: str
    roles: frozenset[Role]
    disabled: bool
    failed_logins: int
    locked_until: int | None
    created_at: int
    created_by: str
    password_hash: str
    language: str | None = None  # the pages' language they chose (None: their browser's)

    def locked_at(self, now: int) -> bool:
        return self.locked_until is not None and self.locked_until > now


def _record(r: Row[Any]) -> StaffRecord:
    return StaffRecord(
        id=r.id,
        username=r.username,
        roles=parse_roles(r.roles),
        disabled=bool(r.disabled),
        failed_logins=r.failed_logins,
        locked_until=r.locked_until,
        created_at=r.created_at,
        created_by=r.created_by,
        password_hash=r.password_hash,
        language=r.language,
    )


class StaffRepository:
    """Staff accounts: add, find, lock after failed sign-ins, disable."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, username: str, password_hash: str, roles: frozenset[Role], *, at: int, by: str) -> int:
        try:
            with self._conn.begin_nested():
                result = self._conn.execute(
                    insert(staff).values(
                        username=username,
                        password_hash=password_hash,
                        roles=",".join(sorted(r.value for r in roles)),
                        disabled=False,
                        failed_logins=0,
                        created_at=at,
                        created_by=by,
                    )
                )
        except IntegrityError as exc:
            raise Conflict(f"a staff account named {username!r} already exists", field="username") from exc
        key = result.inserted_primary_key
        assert key is not None
        return int(key[0])

    def get_by_username(self, username: str) -> StaffRecord | None:
        row = self._conn.execute(select(staff).where(staff.c.username == username)).first()
        return _record(row) if row else None

    def get(self, staff_id: int) -> StaffRecord | None:
        row = self._conn.execute(select(staff).where(staff.c.id == staff_id)).first()
        return _record(row) if row else None

    def list(self) -> list[StaffRecord]:
        return [_record(r) for r in self._conn.execute(select(staff).order_by(staff.c.username))]

    def ids_for(self, usernames: Sequence[str]) -> dict[str, int]:
        rows = self._conn.execute(select(staff.c.username, staff.c.id).where(staff.c.username.in_(usernames)))
        return {r.username: r.id for r in rows}

    def record_failure(self, staff_id: int, *, max_failures: int, lock_until: int) -> None:
        """Count a failed sign-in; at ``max_failures`` in a row, lock until ``lock_until``."""
        self._conn.execute(
            update(staff).where(staff.c.id == staff_id).values(failed_logins=staff.c.failed_logins + 1)
        )
        self._conn.execute(
            update(staff)
            .where(staff.c.id == staff_id, staff.c.failed_logins >= max_failures)
            .values(locked_until=lock_until, failed_logins=0)
        )

    def record_success(self, staff_id: int, *, password_hash: str | None = None) -> None:
        values: dict[str, Any] = {"failed_logins": 0, "locked_until": None}
        if password_hash is not None:
            values["password_hash"] = password_hash
        self._conn.execute(update(staff).where(staff.c.id == staff_id).values(**values))

    def set_disabled(self, staff_id: int, disabled: bool) -> None:
        self._conn.execute(update(staff).where(staff.c.id == staff_id).values(disabled=disabled))

    def set_roles(self, staff_id: int, roles: frozenset[Role]) -> None:
        value = ",".join(sorted(r.value for r in roles))
        self._conn.execute(update(staff).where(staff.c.id == staff_id).values(roles=value))

    def set_language(self, staff_id: int, language: str | None) -> None:
        self._conn.execute(update(staff).where(staff.c.id == staff_id).values(language=language))

    def set_password(self, staff_id: int, password_hash: str) -> None:
        self._conn.execute(update(staff).where(staff.c.id == staff_id).values(password_hash=password_hash))

    def count(self) -> int:
        return int(self._conn.execute(select(func.count()).select_from(staff)).scalar_one())


@dataclass(frozen=True)
class Revocations:
    """Tokens revoked since a worker last asked: device tokens by id, staff tokens by digest."""

    upto: int  # the last revocation number these include
    device_ids: tuple[int, ...]
    staff_digests: tuple[bytes, ...]


@dataclass(frozen=True)
class CredentialRow:
    """What a bearer token stands for, as stored."""

    token_id: int
    kind: str  # "staff", "resident", "venue"
    staff_id: int | None
    person_id: int | None
    venue_id: int | None
    expires_at: int | None
    public_id: str | None  # the resident's or venue's public id, for naming them in the audit log
    person_ref: str | None


_DEVICE_KINDS = ("resident", "venue")


class TokenRepository:
    """Bearer tokens, found by their digest; each revocation numbered in commit order."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(
        self,
        token_hash: bytes,
        kind: str,
        *,
        at: int,
        expires_at: int | None,
        staff_id: int | None = None,
        person_id: int | None = None,
        venue_id: int | None = None,
    ) -> int:
        result = self._conn.execute(
            insert(api_tokens).values(
                token_hash=token_hash,
                kind=kind,
                staff_id=staff_id,
                person_id=person_id,
                venue_id=venue_id,
                created_at=at,
                expires_at=expires_at,
            )
        )
        key = result.inserted_primary_key
        assert key is not None
        return int(key[0])

    def find(self, token_hash: bytes, *, now: int) -> CredentialRow | None:
        """The live (unrevoked, unexpired) token with this digest."""
        query = (
            select(
                api_tokens.c.id,
                api_tokens.c.kind,
                api_tokens.c.staff_id,
                api_tokens.c.person_id,
                api_tokens.c.venue_id,
                api_tokens.c.expires_at,
                people.c.public_id.label("person_public_id"),
                people.c.ref.label("person_ref"),
                venues.c.public_id.label("venue_public_id"),
            )
            .select_from(
                api_tokens.outerjoin(people, people.c.id == api_tokens.c.person_id).outerjoin(
                    venues, venues.c.id == api_tokens.c.venue_id
                )
            )
            .where(
                api_tokens.c.token_hash == token_hash,
                api_tokens.c.revoked_at.is_(None),
                or_(api_tokens.c.expires_at.is_(None), api_tokens.c.expires_at > now),
            )
        )
        row = self._conn.execute(query).first()
        if row is None:
            return None
        return CredentialRow(
            token_id=row.id,
            kind=row.kind,
            staff_id=row.staff_id,
            person_id=row.person_id,
            venue_id=row.venue_id,
            expires_at=row.expires_at,
            public_id=row.person_public_id or row.venue_public_id,
            person_ref=row.person_ref,
        )

    def set_hash(self, token_id: int, token_hash: bytes) -> None:
        """Store the digest of a token made after its row (a device token carries the row's id)."""
        self._conn.execute(
            update(api_tokens).where(api_tokens.c.id == token_id).values(token_hash=token_hash)
        )

    def revocations(self, *, after: int) -> Revocations:
        """The tokens revoked with a number above ``after``, up to the last number committed.

        The head is read first: every revocation numbered up to it has committed (numbers
        commit in order, see ``_next_revocation``), so the rows read next hold all of them,
        whatever the statement's snapshot. Those above the head are left for the next read.
        """
        upto = int(
            self._conn.execute(select(revocation_head.c.seq).where(revocation_head.c.id == 1)).scalar_one()
        )
        if upto <= after:
            return Revocations(upto=after, device_ids=(), staff_digests=())
        rows = self._conn.execute(
            select(api_tokens.c.id, api_tokens.c.kind, api_tokens.c.token_hash).where(
                api_tokens.c.revoked_seq > after, api_tokens.c.revoked_seq <= upto
            )
        ).all()
        return Revocations(
            upto=upto,
            device_ids=tuple(int(r.id) for r in rows if r.kind in _DEVICE_KINDS),
            staff_digests=tuple(bytes(r.token_hash) for r in rows if r.kind not in _DEVICE_KINDS),
        )

    def _next_revocation(self) -> int:
        """The next revocation number, taken in this transaction.

        The number is one counter row that each revoking transaction increments. On
        PostgreSQL the UPDATE holds that row's lock until the transaction ends, so a second
        revoker waits for the first to commit (or roll back) and then reads its number; on
        SQLite every write holds the store's write lock. Either way numbers commit in the
        order they are taken: a reader that sees number N committed also sees every number
        below N. A sequence or identity column would not do: on PostgreSQL a transaction that
        took 7 may commit after one that took 8, and a worker that had read 8 would skip 7.
        """
        query = (
            update(revocation_head)
            .where(revocation_head.c.id == 1)
            .values(seq=revocation_head.c.seq + 1)
            .returning(revocation_head.c.seq)
        )
        return int(self._conn.execute(query).scalar_one())

    def _revoke(self, *where: ColumnElement[bool], at: int) -> int:
        """Revoke the live tokens matching ``where`` under one new revocation number."""
        seq = self._next_revocation()
        result = self._conn.execute(
            update(api_tokens)
            .where(*where, api_tokens.c.revoked_at.is_(None))
            .values(revoked_at=at, revoked_seq=seq)
        )
        return int(result.rowcount)

    def revoke_for_venue(self, venue_id: int, *, at: int) -> int:
        return self._revoke(api_tokens.c.venue_id == venue_id, at=at)

    def revoke(self, token_hash: bytes, *, at: int) -> bool:
        return self._revoke(api_tokens.c.token_hash == token_hash, at=at) > 0

    def revoke_for_staff(self, staff_id: int, *, at: int) -> int:
        return self._revoke(api_tokens.c.staff_id == staff_id, at=at)

    def revoke_for_person(self, person_id: int, *, at: int) -> int:
        return self._revoke(api_tokens.c.person_id == person_id, at=at)


@dataclass(frozen=True)
class SessionRow:
    """A live web session."""

    session_id: int
    staff_id: int
    csrf_token: str
    expires_at: int


class SessionRepository:
    """Web sign-in sessions, found by the digest of the cookie's value."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, session_hash: bytes, staff_id: int, csrf_token: str, *, at: int, expires_at: int) -> None:
        self._conn.execute(
            insert(web_sessions).values(
                session_hash=session_hash,
                staff_id=staff_id,
                csrf_token=csrf_token,
                created_at=at,
                expires_at=expires_at,
            )
        )

    def find(self, session_hash: bytes, *, now: int) -> SessionRow | None:
        row = self._conn.execute(
            select(web_sessions).where(
                web_sessions.c.session_hash == session_hash,
                web_sessions.c.revoked_at.is_(None),
                web_sessions.c.expires_at > now,
            )
        ).first()
        if row is None:
            return None
        return SessionRow(row.id, row.staff_id, row.csrf_token, row.expires_at)

    def revoke(self, session_hash: bytes, *, at: int) -> None:
        self._conn.execute(
            update(web_sessions)
            .where(web_sessions.c.session_hash == session_hash, web_sessions.c.revoked_at.is_(None))
            .values(revoked_at=at)
        )

    def purpose(self, session_id: int, record: str) -> str | None:
        """The purpose the session's member stated for ``record`` ("cases/C-1"), if they have."""
        found = self._conn.execute(
            select(session_purposes.c.purpose).where(
                session_purposes.c.session_id == session_id, session_purposes.c.record == record
            )
        ).scalar_one_or_none()
        return None if found is None else str(found)

    def state_purpose(self, session_id: int, record: str, purpose: str, *, at: int) -> None:
        """Keep the purpose stated for ``record`` in this session (a new one replaces the last)."""
        self._conn.execute(
            delete(session_purposes).where(
                session_purposes.c.session_id == session_id, session_purposes.c.record == record
            )
        )
        try:
            with self._conn.begin_nested():  # a savepoint: a double submit racing this one wins
                self._conn.execute(
                    insert(session_purposes).values(
                        session_id=session_id, record=record, purpose=purpose, stated_at=at
                    )
                )
        except IntegrityError:
            pass  # the same session stated a purpose for the record at the same moment: it stands

    def revoke_for_staff(self, staff_id: int, *, at: int) -> None:
        self._conn.execute(
            update(web_sessions)
            .where(web_sessions.c.staff_id == staff_id, web_sessions.c.revoked_at.is_(None))
            .values(revoked_at=at)
        )
