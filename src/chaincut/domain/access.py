"""Who may do what: staff roles, the permissions each grants, and the caller of an operation.

Every operation chaincut offers declares one ``Permission``; a caller (a
``Principal``) holds permissions through its roles. Least privilege by
default: the administrator manages accounts and the audit log but reads no
whereabouts, and only tracers and supervisors ever see a person's movements.
Record-level rules (a tracer only for cases assigned to them, after stating a
purpose) sit on top of these, in ``chaincut.access``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

__all__ = [
    "ROLE_PERMISSIONS",
    "Permission",
    "Principal",
    "PrincipalKind",
    "Role",
    "parse_roles",
]


class Role(StrEnum):
    """A staff role at the health authority (or a partner agency)."""

    TRACER = "tracer"
    SUPERVISOR = "supervisor"
    EPIDEMIOLOGIST = "epidemiologist"
    POLICY_EDITOR = "policy_editor"
    BORDER_OFFICER = "border_officer"
    VENUE_OPERATOR = "venue_operator"
    ADMINISTRATOR = "administrator"


class Permission(StrEnum):
    """One kind of operation; each API route and command declares exactly one."""

    PUBLIC = "public"  # anyone, signed in or not: health checks, signing in
    SIGNED_IN = "signed_in"  # any authenticated caller: who am I, sign out
    STATUS_READ = "status.read"  # counts, no personal data
    PEOPLE_REGISTER = "people.register"
    PEOPLE_READ = "people.read"  # a person's details: purpose-bound
    PEOPLE_CORRECT = "people.correct"
    SUBJECT_ACCESS = "people.subject_access"  # everything held about one person
    RESIDENT_TOKENS = "people.tokens"  # issue a resident's app token
    CHECKIN = "checkins.create"
    VISITS_UPLOAD = "visits.upload"
    VENUES_REGISTER = "venues.register"
    VENUES_READ = "venues.read"
    VENUE_DEVICE_TOKENS = "venues.device_tokens"
    CASES_CREATE = "cases.create"
    CASES_READ = "cases.read"
    CASES_ASSIGN = "cases.assign"
    STATUS_CHANGE = "people.status_change"  # manual changes of a person's status: supervisors
    WHEREABOUTS_READ = "whereabouts.read"  # timelines and contacts: purpose-bound
    RISKY_VENUES_READ = "venues.risky"
    ORDERS_ISSUE = "orders.issue"
    ORDERS_READ = "orders.read"
    ORDERS_UPDATE = "orders.update"
    FOLLOW_UPS = "follow_ups.write"
    EXPORTS_REQUEST = "exports.request"
    EXPORTS_APPROVE = "exports.approve"
    RETENTION_RUN = "retention.run"
    USERS_MANAGE = "users.manage"
    AUDIT_READ = "audit.read"
    POLICY_EDIT = "policy.edit"  # upload versions of the policy and ask for their activation
    POLICY_READ = "policy.read"  # the policy in force with its sources, the versions, their diffs
    POLICY_APPROVE = "policy.approve"  # approve or refuse activating a version: a second person
    BORDER_BOOK = "border.book"  # a resident books or cancels their own crossing
    BORDER_READ = "border.read"  # the bookings at a checkpoint on a day: border officers
    BORDER_CLEAR = "border.clear"  # clear or refuse a traveller at a checkpoint; sync its booking list
    CODES_OWN = "codes.own"  # a resident's own health code and its signed QR
    CODES_READ = "codes.read"  # a person's health code and its history: purpose-bound
    HEALTH_RECORDS = "people.health_records"  # record tests, vaccinations and arrivals
    CODE_KEYS = "codes.keys"  # rotate or revoke code-signing keys, manage partner trust lists
    # Outbreak analytics over every case (curves, R_t, serial intervals): purpose-bound, audited.
    # Not a tracer's: a tracer reads only what their assigned cases open to them.
    ANALYTICS_READ = "analytics.read"
    # Inferred clusters and transmission chains: epidemiologists and supervisors see every one, a
    # tracer those holding a case assigned to them (RecordAccess.may_read_analytics_of).
    CLUSTERS_READ = "clusters.read"
    # Name a cluster, confirm or reject a membership, confirm a case's infector: audited.
    CLUSTERS_DECIDE = "clusters.decide"
    # Decentralised check-in: a tracer proposes a warning for a venue a case visited; another
    # supervisor publishes or rejects it (audited both).
    PRESENCE_WARN = "presence.warn"
    PRESENCE_PUBLISH = "presence.publish"


_P = Permission
_TRACING_DESK = frozenset(
    {
        _P.STATUS_READ,
        _P.PEOPLE_REGISTER,
        _P.PEOPLE_READ,
        _P.PEOPLE_CORRECT,
        _P.VENUES_READ,
        _P.CASES_CREATE,
        _P.CASES_READ,
        _P.WHEREABOUTS_READ,
        _P.RISKY_VENUES_READ,
        _P.ORDERS_ISSUE,
        _P.ORDERS_READ,
        _P.ORDERS_UPDATE,
        _P.FOLLOW_UPS,
        _P.EXPORTS_REQUEST,
        _P.CODES_READ,
        _P.HEALTH_RECORDS,
        _P.CLUSTERS_READ,
        _P.CLUSTERS_DECIDE,
        _P.PRESENCE_WARN,
    }
)

ROLE_PERMISSIONS: Mapping[Role, frozenset[Permission]] = {
    Role.TRACER: _TRACING_DESK,
    Role.SUPERVISOR: _TRACING_DESK
    # An app token acts as its person, and reads their access report: supervisors issue them.
    | {
        _P.CASES_ASSIGN,
        _P.STATUS_CHANGE,
        _P.EXPORTS_APPROVE,
        _P.SUBJECT_ACCESS,
        _P.RESIDENT_TOKENS,
        _P.ANALYTICS_READ,
        _P.POLICY_READ,
        _P.POLICY_APPROVE,
        _P.PRESENCE_PUBLISH,
    },
    # Epidemiologists see cases, where risk is and how the outbreak runs, not who went where.
    Role.EPIDEMIOLOGIST: frozenset(
        {
            _P.STATUS_READ,
            _P.CASES_READ,
            _P.RISKY_VENUES_READ,
            _P.VENUES_READ,
            _P.ANALYTICS_READ,
            _P.CLUSTERS_READ,
            _P.CLUSTERS_DECIDE,
        }
    ),
    Role.POLICY_EDITOR: frozenset({_P.STATUS_READ, _P.POLICY_EDIT, _P.POLICY_READ}),
    Role.BORDER_OFFICER: frozenset({_P.STATUS_READ, _P.BORDER_READ, _P.BORDER_CLEAR}),
    Role.VENUE_OPERATOR: frozenset(
        {_P.VENUES_REGISTER, _P.VENUES_READ, _P.VENUE_DEVICE_TOKENS, _P.STATUS_READ}
    ),
    # Administrators run the system; they do not read anyone's personal data.
    Role.ADMINISTRATOR: frozenset(
        {_P.STATUS_READ, _P.USERS_MANAGE, _P.AUDIT_READ, _P.RETENTION_RUN, _P.VENUES_READ, _P.CODE_KEYS}
    ),
}

# What a resident's app and a venue's device may do, always on their own records only.
_RESIDENT = frozenset(
    {_P.CHECKIN, _P.VISITS_UPLOAD, _P.SUBJECT_ACCESS, _P.RISKY_VENUES_READ, _P.BORDER_BOOK, _P.CODES_OWN}
)
_VENUE_DEVICE = frozenset({_P.CHECKIN, _P.VENUES_READ})


def parse_roles(text: str) -> frozenset[Role]:
    """Roles from a comma-separated list; unknown names raise ValueError naming them."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [n for n in names if n not in Role.__members__.values()]
    if unknown:
        known = ", ".join(r.value for r in Role)
        raise ValueError(f"unknown role {', '.join(unknown)}; expected one of {known}")
    return frozenset(Role(n) for n in names)


class PrincipalKind(StrEnum):
    """The kind of caller."""

    ANONYMOUS = "anonymous"
    STAFF = "staff"
    RESIDENT = "resident"
    VENUE_DEVICE = "venue_device"
    SYSTEM = "system"  # the command line on the server, run by an operator


@dataclass(frozen=True)
class Principal:
    """The caller of one operation, as the audit log names it."""

    kind: PrincipalKind
    name: str  # "staff:alice", "resident:<public id>", "venue:<public id>", "cli:<user>"
    staff_id: int | None = None
    person_id: int | None = None
    venue_id: int | None = None
    roles: frozenset[Role] = field(default_factory=frozenset)
    via: str = ""  # "token", "session", "cli"
    subject_ref: str | None = None  # a resident's own person ref
    token_id: int | None = None  # the token a resident's app or a venue's device presented

    @classmethod
    def anonymous(cls) -> Principal:
        return cls(PrincipalKind.ANONYMOUS, "anonymous")

    @classmethod
    def system(cls, who: str) -> Principal:
        """An operator at the server's command line: trusted, and audited by name."""
        return cls(PrincipalKind.SYSTEM, f"cli:{who}", via="cli")

    @property
    def authenticated(self) -> bool:
        return self.kind is not PrincipalKind.ANONYMOUS

    @property
    def username(self) -> str:
        """The name without its kind prefix (a staff member's username)."""
        return self.name.partition(":")[2] or self.name

    def permissions(self) -> frozenset[Permission]:
        if self.kind is PrincipalKind.STAFF:
            held: set[Permission] = set()
            for role in self.roles:
                held |= ROLE_PERMISSIONS[role]
            return frozenset(held)
        if self.kind is PrincipalKind.RESIDENT:
            return _RESIDENT
        if self.kind is PrincipalKind.VENUE_DEVICE:
            return _VENUE_DEVICE
        if self.kind is PrincipalKind.SYSTEM:
            return frozenset(Permission)
        return frozenset()

    def may(self, permission: Permission) -> bool:
        if permission is Permission.PUBLIC:
            return True
        if permission is Permission.SIGNED_IN:
            return self.authenticated
        return permission in self.permissions()

    def has_role(self, role: Role) -> bool:
        return self.kind is PrincipalKind.SYSTEM or role in self.roles

    @property
    def role_names(self) -> str:
        if self.kind is PrincipalKind.STAFF:
            return ",".join(sorted(r.value for r in self.roles))
        return self.kind.value
