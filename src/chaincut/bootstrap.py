"""The composition root: settings -> adapters -> services. The only place that wires them."""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from secrets import token_hex
from typing import Protocol

from chaincut.access import (
    AuditTrail,
    ExportApprovals,
    PrincipalResolver,
    RateLimiter,
    RecordAccess,
    StaffAccounts,
)
from chaincut.access.assignments import CaseAssignments
from chaincut.access.audit import ANCHOR_FILE
from chaincut.access.policy_changes import PolicyChanges
from chaincut.access.rate_limit import StoredCounts
from chaincut.access.subject_access import SubjectAccess
from chaincut.analytics import ReproductionNumbers
from chaincut.analytics.chain_service import ChainService
from chaincut.analytics.cluster_service import ClusterService
from chaincut.analytics.curves import EpidemicCurves
from chaincut.analytics.serial_interval_service import SerialIntervals
from chaincut.analytics.situation_clusters import StoredClusters
from chaincut.analytics.situation_service import SituationReports
from chaincut.border import (
    BallotDraws,
    BookingService,
    ClearanceService,
    VerifierFactory,
)
from chaincut.clock import Clock, SystemClock
from chaincut.codes.checkpoint_trust import bundle_verifier, checkpoint_trust
from chaincut.codes.issuance import CodeIssuer
from chaincut.codes.key_service import CodeKeys
from chaincut.codes.partners import Partners, TrustedCodes
from chaincut.codes.revocations import CodeRevocations
from chaincut.codes.signed import SignedCodes
from chaincut.codes.status import HealthCodeService
from chaincut.errors import ConfigurationError
from chaincut.people import PeopleRegistry
from chaincut.policy import Policy, parse_policy, policy_text
from chaincut.presence.authority import PresenceAuthority
from chaincut.presence.bridge import PresenceBridge
from chaincut.presence.pages import PresenceCache
from chaincut.security import FieldCipher, IdentityHasher, PasswordVault
from chaincut.security.device_tokens import DeviceTokens, derive_key
from chaincut.security.identity import BorderSubjects
from chaincut.settings import Settings, load_secrets
from chaincut.store import (
    Database,
    ParquetArchive,
    PurgeRecord,
    Store,
    StoreUpgrade,
    check_halves,
    ensure_migrated,
    read_store_id,
    upgrade_store,
)
from chaincut.tracing.caseload import CaseloadService
from chaincut.tracing.cases import CaseRegistry
from chaincut.tracing.followups import FollowUpService
from chaincut.tracing.indicators import TracingIndicatorService
from chaincut.tracing.orders import OrderService
from chaincut.tracing.service import TracingService
from chaincut.venues.registry import VenueRegistry
from chaincut.venues.tokens import (
    VenueTokenSigner,
    VenueTokenVerifier,
    key_id_for,
    load_private_key_pem,
)
from chaincut.whereabouts.checkin import CheckInService
from chaincut.whereabouts.retention import purge_expired

__all__ = [
    "POLICY_POLL_SECONDS",
    "HoldsServices",
    "PolicyFollower",
    "Services",
    "ballot_seeds",
    "bootstrap",
    "db_upgrade",
    "offline_verifier_factory",
]


@dataclass
class Services:
    """Everything an entrypoint may call, wired to concrete adapters."""

    settings: Settings
    policy: Policy
    clock: Clock
    db: Database
    store: Store
    hasher: IdentityHasher
    people: PeopleRegistry
    venues: VenueRegistry
    checkins: CheckInService
    verifier: VenueTokenVerifier
    cases: CaseRegistry
    caseload: CaseloadService
    tracing_indicators: TracingIndicatorService
    tracing: TracingService
    orders: OrderService
    follow_ups: FollowUpService
    audit: AuditTrail
    accounts: StaffAccounts
    principals: PrincipalResolver
    records: RecordAccess
    assignments: CaseAssignments
    approvals: ExportApprovals
    rate_limits: RateLimiter
    subject_access: SubjectAccess
    border: BookingService
    clearances: ClearanceService
    draws: BallotDraws
    subjects: BorderSubjects
    code_keys: CodeKeys
    code_issuer: CodeIssuer
    code_partners: Partners
    trusted_codes: TrustedCodes
    codes: HealthCodeService
    signed_codes: SignedCodes
    code_revocations: CodeRevocations
    reproduction: ReproductionNumbers
    epidemic_curves: EpidemicCurves
    clusters: ClusterService
    chains: ChainService
    serial_intervals: SerialIntervals
    situation_reports: SituationReports
    policy_changes: PolicyChanges
    presence: PresenceAuthority
    presence_bridge: PresenceBridge
    wiring: _Wiring = field(repr=False)

    def close(self) -> None:
        self.db.dispose()

    def purge_expired(self) -> list[PurgeRecord]:
        """Delete what is past the policy's retention (``chaincut.whereabouts.retention``); this
        process then serves no purged warning to phones."""
        records = purge_expired(self.store, self.policy, self.clock)
        self.presence.forget_published()
        return records

    def under(self, policy: Policy) -> Services:
        """These services under another policy: the same adapters, caches and archive index.

        The border's quotas follow the policy at once, as at a start under it.
        """
        services = _wire(self.wiring, policy, self.tracing.under(policy))
        services.border.apply_policy_quotas()
        return services

    @property
    def policy_follower(self) -> PolicyFollower:
        return self.wiring.follower


def bootstrap(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    require_schema: bool = True,
    settle: bool = False,
) -> Services:
    """Wire chaincut for ``settings`` (read from the environment when None).

    With ``require_schema`` the database must already be migrated to this
    code's revision; otherwise StoreNotReady says to run ``chaincut db upgrade``.
    It must also hold no venue of a type the policy lacks; otherwise PolicyError
    lists every such type.

    The policy in force is the one the store records as activated last, else the policy
    file (``CHAINCUT_POLICY_FILE``, else the shipped default). With ``settle`` (a server
    starting) a policy file new to the store is put in force first (``PolicyChanges.settle``);
    a command never changes the policy in force.
    """
    settings = settings or Settings()
    clock = clock or SystemClock()
    file_text = policy_text(settings.policy_file)
    policy = parse_policy(file_text, source=str(settings.policy_file or "default policy"))
    secrets = load_secrets(settings)
    db = Database(settings.resolved_database_url())
    try:
        if require_schema:
            ensure_migrated(db)
        archive = _archive(settings, db)
    except Exception:
        db.dispose()
        raise
    cipher = FieldCipher(secrets.data_keys, secrets.current_data_key)
    store = Store(db, cipher, archive, secrets.audit_key)
    try:
        private_key = load_private_key_pem(secrets.venue_signing_key_pem)
    except ValueError as exc:
        raise ConfigurationError("the venue signing key is not a P-256 private key in PEM") from exc
    kid = key_id_for(private_key.public_key())
    audit = AuditTrail(store, clock, anchor_path=Path(settings.data_dir) / ANCHOR_FILE)
    device_tokens = DeviceTokens(derive_key(secrets.audit_key, "chaincut device tokens v1"))
    wiring = _Wiring(
        settings=settings,
        clock=clock,
        db=db,
        store=store,
        signer=VenueTokenSigner(private_key, kid),
        verifier=VenueTokenVerifier({kid: private_key.public_key()}),
        hasher=IdentityHasher(secrets.identity_hash_key),
        audit=audit,
        device_tokens=device_tokens,
        seeds=ballot_seeds(settings),
        principals=PrincipalResolver(store, clock, device_tokens),
        rate_limits=RateLimiter(StoredCounts(store), clock),
        policy_changes=PolicyChanges(store, clock, audit),
        follower=PolicyFollower(),
    )
    if require_schema:
        try:
            source = str(settings.policy_file or "the shipped default")
            if settle:
                policy = wiring.policy_changes.settle(file_text, policy, source=source)
            else:
                policy = wiring.policy_changes.in_force_or(policy, source=source)
            # a venue type without a rule: refuse to serve, naming each
            VenueRegistry(store, policy, clock, wiring.signer, settings.public_base).check_types_known()
        except Exception:
            db.dispose()
            raise
    services = _wire(wiring, policy, TracingService(store, policy, clock, settings.zone))
    if require_schema:
        audit.note_policy(policy.version, policy.digest)
        # The policy in force decides each slot's quota, for slots booked under an earlier one too.
        services.border.apply_policy_quotas()
    return services


@dataclass(frozen=True)
class _Wiring:
    """What services share whatever the policy: adapters, keys, and per-process caches."""

    settings: Settings
    clock: Clock
    db: Database
    store: Store
    signer: VenueTokenSigner
    verifier: VenueTokenVerifier
    hasher: IdentityHasher
    audit: AuditTrail
    device_tokens: DeviceTokens
    seeds: Callable[[date], str]
    principals: PrincipalResolver
    rate_limits: RateLimiter
    policy_changes: PolicyChanges
    follower: PolicyFollower
    presence: PresenceCache = field(default_factory=PresenceCache)


def _wire(wiring: _Wiring, policy: Policy, tracing: TracingService) -> Services:
    """The services under ``policy``; ``tracing`` is the tracing under it (its archive index shared)."""
    settings, clock, store, audit = wiring.settings, wiring.clock, wiring.store, wiring.audit
    hasher, seeds = wiring.hasher, wiring.seeds
    venues = VenueRegistry(store, policy, clock, wiring.signer, settings.public_base)
    max_future = settings.checkin_max_future_seconds
    # Health codes follow the facts: a case registered or changed is traced and its contacts'
    # codes recomputed; orders and test results recompute the people they concern.
    codes = HealthCodeService(store, policy, clock, settings.zone, tracer=tracing)
    cases = CaseRegistry(
        store,
        policy,
        clock,
        settings.zone,
        on_change=codes.case_changed,
        resident=tracing.resident_encounters,
    )
    border = BookingService(store, policy.border, clock, settings.zone, hasher, seeds=seeds)
    records = RecordAccess(store, audit)
    subjects = hasher.subjects
    code_keys = CodeKeys(store, clock, settings.code_issuer, policy.signed_codes.valid_hours)
    code_partners = Partners(store, clock, settings.code_issuer)
    trusted_codes = TrustedCodes(code_keys, code_partners, leeway=settings.code_leeway)
    code_issuer = CodeIssuer(
        code_keys, settings.code_issuer, policy.signed_codes.valid_hours, clock, subjects
    )
    # Online, a scanned code is judged by what its issuer knows now (revoked? its holder's code now);
    # offline, by the revoked code ids its bundle carries.
    code_revocations = CodeRevocations(store, code_keys, code_partners, codes, clock)
    reproduction = ReproductionNumbers(store, policy)
    clusters = ClusterService(store, policy, clock, settings.zone, audit)
    chains = ChainService(store, policy, clock, settings.zone, audit)
    return Services(
        settings=settings,
        policy=policy,
        clock=clock,
        db=wiring.db,
        store=store,
        hasher=hasher,
        people=PeopleRegistry(store, hasher, clock),
        venues=venues,
        checkins=CheckInService(
            store, policy, clock, wiring.verifier, max_future=timedelta(seconds=max_future)
        ),
        verifier=wiring.verifier,
        cases=cases,
        caseload=CaseloadService(store, policy, clock),
        tracing_indicators=TracingIndicatorService(store, policy, clock, settings.zone),
        tracing=tracing,
        orders=OrderService(store, policy, clock, settings.zone, on_change=codes.people_changed),
        # A contact who tests positive becomes a case, and tracing continues from them.
        follow_ups=FollowUpService(
            store,
            clock,
            settings.zone,
            on_positive=cases.register_from_positive_test,
            on_test_result=codes.record_follow_up_test,
        ),
        audit=audit,
        accounts=StaffAccounts(
            store,
            clock,
            settings,
            PasswordVault(time_cost=settings.password_time_cost, memory_kib=settings.password_memory_kib),
            audit,
            wiring.device_tokens,
        ),
        principals=wiring.principals,
        records=records,
        assignments=CaseAssignments(store, records, policy, clock),
        approvals=ExportApprovals(store, clock, audit, records, settings.approval_hours),
        rate_limits=wiring.rate_limits,
        subject_access=SubjectAccess(store, policy, clock, settings.zone, records, audit, subjects),
        border=border,
        clearances=ClearanceService(
            store,
            policy.border,
            clock,
            settings.zone,
            subjects,
            trusted_codes.verify,
            lambda: checkpoint_trust(code_keys, code_partners),
            policy.version,
            standing=code_revocations.standing,
            revoked_codes=code_revocations.revoked_codes,
            bundle_max_age_hours=policy.signed_codes.bundle_max_age_hours,
        ),
        draws=BallotDraws(store, policy.border, clock, settings.zone, seeds, subjects.subject_of),
        subjects=subjects,
        code_keys=code_keys,
        code_issuer=code_issuer,
        code_partners=code_partners,
        trusted_codes=trusted_codes,
        codes=codes,
        signed_codes=SignedCodes(store, codes, code_issuer, policy.border.clearance.negative_test_kinds),
        code_revocations=code_revocations,
        reproduction=reproduction,
        epidemic_curves=EpidemicCurves(store, policy, clock, settings.zone),
        clusters=clusters,
        chains=chains,
        serial_intervals=SerialIntervals(store),
        situation_reports=SituationReports(
            store, policy, clock, settings.zone, reproduction, clusters=StoredClusters(clusters, chains)
        ),
        policy_changes=wiring.policy_changes,
        presence=PresenceAuthority(
            store,
            policy,
            clock,
            settings.zone,
            audit,
            records,
            venues,
            wiring.signer,
            settings.public_base,
            wiring.presence,
        ),
        presence_bridge=PresenceBridge(store, policy, clock, settings.zone, audit, codes),
        wiring=wiring,
    )


POLICY_POLL_SECONDS = 5.0
log = logging.getLogger(__name__)


class HoldsServices(Protocol):
    """Where a server keeps its services (its application's state)."""

    services: Services


class PolicyFollower:
    """Keeps a server worker under the policy in force when another worker activates a new one.

    Each worker asks the store for the digest in force at most every ``POLICY_POLL_SECONDS``
    (one indexed read) and rewires its services when it changed; the worker that activated
    a version rewires at once.
    """

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._next_poll = float("-inf")
        self._lock = threading.Lock()

    def due(self) -> bool:
        return self._monotonic() >= self._next_poll

    def follow(self, holder: HoldsServices) -> Services:
        """The holder's services, rewired first when the store's policy in force is another.

        One caller polls at a time; the others go on with the services they have. A poll that
        fails (the store unreachable, a stored version this chaincut refuses) is logged, and the
        worker keeps serving under the policy it has until a later poll succeeds.
        """
        if not self._lock.acquire(blocking=False):
            return holder.services
        try:
            services = holder.services
            if not self.due():
                return services
            self._next_poll = self._monotonic() + POLICY_POLL_SECONDS
            digest = services.policy_changes.in_force_digest()
            if digest is None or digest == services.policy.digest:
                return services
            policy = services.policy_changes.in_force_policy()
            if policy is not None and policy.digest == digest:
                holder.services = services.under(policy)
            return holder.services
        except Exception:
            log.exception(
                "following the policy in force failed; serving under %s", holder.services.policy.version
            )
            return holder.services
        finally:
            self._lock.release()

    def activated(self, holder: HoldsServices, policy: Policy) -> Services:
        """Rewire the holder's services under ``policy``, which this worker just activated (or, when
        another activation came since, under the one in force now)."""
        with self._lock:
            services = holder.services
            current = services.policy_changes.in_force_policy() or policy
            if services.policy.digest != current.digest:
                holder.services = services.under(current)
            self._next_poll = self._monotonic() + POLICY_POLL_SECONDS
            return holder.services


def _archive(settings: Settings, db: Database, *, check: bool = True) -> ParquetArchive | None:
    """The embedded default's archive (PostgreSQL holds everything), bound to the database's store id.

    With ``check``, an archive that belongs to another store is refused (ConfigurationError
    naming both ids); a database without a store id yet (not migrated) binds nothing.
    """
    if not db.is_sqlite:
        return None
    store_id = read_store_id(db)
    archive = ParquetArchive(Path(settings.data_dir) / "whereabouts", store_id)
    if check and store_id is not None:
        check_halves(store_id, archive, db.backend)
    return archive


def db_upgrade(settings: Settings) -> StoreUpgrade:
    """`chaincut db upgrade`: migrate the schema and bind the archive to the store's id (store.identity)."""
    db = Database(settings.resolved_database_url())
    try:
        return upgrade_store(db, _archive(settings, db, check=False))
    finally:
        db.dispose()


# --- border clearance: where the signed health codes plug in ------------------------------------------


def offline_verifier_factory(settings: Settings | None = None) -> VerifierFactory:
    """How ``chaincut border clear`` builds its verifier from a synced bundle's trust, offline, with
    the checkpoint's clock leeway (``CHAINCUT_CODE_LEEWAY_SECONDS``)."""
    leeway = (settings or Settings()).code_leeway
    return lambda document: bundle_verifier(document, leeway=leeway)


def ballot_seeds(settings: Settings, random_hex: Callable[[], str] | None = None) -> Callable[[date], str]:
    """Each day's ballot seed: derived from CHAINCUT_BALLOT_SEED and the day, or fresh randomness."""
    fresh = random_hex or (lambda: token_hex(16))
    if settings.ballot_seed is None:
        return lambda _day: fresh()
    key = settings.ballot_seed.get_secret_value().encode("utf-8")
    return lambda day: hmac.new(key, day.isoformat().encode("ascii"), hashlib.sha256).hexdigest()[:32]
