"""Staff accounts and credentials: sign-in with lockout, bearer tokens, web sessions.

A failed sign-in says only that it failed, whether the username exists, the
password is wrong, or the account is locked or disabled, so that outsiders
learn nothing about which accounts exist. Each account locks for a while after
``login_max_failures`` failures in a row.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from chaincut.access.audit import AuditTrail, event_for
from chaincut.clock import Clock, from_epoch, to_epoch
from chaincut.domain.access import Principal, PrincipalKind, Role
from chaincut.domain.audit import AuditFlag
from chaincut.errors import InvalidInput, NotAuthenticated, NotFound
from chaincut.security.credentials import digest, new_secret
from chaincut.security.device_tokens import DeviceClaims, DeviceTokens
from chaincut.security.passwords import PasswordVault
from chaincut.settings import Settings
from chaincut.store import Store, UnitOfWork
from chaincut.store.staff import StaffRecord

__all__ = ["PURPOSE_MAX_CHARS", "USERNAME_PATTERN", "NewCredential", "StaffAccounts", "clean_purpose"]

USERNAME_PATTERN = re.compile(r"^[a-z][a-z0-9._-]{1,63}\Z")
PURPOSE_MAX_CHARS = 300  # as the API's purpose header
_SIGN_IN_FAILED = "sign-in failed: wrong username or password, or the account is locked or disabled"


# Crockford's base32: no I, L, O or U, so a code read aloud or copied by hand survives.
_CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CODE_SYMBOLS = 10  # 50 bits: guessing one in its minutes, at the redemption rate limit, is hopeless
_CODE_LOOKALIKES = str.maketrans({"O": "0", "I": "1", "L": "1", "-": None, " ": None})


def new_enrolment_code() -> str:
    """A fresh enrolment code as printed: ``ABCDE-FGHJK``."""
    symbols = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(_CODE_SYMBOLS))
    return f"{symbols[:5]}-{symbols[5:]}"


def normalise_enrolment_code(typed: str) -> str:
    """The code as issued, from what a person typed (any case, spaces, look-alike letters); "" if none."""
    symbols = typed.upper().translate(_CODE_LOOKALIKES)
    if len(symbols) != _CODE_SYMBOLS or any(c not in _CODE_ALPHABET for c in symbols):
        return ""
    return f"{symbols[:5]}-{symbols[5:]}"


@dataclass(frozen=True)
class NewCredential:
    """A secret to hand over once (it is not stored), and when it stops working."""

    secret: str
    expires_at: datetime | None
    csrf_token: str | None = None


class StaffAccounts:
    """Manages staff accounts and issues the credentials every caller signs in with."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        settings: Settings,
        vault: PasswordVault,
        audit: AuditTrail,
        device_tokens: DeviceTokens,
    ) -> None:
        self._device_tokens = device_tokens
        self._store = store
        self._clock = clock
        self._settings = settings
        self._vault = vault
        self._audit = audit

    # --- accounts ---------------------------------------------------------------------

    def add(self, username: str, password: str, roles: frozenset[Role], by: Principal) -> StaffRecord:
        if not USERNAME_PATTERN.match(username):
            raise InvalidInput(
                "expected a username of 2-64 lower-case letters, digits, '.', '_' or '-', "
                "starting with a letter",
                field="username",
            )
        if not roles:
            raise InvalidInput("expected at least one role", field="roles")
        hashed = self._vault.hash(password)
        now = to_epoch(self._clock.now())
        with self._store.write() as uow:
            staff_id = uow.staff.add(username, hashed, roles, at=now, by=by.name)
            self._audit.record_in(
                uow,
                event_for(
                    by,
                    "users.add",
                    "staff",
                    record=username,
                    flags=(AuditFlag.PERMISSION_CHANGE,),
                    details={"roles": ",".join(sorted(roles))},
                ),
            )
            record = uow.staff.get(staff_id)
        assert record is not None
        return record

    def list(self) -> list[StaffRecord]:
        with self._store.read() as uow:
            return uow.staff.list()

    def _existing(self, uow_staff: StaffRecord | None, username: str) -> StaffRecord:
        if uow_staff is None:
            raise NotFound(f"no staff account {username!r}", field="username")
        return uow_staff

    def disable(self, username: str, by: Principal, *, disabled: bool = True) -> StaffRecord:
        """Disable (or re-enable) an account; disabling also ends its tokens and sessions."""
        _not_oneself(by, username)
        now = to_epoch(self._clock.now())
        with self._store.write() as uow:
            record = self._existing(uow.staff.get_by_username(username), username)
            uow.staff.set_disabled(record.id, disabled)
            if disabled:
                uow.tokens.revoke_for_staff(record.id, at=now)
                uow.sessions.revoke_for_staff(record.id, at=now)
            action = "users.disable" if disabled else "users.enable"
            self._audit.record_in(
                uow, event_for(by, action, "staff", record=username, flags=(AuditFlag.PERMISSION_CHANGE,))
            )
            updated = uow.staff.get(record.id)
        assert updated is not None
        return updated

    def set_roles(self, username: str, roles: frozenset[Role], by: Principal) -> StaffRecord:
        if not roles:
            raise InvalidInput("expected at least one role", field="roles")
        _not_oneself(by, username)
        with self._store.write() as uow:
            record = self._existing(uow.staff.get_by_username(username), username)
            uow.staff.set_roles(record.id, roles)
            self._audit.record_in(
                uow,
                event_for(
                    by,
                    "users.roles",
                    "staff",
                    record=username,
                    flags=(AuditFlag.PERMISSION_CHANGE,),
                    details={"from": ",".join(sorted(record.roles)), "to": ",".join(sorted(roles))},
                ),
            )
            updated = uow.staff.get(record.id)
        assert updated is not None
        return updated

    # --- signing in -------------------------------------------------------------------

    def authenticate(self, username: str, password: str) -> StaffRecord:
        """The account, when the password is right and it is neither locked nor disabled."""
        now = to_epoch(self._clock.now())
        with self._store.read() as uow:
            record = uow.staff.get_by_username(username) if USERNAME_PATTERN.match(username) else None
        # Always pay for one Argon2 check, so timing does not tell which accounts exist.
        matches = self._vault.verify(record.password_hash if record else None, password)
        who = Principal(PrincipalKind.ANONYMOUS, f"staff:{username[:64]}" if record else "anonymous")
        usable = record is not None and not record.disabled and not record.locked_at(now)
        if record is None or not usable or not matches:
            with self._store.write() as uow:
                if record is not None and usable:
                    lock_until = now + self._settings.login_lockout_minutes * 60
                    uow.staff.record_failure(
                        record.id, max_failures=self._settings.login_max_failures, lock_until=lock_until
                    )
                self._audit.record_in(
                    uow,
                    event_for(who, "auth.sign_in", "staff", record=username[:64], outcome="denied"),
                )
            raise NotAuthenticated(_SIGN_IN_FAILED, code="sign_in_failed")
        assert record is not None
        rehash = self._vault.hash(password) if self._vault.needs_rehash(record.password_hash) else None
        with self._store.write() as uow:
            # Attempts made at the same moment may have locked or disabled it meanwhile.
            current = uow.staff.get(record.id)
            if current is None or current.disabled or current.locked_at(now):
                self._audit.record_in(
                    uow, event_for(who, "auth.sign_in", "staff", record=username[:64], outcome="denied")
                )
                refused = True
            else:
                uow.staff.record_success(record.id, password_hash=rehash)
                refused = False
        if refused:
            raise NotAuthenticated(_SIGN_IN_FAILED, code="sign_in_failed")
        return record

    def issue_staff_token(self, username: str, password: str) -> NewCredential:
        """Sign in for the API: a bearer token valid for ``staff_token_hours``."""
        record = self.authenticate(username, password)
        now = self._clock.now()
        expires = now + timedelta(hours=self._settings.staff_token_hours)
        secret = new_secret("staff")
        with self._store.write() as uow:
            uow.tokens.add(
                digest(secret), "staff", at=to_epoch(now), expires_at=to_epoch(expires), staff_id=record.id
            )
            self._audit.record_in(
                uow,
                event_for(
                    _staff_principal(record),
                    "auth.sign_in",
                    "staff",
                    record=username,
                    details={"via": "token"},
                ),
            )
        return NewCredential(secret, expires)

    def open_session(self, username: str, password: str) -> NewCredential:
        """Sign in on the web: a session id for a cookie, and the CSRF token its forms carry."""
        record = self.authenticate(username, password)
        now = self._clock.now()
        expires = now + timedelta(minutes=self._settings.session_minutes)
        secret, csrf = new_secret("session"), secrets.token_urlsafe(32)
        with self._store.write() as uow:
            uow.sessions.add(digest(secret), record.id, csrf, at=to_epoch(now), expires_at=to_epoch(expires))
            self._audit.record_in(
                uow,
                event_for(
                    _staff_principal(record),
                    "auth.sign_in",
                    "staff",
                    record=username,
                    details={"via": "session"},
                ),
            )
        return NewCredential(secret, expires, csrf)

    def language_of(self, staff_id: int) -> str | None:
        """The pages' language a staff member chose (None: their browser's)."""
        with self._store.read() as uow:
            record = uow.staff.get(staff_id)
        return None if record is None else record.language

    def choose_language(self, principal: Principal, language: str | None) -> None:
        """Keep a signed-in staff member's choice of the pages' language (a tag the pages know)."""
        if principal.staff_id is None:
            raise NotAuthenticated("only staff choose the pages' language")
        with self._store.write() as uow:
            uow.staff.set_language(principal.staff_id, language)

    def stated_purpose(self, session_id: int, record: str) -> str | None:
        """The purpose stated in this web session for ``record`` ("cases/C-1"), if one was."""
        with self._store.read() as uow:
            return uow.sessions.purpose(session_id, record)

    def state_purpose(self, session_id: int, record: str, purpose: str) -> str:
        """Keep why the session's member needs ``record``'s personal data; the purpose, as kept.

        Asked once per record and session by the pages, which then audit every access with it.
        """
        cleaned = clean_purpose(purpose)
        with self._store.write() as uow:
            uow.sessions.state_purpose(session_id, record, cleaned, at=to_epoch(self._clock.now()))
        return cleaned

    def close_session(self, secret: str) -> None:
        with self._store.write() as uow:
            uow.sessions.revoke(digest(secret), at=to_epoch(self._clock.now()))

    def revoke_token(self, secret: str) -> bool:
        with self._store.write() as uow:
            return uow.tokens.revoke(digest(secret), at=to_epoch(self._clock.now()))

    def issue_resident_token(self, person_ref: str, by: Principal) -> NewCredential:
        """A token for a resident's app: it checks in and uploads as that person only."""
        with self._store.write() as uow:
            person = uow.people.get_by_ref(person_ref)
            if person is None or person.id is None:
                raise NotFound("no such person", field="person")
            secret, expires = self._device_token(uow, "resident", person.id, person.public_id, person.ref)
            self._audit.record_in(
                uow,
                event_for(by, "tokens.resident", "people", record=person_ref, subject_person_id=person.id),
            )
        return NewCredential(secret, expires)

    def issue_enrolment_code(self, person_ref: str, by: Principal, *, purpose: str = "") -> NewCredential:
        """A one-time code for the person's phone to enrol with (``enrol``), valid for minutes.

        It is typed or scanned at a counter; only its hash is kept, and the issue is audited.
        """
        now = self._clock.now()
        expires = now + timedelta(minutes=self._settings.enrolment_minutes)
        code = new_enrolment_code()
        with self._store.write() as uow:
            person = uow.people.get_by_ref(person_ref)
            if person is None or person.id is None:
                raise NotFound("no such person", field="person")
            uow.enrolments.add(
                digest(code), person.id, by=by.name, at=to_epoch(now), expires_at=to_epoch(expires)
            )
            self._audit.record_in(
                uow,
                event_for(
                    by,
                    "enrolments.issue",
                    "people",
                    record=person_ref,
                    purpose=purpose,
                    subject_person_id=person.id,
                ),
            )
        return NewCredential(code, expires)

    def enrol(self, code: str) -> tuple[NewCredential, str]:
        """Trade an enrolment code, once and in time, for the app token of the person it names.

        Returns the token and the person's ref (the phone names its owner when it uploads).
        """
        normalised = normalise_enrolment_code(code)
        now = self._clock.now()
        with self._store.write() as uow:
            person_id = uow.enrolments.redeem(digest(normalised), at=to_epoch(now)) if normalised else None
            person = uow.people.get(person_id) if person_id is not None else None
            if person is None or person.id is None:
                raise InvalidInput(
                    "this code is not valid: it may have been used already or expired; ask for a new one",
                    field="code",
                )
            secret, expires = self._device_token(uow, "resident", person.id, person.public_id, person.ref)
            phone = Principal(PrincipalKind.RESIDENT, f"resident:{person.public_id}", person_id=person.id)
            self._audit.record_in(
                uow,
                event_for(
                    phone, "enrolments.redeem", "people", record=person.ref, subject_person_id=person.id
                ),
            )
        return NewCredential(secret, expires), person.ref

    def issue_venue_token(self, venue_ref: str, by: Principal) -> NewCredential:
        """A token for a venue's device (a kiosk or a taxi's tablet) at that venue only."""
        with self._store.write() as uow:
            venue = uow.venues.get_by_ref(venue_ref)
            if venue is None or venue.id is None:
                raise NotFound("no such venue", field="venue")
            secret, expires = self._device_token(uow, "venue", venue.id, venue.public_id, venue.ref)
            self._audit.record_in(uow, event_for(by, "tokens.venue", "venues", record=venue_ref))
        return NewCredential(secret, expires)

    def _device_token(
        self, uow: UnitOfWork, kind: str, subject_id: int, public_id: str, ref: str
    ) -> tuple[str, datetime]:
        now = self._clock.now()
        expires = now + timedelta(days=self._settings.device_token_days)
        owner = {"person_id": subject_id} if kind == "resident" else {"venue_id": subject_id}
        # The row first (a placeholder digest), as the token carries the row's id.
        token_id = uow.tokens.add(
            digest(new_secret(kind)), kind, at=to_epoch(now), expires_at=to_epoch(expires), **owner
        )
        claims = DeviceClaims(token_id, kind, subject_id, public_id, ref, to_epoch(expires))
        secret = self._device_tokens.issue(claims)
        uow.tokens.set_hash(token_id, digest(secret))
        return secret, expires

    def revoke_device_tokens(
        self, by: Principal, *, person_ref: str | None = None, venue_ref: str | None = None
    ) -> int:
        """End every token of a resident's apps or a venue's devices (a lost phone, a stolen kiosk)."""
        now = to_epoch(self._clock.now())
        with self._store.write() as uow:
            if person_ref is not None:
                person_id = uow.people.id_for_ref(person_ref)
                if person_id is None:
                    raise NotFound("no such person", field="person")
                ended = uow.tokens.revoke_for_person(person_id, at=now)
                event = event_for(
                    by,
                    "tokens.revoke",
                    "people",
                    record=person_ref,
                    subject_person_id=person_id,
                    details={"revoked": ended},
                )
            else:
                venue = uow.venues.get_by_ref(venue_ref or "")
                if venue is None or venue.id is None:
                    raise NotFound("no such venue", field="venue")
                ended = uow.tokens.revoke_for_venue(venue.id, at=now)
                event = event_for(by, "tokens.revoke", "venues", record=venue.ref, details={"revoked": ended})
            self._audit.record_in(uow, event)
        return ended


def clean_purpose(purpose: str) -> str:
    """A stated purpose as it is kept (spaces tidied), or InvalidInput when too short or too long."""
    cleaned = " ".join(purpose.split())
    if not 5 <= len(cleaned) <= PURPOSE_MAX_CHARS:
        raise InvalidInput(
            f"expected a purpose of 5-{PURPOSE_MAX_CHARS} characters", field="purpose", code="length"
        )
    return cleaned


def _not_oneself(by: Principal, username: str) -> None:
    # Another administrator changes one's own rights, so nobody locks the last one out by mistake.
    if by.kind is PrincipalKind.STAFF and by.name == f"staff:{username}":
        raise InvalidInput("another administrator must change your own account", field="username")


def _staff_principal(record: StaffRecord) -> Principal:
    return Principal(
        PrincipalKind.STAFF,
        f"staff:{record.username}",
        staff_id=record.id,
        roles=record.roles,
        via="password",
    )


def expiry(value: int | None) -> datetime | None:
    return from_epoch(value) if value is not None else None
