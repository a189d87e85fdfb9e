"""Changing the policy: versions uploaded and checked, activated only with a second person's approval.

Experts change the policy in one of two ways, and the last activation wins:

- **a file** (``CHAINCUT_POLICY_FILE``, else the shipped default): the first start under
  a file not recorded before puts it in force (``settle``), as deploying a new file
  always did;
- **the console**: a policy editor uploads a version, which is checked whole (every
  problem at its key path; nothing is stored while any remains) and kept as a draft;
  they ask for its activation with a reason, and a supervisor other than the one who
  uploaded or asked approves or refuses it, with a reason. Approval puts it in force
  at once; a restart keeps it in force until a new file is deployed.

Every step is audited; activations are flagged ``policy_change`` with the version,
its digest, the version it replaced and both people.
"""

from __future__ import annotations

from chaincut.access.audit import AuditTrail, event_for
from chaincut.access.four_eyes import require_someone_else
from chaincut.clock import Clock, to_epoch
from chaincut.domain.access import Permission, Principal
from chaincut.domain.audit import AuditEvent, AuditFlag
from chaincut.errors import Conflict, InvalidInput, NotFound, PermissionDenied, PolicyError
from chaincut.policy import Policy, parse_policy
from chaincut.store import Store, UnitOfWork
from chaincut.store.policy_versions import PolicyVersionRecord

__all__ = ["MAX_POLICY_BYTES", "PolicyChanges"]

MAX_POLICY_BYTES = 256 * 1024


def _reason(text: str, field: str) -> str:
    cleaned = " ".join(text.split())
    if not 5 <= len(cleaned) <= 500:
        raise InvalidInput("expected a reason of 5-500 characters", field=field)
    return cleaned


def _unknown_venue_types(uow: UnitOfWork, policy: Policy) -> list[str]:
    """Problems for each venue type the store holds venues of and ``policy`` lacks."""
    in_use = uow.venues.types_in_use()
    return [
        f"venue_types.{name}: missing; the store holds {in_use[name]:,} venue(s) of this type"
        for name in sorted(in_use)
        if name not in policy.venue_types
    ]


class PolicyChanges:
    """The versions of the policy, the one in force, and the four-eyes activation of a new one."""

    def __init__(self, store: Store, clock: Clock, audit: AuditTrail) -> None:
        self._store = store
        self._clock = clock
        self._audit = audit

    # --- at start -------------------------------------------------------------------------

    def settle(self, file_text: str, file_policy: Policy, *, source: str) -> Policy:
        """At a server's start: put its policy file in force when the store has not recorded it
        yet; answer the policy in force.

        ``source`` names the file for messages. A version activated in the console stays in
        force across restarts until a file with a new digest is deployed. A file lacking a
        venue type the store holds is refused before anything is written.
        """
        now = to_epoch(self._clock.now())
        with self._store.write() as uow:
            uow.policy_versions.lock()
            last = uow.policy_versions.last_file()
            if last is None or last.digest != file_policy.digest:
                problems = _unknown_venue_types(uow, file_policy)
                if problems:
                    raise PolicyError(
                        f"the store holds venues of {len(problems)} type(s) the policy lacks: "
                        f"add them to the policy's venue_types ({source}) before serving this store",
                        problems,
                    )
                previous = uow.policy_versions.in_force()
                record = uow.policy_versions.add(
                    version=file_policy.version,
                    digest=file_policy.digest,
                    text=file_text,
                    source="file",
                    uploaded_by="system:policy",
                    at=now,
                )
                uow.policy_versions.activate(record.id, at=now)
                noted = uow.audit.last_of("policy.activate") if self._store.audit_key is not None else None
                if self._store.audit_key is not None and (
                    noted is None or noted.event.details.get("digest") != file_policy.digest
                ):
                    self._audit.record_in(
                        uow,
                        AuditEvent(
                            actor="system:policy",
                            roles="system",
                            action="policy.activate",
                            resource="policy",
                            record=str(record.id),
                            flags=(AuditFlag.POLICY_CHANGE,),
                            details={
                                "version": file_policy.version,
                                "digest": file_policy.digest,
                                "previous": None if previous is None else previous.version,
                                "source": source,
                            },
                        ),
                    )
        return self.in_force_or(file_policy, source=source)

    def in_force_or(self, file_policy: Policy, *, source: str) -> Policy:
        """The policy in force as the store records it; ``file_policy`` when it records none.

        A stored version this chaincut no longer accepts (a key it now requires) is refused,
        saying how to move on: deploy a corrected file, which a server's start puts in force.
        """
        with self._store.read() as uow:
            record = uow.policy_versions.in_force()
        if record is None or record.digest == file_policy.digest:
            return file_policy
        try:
            return parse_policy(record.text, source=f"policy {record.version}")
        except PolicyError as exc:
            how = "a file" if record.source == "file" else f"in the console by {record.decided_by}"
            raise PolicyError(
                f"the policy in force, version {record.version} (activated {how}), no longer passes "
                f"this chaincut's checks: {exc.message}. Deploy a corrected policy file (now "
                f"{source}): a file with a new digest takes over when a server starts",
                exc.problems,
            ) from exc

    def in_force_digest(self) -> str | None:
        with self._store.read() as uow:
            return uow.policy_versions.in_force_digest()

    def in_force_policy(self) -> Policy | None:
        """The policy in force as the store records it (None before any server recorded one)."""
        with self._store.read() as uow:
            record = uow.policy_versions.in_force()
        return None if record is None else parse_policy(record.text, source=f"policy {record.version}")

    # --- reading --------------------------------------------------------------------------

    def in_force(self) -> PolicyVersionRecord | None:
        with self._store.read() as uow:
            return uow.policy_versions.in_force()

    def versions(self, *, limit: int = 50) -> list[PolicyVersionRecord]:
        """The latest versions, newest first."""
        with self._store.read() as uow:
            return uow.policy_versions.list(limit=limit)

    def get(self, version_id: int) -> PolicyVersionRecord:
        with self._store.read() as uow:
            record = uow.policy_versions.get(version_id)
        if record is None:
            raise NotFound("no such policy version", field="version_id")
        return record

    def pending(self) -> list[PolicyVersionRecord]:
        with self._store.read() as uow:
            return uow.policy_versions.pending()

    def parse(self, record: PolicyVersionRecord) -> Policy:
        """A stored version as a policy (it passed every check when it was kept)."""
        return parse_policy(record.text, source=f"policy {record.version}")

    def latest_case_refs(self, count: int) -> list[str]:
        """The cases registered last: a sample to see what a version would change."""
        with self._store.read() as uow:
            return uow.cases.latest_refs(count)

    # --- changing -------------------------------------------------------------------------

    def upload(self, principal: Principal, text: str) -> PolicyVersionRecord:
        """Check a policy text whole and keep it as a draft; PolicyError lists every problem."""
        if not principal.may(Permission.POLICY_EDIT):
            raise PermissionDenied("only a policy editor uploads a policy")
        if len(text.encode("utf-8")) > MAX_POLICY_BYTES:
            raise InvalidInput(f"expected a policy of at most {MAX_POLICY_BYTES // 1024} KiB", field="policy")
        if not text.strip():
            raise InvalidInput("expected the text of a policy file (TOML)", field="policy")
        text = text.replace("\r\n", "\n")  # a browser sends a textarea's lines with CRLF
        policy = parse_policy(text, source="the uploaded policy")
        with self._store.write() as uow:
            problems = _unknown_venue_types(uow, policy)
            if problems:
                raise PolicyError(f"the uploaded policy: {len(problems)} problem(s): {problems[0]}", problems)
            in_force = uow.policy_versions.in_force()
            if in_force is not None and in_force.digest == policy.digest:
                raise Conflict("this is the policy in force already", field="policy")
            record = uow.policy_versions.add(
                version=policy.version,
                digest=policy.digest,
                text=text,
                source="console",
                uploaded_by=principal.name,
                at=to_epoch(self._clock.now()),
            )
            self._audit.record_in(
                uow,
                event_for(
                    principal,
                    "policy.upload",
                    "policy",
                    record=str(record.id),
                    details={"version": policy.version, "digest": policy.digest},
                ),
            )
        return record

    def request(self, principal: Principal, version_id: int, reason: str) -> PolicyVersionRecord:
        """Ask a supervisor to activate a draft, saying why."""
        if not principal.may(Permission.POLICY_EDIT):
            raise PermissionDenied("only a policy editor asks to activate a policy")
        reason = _reason(reason, "reason")
        with self._store.write() as uow:
            record = uow.policy_versions.get(version_id)
            if record is None:
                raise NotFound("no such policy version", field="version_id")
            if not uow.policy_versions.request(
                version_id, by=principal.name, at=to_epoch(self._clock.now()), reason=reason
            ):
                raise Conflict(f"this version is {record.status}, not a draft", field="version_id")
            self._audit.record_in(
                uow,
                event_for(
                    principal,
                    "policy.request",
                    "policy",
                    record=str(version_id),
                    purpose=reason,
                    details={"version": record.version, "digest": record.digest},
                ),
            )
            updated = uow.policy_versions.get(version_id)
        assert updated is not None
        return updated

    def withdraw(self, principal: Principal, version_id: int) -> None:
        """Set a draft or a pending request aside: it can no longer be activated."""
        if not principal.may(Permission.POLICY_EDIT):
            raise PermissionDenied("only a policy editor withdraws a policy version")
        with self._store.write() as uow:
            record = uow.policy_versions.get(version_id)
            if record is None:
                raise NotFound("no such policy version", field="version_id")
            if not uow.policy_versions.withdraw(version_id):
                raise Conflict(f"this version is {record.status}; it cannot be withdrawn", field="version_id")
            self._audit.record_in(
                uow,
                event_for(
                    principal,
                    "policy.withdraw",
                    "policy",
                    record=str(version_id),
                    details={"version": record.version, "digest": record.digest},
                ),
            )

    def decide(self, principal: Principal, version_id: int, *, approve: bool, reason: str) -> Policy | None:
        """A supervisor's decision on a pending version; approval puts it in force and answers it.

        Nobody decides on a version they uploaded or asked to activate: four eyes.
        """
        if not principal.may(Permission.POLICY_APPROVE):
            raise PermissionDenied(
                "only a supervisor decides on activating a policy", code="supervisor_required"
            )
        reason = _reason(reason, "reason")
        now = to_epoch(self._clock.now())
        with self._store.write() as uow:
            uow.policy_versions.lock()
            record = uow.policy_versions.get(version_id)
            if record is None:
                raise NotFound("no such policy version", field="version_id")
            require_someone_else(
                principal,
                record.uploaded_by,
                record.requested_by,
                message="a policy must be activated by another person than the one who uploaded it or asked",
            )
            if record.status != "pending":
                raise Conflict(
                    f"this version is {record.status}, not awaiting a decision", field="version_id"
                )
            policy: Policy | None = None
            if approve:
                # Checked again: the store may hold venues of a type the version lacks by now.
                policy = parse_policy(record.text, source=f"policy {record.version}")
                problems = _unknown_venue_types(uow, policy)
                if problems:
                    raise PolicyError(f"policy {record.version}: {problems[0]}", problems)
            previous = uow.policy_versions.in_force()
            if not uow.policy_versions.decide(
                version_id, "approved" if approve else "rejected", by=principal.name, at=now, reason=reason
            ):
                raise Conflict("this version was decided already", field="version_id")
            if policy is None:
                self._audit.record_in(
                    uow,
                    event_for(
                        principal,
                        "policy.reject",
                        "policy",
                        record=str(version_id),
                        purpose=reason,
                        details={"version": record.version, "digest": record.digest},
                    ),
                )
                return None
            uow.policy_versions.activate(version_id, at=now)
            self._audit.record_in(
                uow,
                AuditEvent(
                    actor=principal.name,
                    roles=principal.role_names,
                    action="policy.activate",
                    resource="policy",
                    record=str(version_id),
                    purpose=reason,
                    flags=(AuditFlag.POLICY_CHANGE,),
                    details={
                        "version": record.version,
                        "digest": record.digest,
                        "previous": None if previous is None else previous.version,
                        "uploaded_by": record.uploaded_by,
                        "requested_by": record.requested_by,
                        "policy_version_id": version_id,
                    },
                ),
            )
        return policy
