"""The audit trail: record who did what to which record and why, verify the chain, report on it."""

from __future__ import annotations

import contextlib
import hmac
import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypedDict

from chaincut.clock import Clock, from_epoch, to_epoch
from chaincut.domain.access import Principal
from chaincut.domain.audit import AuditEvent, AuditFlag, AuditRecord
from chaincut.errors import NotFound
from chaincut.security.audit_chain import ChainBreak, ChainReport, verify_chain
from chaincut.store import Store, UnitOfWork

__all__ = ["ANCHOR_FILE", "AuditAnchor", "AuditTrail", "event_for"]

ANCHOR_FILE = "audit-anchor.json"  # in CHAINCUT_DATA_DIR: the head last verified, outside the database


@dataclass(frozen=True)
class AuditAnchor:
    """The chain's head as last verified, kept outside the database: its seq, MAC and when."""

    seq: int
    mac: bytes
    at: int  # epoch seconds

    def to_json(self) -> str:
        return json.dumps({"seq": self.seq, "mac": self.mac.hex(), "at": from_epoch(self.at).isoformat()})

    @classmethod
    def from_json(cls, text: str) -> AuditAnchor:
        """Parse an anchor file; ValueError when it is not one."""
        try:
            doc = json.loads(text)
            seq, mac, at = doc["seq"], bytes.fromhex(doc["mac"]), datetime.fromisoformat(doc["at"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError("not an audit anchor") from exc
        if not isinstance(seq, int) or seq < 1 or len(mac) != 32 or at.tzinfo is None:
            raise ValueError("not an audit anchor")
        return cls(seq, mac, to_epoch(at))

    @classmethod
    def read(cls, path: Path) -> AuditAnchor | None:
        """The anchor at ``path``; None when there is none yet, ValueError when it is unreadable."""
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ValueError(f"cannot read {path}") from exc
        return cls.from_json(text)

    def write(self, path: Path) -> None:
        """Replace the anchor at ``path`` atomically (a temporary file, then a rename), mode 0600."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(self.to_json())
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise


def event_for(
    principal: Principal,
    action: str,
    resource: str,
    *,
    record: str = "",
    purpose: str = "",
    outcome: str = "ok",
    flags: tuple[str, ...] = (),
    details: Mapping[str, str | int | bool | None] | None = None,
    subject_person_id: int | None = None,
) -> AuditEvent:
    """An audit event naming ``principal`` as the one who acted."""
    return AuditEvent(
        actor=principal.name,
        roles=principal.role_names,
        action=action,
        resource=resource,
        record=record,
        purpose=purpose,
        outcome=outcome,
        flags=flags,
        details=dict(details or {}),
        subject_person_id=subject_person_id,
    )


class AuditTrail:
    """Appends to the audit log, checks its chain, and answers who-did-what questions."""

    def __init__(self, store: Store, clock: Clock, *, anchor_path: Path | None = None) -> None:
        """``anchor_path``: where ``anchor`` writes and ``verify`` reads the head last verified."""
        self._store = store
        self._clock = clock
        self.anchor_path = anchor_path

    def record(self, *events: AuditEvent) -> None:
        """Append ``events`` in a transaction of their own (committed before this returns)."""
        with self._store.write() as uow:
            self.record_in(uow, *events)

    def record_in(self, uow: UnitOfWork, *events: AuditEvent) -> None:
        """Append ``events`` inside ``uow``'s transaction: they commit or vanish with its writes."""
        uow.audit.append(list(events), at=to_epoch(self._clock.now()))

    def note_policy(self, version: str, digest: str) -> bool:
        """Record the policy in force when it differs from the last one recorded; True if it did.

        Experts change the policy by deploying a new file; the first start under it is the
        change the audit log records (flagged ``policy_change``), with the version and digest.
        """
        if self._store.audit_key is None:
            return False
        with self._store.write() as uow:
            last = uow.audit.last_of("policy.activate")
            if last is not None and last.event.details.get("digest") == digest:
                return False
            event = AuditEvent(
                actor="system:policy",
                roles="system",
                action="policy.activate",
                resource="policy",
                record=version,
                flags=(AuditFlag.POLICY_CHANGE,),
                details={
                    "version": version,
                    "digest": digest,
                    "previous": None if last is None else str(last.event.details.get("version")),
                },
            )
            self.record_in(uow, event)
        return True

    def verify(self, anchor: Path | None = None) -> ChainReport:
        """Check every entry's MAC and link, and the head; the report says where the chain breaks.

        With an anchor file (``anchor``, else ``anchor_path``) the chain must also still hold
        the anchored entry with its MAC: someone who deletes the tail and rewrites the head in
        the database cannot move the anchor outside it.
        """
        key = self._store.audit_key
        assert key is not None
        path = anchor or self.anchor_path
        try:
            pinned = None if path is None else AuditAnchor.read(path)
        except ValueError:
            pinned, unreadable = None, True
        else:
            unreadable = False
        found: dict[int, bytes] = {}
        with self._store.read() as uow:
            report = verify_chain(key, _watch(uow.audit.chain(), pinned, found), head=uow.audit.head())
        extra: list[ChainBreak] = []
        if unreadable:
            extra.append(ChainBreak(0, f"the audit anchor {path} cannot be read"))
        elif pinned is not None:
            at = from_epoch(pinned.at).isoformat()
            mac = found.get(pinned.seq)
            if mac is None and report.last_seq < pinned.seq:
                extra.append(
                    ChainBreak(
                        report.last_seq + 1,
                        f"entries after #{report.last_seq} are missing: the anchor recorded at {at} "
                        f"names entry #{pinned.seq}",
                    )
                )
            elif mac is None or not hmac.compare_digest(mac, pinned.mac):
                extra.append(ChainBreak(pinned.seq, f"entry #{pinned.seq} no longer matches the anchor"))
        if not extra:
            return report
        return ChainReport(report.checked, report.last_seq, sorted([*report.breaks, *extra], key=_break_seq))

    def anchor(self, path: Path | None = None) -> AuditAnchor | None:
        """Write the chain's current head to ``path`` (else ``anchor_path``) for ``verify`` to check.

        Call it after a verify found the chain intact. None when the log is still empty.
        """
        target = path or self.anchor_path
        if target is None:
            raise ValueError("no path for the audit anchor")
        with self._store.read() as uow:
            head = uow.audit.head()
        if head is None:
            return None
        pinned = AuditAnchor(head[0], bytes(head[1]), to_epoch(self._clock.now()))
        pinned.write(target)
        return pinned

    def by_actor(
        self, actor: str, *, since: datetime | None = None, until: datetime | None = None, limit: int = 1000
    ) -> list[AuditRecord]:
        """What one staff member (``staff:<username>``) or other caller did."""
        with self._store.read() as uow:
            return uow.audit.find(actor=actor, **_window(since, until), limit=limit)

    def about_person(
        self,
        person_ref: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 1000,
    ) -> list[AuditRecord]:
        """Every recorded access to and change of one person's data."""
        with self._store.read() as uow:
            person_id = uow.people.id_for_ref(person_ref)
            if person_id is None:
                raise NotFound("no such person", field="person")
            return uow.audit.find(subject_person_id=person_id, **_window(since, until), limit=limit)

    def flagged(
        self, flag: str, *, since: datetime | None = None, until: datetime | None = None, limit: int = 1000
    ) -> list[AuditRecord]:
        """Entries with ``flag``, such as manual status changes."""
        with self._store.read() as uow:
            return uow.audit.find(flag=flag, **_window(since, until), limit=limit)


class _Window(TypedDict):
    since: int | None
    until: int | None


def _window(since: datetime | None, until: datetime | None) -> _Window:
    return {
        "since": to_epoch(since) if since else None,
        "until": to_epoch(until) if until else None,
    }


def _watch(
    entries: Iterable[tuple[int, bytes, bytes, Any]], pinned: AuditAnchor | None, found: dict[int, bytes]
) -> Iterator[tuple[int, bytes, bytes, Any]]:
    """Pass ``entries`` on, noting the MAC of the anchored one as it goes by."""
    for entry in entries:
        if pinned is not None and entry[0] == pinned.seq:
            found[entry[0]] = bytes(entry[2])
        yield entry


def _break_seq(b: ChainBreak) -> int:
    return b.seq
