"""Encrypted backup and restore of the whole store, on every backend and across them.

Each test fills a store through the services (people with sealed details,
venues, check-ins, bulk whereabouts, cases, orders, follow-ups) plus direct rows
for the access-control and audit tables, backs it up, and restores it into a
fresh, empty store with the same data keys. Times come from the fixed clock
(2026-11-20T04:00Z). Damage tests use 4 KiB chunks so that a small store spans
many chunks.
"""

from __future__ import annotations

import random
import struct
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import insert, select, update
from typer.testing import CliRunner

from chaincut.bootstrap import Services, bootstrap
from chaincut.border import BookingRequest, BookingService
from chaincut.border.testing import FakeCodeVerifier
from chaincut.cli import app as cli_app
from chaincut.clock import FixedClock
from chaincut.codes.signing_keys import new_root
from chaincut.domain import Tier
from chaincut.domain.access import Principal
from chaincut.domain.audit import AuditEvent
from chaincut.domain.health_codes import HealthCodeClaims
from chaincut.errors import BackupDamaged, Conflict, InvalidInput, StoreNotReady, WrongPassphrase
from chaincut.people import PersonDraft
from chaincut.policy import BookingMode, default_policy_text
from chaincut.presence.protocol import server_traces
from chaincut.settings import Settings
from chaincut.store import Database, NewImport, Store, backup_crypto, head_revision, upgrade
from chaincut.store import tables as t
from chaincut.store.archive import ENCOUNTER_SCHEMA, VISIT_SCHEMA
from chaincut.store.backup import restore_backup, write_backup
from chaincut.tracing.cases import CaseDraft
from chaincut.venues.registry import VenueDraft
from chaincut.whereabouts.checkin import CheckInRequest
from support.postgres import PostgresServer
from support.settings import cli_env

PASSPHRASE = "correct horse battery staple"
Rows = dict[str, list[tuple[Any, ...]]]


# --- filling a store ---------------------------------------------------------------------------


def _border_rows(svc: Services, person_ids: list[int]) -> None:
    """A first-come booking, and a ballot drawn on another day (entries, draws, bookings, slots)."""
    ask = BookingRequest(
        person_ids[3], "A000003(7)", date(2026, 11, 21), "man_kam_to", "night", ("B0000031",), "b-1"
    )
    svc.border.book(ask)
    ballot = BookingService(
        svc.store,
        replace(svc.policy.border, mode=BookingMode.BALLOT),
        svc.clock,
        svc.settings.zone,
        svc.hasher,
        seeds=lambda _day: "backup-seed",  # committed (and sealed) before the entry is stored
    )
    ballot.book(replace(ask, day=date(2026, 11, 22), request_id="e-1"))
    ballot.draw(date(2026, 11, 22), "backup-seed", actor="tests")
    # A checkpoint's decision on that traveller's code (refused: the booking is for tomorrow).
    now = svc.clock.now()
    code = HealthCodeClaims(
        "code-1", "HK", svc.subjects.subject_of(svc.hasher.hash("A000003(7)")), None, "green", (), None,
        now, now - timedelta(hours=1), now + timedelta(hours=23),
    )  # fmt: skip
    clearances = svc.clearances.with_verifier(FakeCodeVerifier({"QR": code}))
    clearances.clear(Principal.system("tests"), "QR", "man_kam_to")


def _code_rows(svc: Services) -> None:
    """Code-signing keys (a root, a retired and an active signer) and a partner with its list."""
    svc.code_keys.init(Principal.system("tests"))
    svc.code_keys.rotate(Principal.system("tests"))
    partner = new_root("MO", svc.clock.now())
    pem = partner.certificate.public_bytes(Encoding.PEM)
    svc.code_partners.add("MO", "https://mo.example/codes/trust-list", pem, Principal.system("tests"))
    # A resident's signed codes, one revoked when their colour worsened (the list's sequence raised).
    with svc.store.read() as uow:
        person_id = uow.people.id_for_ref("p-6")
    assert person_id is not None
    svc.signed_codes.issue_for(person_id)
    svc.codes.set_override("p-6", "red", "positive test reported by a clinic", None, "supervisor-1")
    svc.signed_codes.issue_for(person_id)


def fill(svc: Services) -> None:
    """Rows in every table (and in the archive on the embedded default)."""
    now = svc.clock.now()
    epoch = int(now.timestamp())
    people = [
        svc.people.register(
            PersonDraft(
                ref=f"p-{i}",
                id_document=f"A{i:06d}(7)",
                name=f"Resident {i} 陳大文",
                phone=f"+852 9{i:03d} 4567",
                address=f"{i} Queen's Road Central",
                household=f"hh-{i // 2}",
            )
        )
        for i in range(12)
    ]
    venues = [
        svc.venues.register(VenueDraft(venue_type="restaurant", name_en=f"Dragon {i}", name_zh=f"金龍 {i}"))
        for i in range(4)
    ] + [svc.venues.register(VenueDraft(venue_type="taxi", name_en="Taxi", name_zh="的士", plate="AB1234"))]
    for i, person in enumerate(people):
        venue = venues[i % 4]
        at = now - timedelta(hours=3, minutes=i)
        svc.checkins.check_in(CheckInRequest(person.ref, f"c-{i}", token=svc.venues.token(venue), at=at))
    svc.checkins.check_out("p-0", "c-0", now - timedelta(hours=1))
    # As a server's start records its policy file in force.
    svc.policy_changes.settle(default_policy_text(), svc.policy, source="the shipped default")
    rng = random.Random(7)
    person_ids = [p.id for p in people]
    venue_ids = [v.id for v in venues]
    start = epoch - 5 * 86_400
    entered = [start + rng.randrange(86_400 * 4) for _ in range(3000)]
    imported = NewImport("visits", "ab" * 32, "visits.parquet", epoch, "cli:tests", rows_read=3000)
    with svc.store.bulk("visits", imported) as sink:
        sink.write(
            pa.table(
                {
                    "person_id": [rng.choice(person_ids) for _ in entered],
                    "venue_id": [rng.choice(venue_ids) for _ in entered],
                    "entered_at": entered,
                    "left_at": [e + rng.randrange(600, 7200) for e in entered],
                    "left_inferred": [rng.random() < 0.2 for _ in entered],
                    "source": [1] * len(entered),
                    "clipped": [rng.random() < 0.05 for _ in entered],
                },
                schema=VISIT_SCHEMA,
            )
        )
    with svc.store.bulk("encounters") as sink:
        sink.write(
            pa.table(
                {
                    "person_a": [person_ids[i % 12] for i in range(800)],
                    "person_b": [person_ids[(i + 1) % 12] for i in range(800)],
                    "start_at": [start + 60 * i for i in range(800)],
                    "end_at": [start + 60 * i + 900 for i in range(800)],
                },
                schema=ENCOUNTER_SCHEMA,
            )
        )
    first = svc.cases.register(
        CaseDraft(ref="C1", person="p-0", classification="local", onset_on=date(2026, 11, 17)), "tracer-1"
    )
    second = svc.cases.register(
        CaseDraft(
            ref="C2", person="p-1", classification="linked", specimen_on=date(2026, 11, 19), linked_case="C1"
        ),
        "tracer-1",
    )
    assert first.id is not None and second.id is not None
    order = svc.orders.issue(people[2].id or 0, Tier.CLOSE, now - timedelta(days=1), first.id, "tracer-1")
    svc.follow_ups.record("p-2", date(2026, 11, 20), ["fever"], None, "day 1", "tracer-1")
    # Decentralised check-in: the authority's keys (sealed), a venue's entry code, a published warning.
    private = svc.presence.register_venue(
        VenueDraft("bar", "Open Bar", "開放酒吧", ref="V-PRIVATE"), "server"
    )
    master = svc.presence.keys().master_secret
    hours = server_traces(private.entry_payload, master, epoch - 7200, epoch - 3600, "Get tested today.")
    with svc.store.write() as uow:
        warning = uow.presence.add_warning(
            "warning-1",
            venue_id=private.venue.id or 0,
            case_id=first.id,
            start_time=epoch - 7200,
            end_time=epoch - 3600,
            message="Get tested today.",
            proposed_by="staff:tracer-1",
            at=epoch,
            expires_at=epoch + 10 * 86_400,
            traces=[(h.start_of_interval, h.trace) for h in hours],
        )
        assert uow.presence.review(warning, "published", by="staff:sup-1", at=epoch, reason="confirmed")
        # A resident's phone matched it and its owner reported it.
        published = uow.presence.warning("warning-1")
        assert published is not None
        assert uow.presence.add_report(
            person_id=people[3].id or 0, warning=published, last_exposure_at=epoch - 3600, at=epoch
        )
    # Health codes: the cases above stored exposures, codes and history; now the facts staff record.
    svc.codes.record_test("p-3", now - timedelta(hours=2), "pcr", "negative", "tracer-1")
    svc.codes.record_vaccination("p-3", date(2026, 6, 1), "Comirnaty", "tracer-1")
    svc.codes.record_arrival("p-4", now - timedelta(days=2), "GB", "tracer-1")
    svc.codes.set_override("p-5", "amber", "held for review by the outbreak team", None, "supervisor-1")
    # A revoked app token: its revocation number and the counter's head must survive too.
    svc.accounts.issue_resident_token("p-6", Principal.system("tests"))
    svc.accounts.revoke_device_tokens(Principal.system("tests"), person_ref="p-6")
    svc.accounts.issue_enrolment_code("p-6", Principal.system("tests"))
    _border_rows(svc, [p.id or 0 for p in people])
    _code_rows(svc)
    with svc.store.write() as uow:
        conn = uow.connection
        # A case linked to one registered after it: the restore must not trip on the order.
        conn.execute(update(t.cases).where(t.cases.c.id == first.id).values(linked_case_id=second.id))
        conn.execute(
            insert(t.encounters).values(
                person_a=person_ids[0], person_b=person_ids[1], start_at=epoch - 900, end_at=epoch
            )
        )
        conn.execute(insert(t.clusters).values(id=1, name="Dragon cluster", reported_case_count=2))
        conn.execute(insert(t.cluster_cases).values(cluster_id=1, case_id=first.id))
        # Inferred clusters: one merged into another (a self-reference the restore must order).
        conn.execute(
            insert(t.inferred_clusters),
            [
                {"id": 2, "status": "active", "size": 1, "created_at": epoch, "updated_at": epoch},
                {"id": 1, "status": "merged", "size": 0, "created_at": epoch, "updated_at": epoch},
            ],
        )
        conn.execute(
            update(t.inferred_clusters).where(t.inferred_clusters.c.id == 1).values(merged_into_id=2)
        )
        conn.execute(
            insert(t.inferred_cluster_members).values(cluster_id=2, case_id=first.id, confirmed=True)
        )
        conn.execute(insert(t.inferred_cluster_settings).values(cluster_id=2, setting="venue:v-1"))
        conn.execute(
            insert(t.inferred_cluster_evidence).values(
                cluster_id=2, part=0, rows=1, digest="0" * 64, columns=b"packed evidence, kept byte for byte"
            )
        )
        conn.execute(
            insert(t.cluster_decisions).values(
                cluster_id=2, case_id=first.id, decision="confirmed", decided_by="staff:t", decided_at=epoch
            )
        )
        conn.execute(
            insert(t.buildings).values(
                id=1, ref="b-1", district="Wan Chai", name_en="Gordon House", residential=True
            )
        )
        conn.execute(insert(t.building_cases).values(building_id=1, case_ref="hk-1"))
        conn.execute(
            insert(t.inferred_infectors).values(
                case_id=first.id, infector_case_id=second.id, likelihood_ppm=750_000, computed_at=epoch
            )
        )
        conn.execute(
            insert(t.purges).values(
                kind="visits", deleted=3, cutoff=epoch - 86_400 * 31, run_at=epoch, policy_version="v1"
            )
        )
        conn.execute(
            insert(t.staff).values(
                id=1,
                username="tracer-1",
                password_hash="$argon2id$x",
                roles="tracer",
                disabled=False,
                failed_logins=0,
                created_at=epoch,
                created_by="admin",
            )
        )
        conn.execute(
            insert(t.api_tokens).values(
                token_hash=bytes(range(32)),
                kind="staff",
                staff_id=1,
                created_at=epoch,
                expires_at=epoch + 3600,
            )
        )
        conn.execute(
            insert(t.web_sessions).values(
                session_hash=bytes(32),
                staff_id=1,
                csrf_token="x" * 64,
                created_at=epoch,
                expires_at=epoch + 60,
            )
        )
        conn.execute(
            insert(t.session_purposes).values(
                session_id=1, record="cases/C-1", purpose="tracing the case", stated_at=epoch
            )
        )
        conn.execute(
            insert(t.case_assignments).values(
                case_id=first.id, staff_id=1, assigned_at=epoch, assigned_by="admin"
            )
        )
        conn.execute(
            insert(t.approvals).values(
                public_id="AP1",
                kind="export",
                case_id=first.id,
                requested_by="tracer-1",
                requested_at=epoch,
                purpose="trace",
                status="pending",
                expires_at=epoch + 86_400,
            )
        )
        conn.execute(
            insert(t.person_corrections).values(
                person_id=person_ids[3],
                field="phone",
                old_sealed=b"\x01old",
                new_sealed=b"\x01new",
                reason="resident asked",
                corrected_by="tracer-1",
                corrected_at=epoch,
            )
        )
        conn.execute(
            insert(t.key_rotations).values(
                table_name="people", target_key=1, last_id=12, rows_done=12, started_at=epoch
            )
        )
        conn.execute(
            insert(t.rate_counts).values(
                limit_name="checkins", client="resident:abc", window_start=epoch - epoch % 60, count=3
            )
        )
    assert order.id is not None
    # The audit log through its own trail, so that its hash chain is real and must survive.
    svc.audit.record(
        *(
            AuditEvent(
                actor="tracer-1",
                roles="tracer",
                action="cases.read",
                resource="cases",
                record=f"C{i}",
                purpose="tracing",
                subject_person_id=person_ids[i],
            )
            for i in (1, 2)
        )
    )


# --- reading a store back ------------------------------------------------------------------------


def table_rows(svc: Services) -> Rows:
    """Every row of every table, in key order; but the store's identity, each store's own (see store_ids)."""
    with svc.db.engine.connect() as conn:
        return {
            table.name: [tuple(r) for r in conn.execute(select(table).order_by(*table.primary_key.columns))]
            for table in t.metadata.sorted_tables
            if table is not t.store_identity
        }


def store_ids(svc: Services) -> tuple[str, str | None]:
    """The store's id, and the id of the store a backup restored into it came from."""
    with svc.db.engine.connect() as conn:
        row = conn.execute(select(t.store_identity.c.store_id, t.store_identity.c.restored_from)).one()
    return row.store_id, row.restored_from


def archive_rows(svc: Services, kind: str) -> list[tuple[Any, ...]]:
    """The archive's rows of ``kind`` as a sorted multiset (none without an archive)."""
    archive = svc.store.archive
    if archive is None:
        return []
    assert kind in ("visits", "encounters")
    table = archive.read("visits" if kind == "visits" else "encounters")
    return sorted(tuple(row.values()) for row in table.to_pylist())


def assert_empty(svc: Services) -> None:
    """Only what the migrations seed, nothing in the archive, and no staged segment left behind."""
    assert {name: rows for name, rows in table_rows(svc).items() if rows} == {
        "audit_head": [(1, 0, bytes(32))],
        "revocation_head": [(1, 0)],
    }
    archive = svc.store.archive
    if archive is not None:
        assert (archive.count("visits"), archive.count("encounters")) == (0, 0)
        assert not list(archive.root.rglob("*.parquet"))


@pytest.fixture
def make_target(
    settings: Settings, tmp_path: Path, clock: FixedClock, request: pytest.FixtureRequest
) -> Iterator[Any]:
    """Makes fresh, empty, migrated stores with the same secrets as ``settings``."""
    made: list[Services] = []

    def make(backend: str) -> Services:
        url = None
        if backend == "postgres":
            server: PostgresServer = request.getfixturevalue("postgres_server")
            url = server.create_database(f"r_{uuid.uuid4().hex[:16]}")
        data_dir = tmp_path / f"target-{len(made)}"
        data_dir.mkdir()
        target = settings.model_copy(update={"data_dir": data_dir, "database_url": url})
        db = Database(target.resolved_database_url())
        upgrade(db)
        db.dispose()
        # As `chaincut restore` does: no schema check, so start-up records nothing in the store.
        made.append(bootstrap(target, clock=clock, require_schema=False))
        return made[-1]

    yield make
    for svc in made:
        svc.close()


@pytest.fixture
def backup_file(services: Services, tmp_path: Path) -> Path:
    fill(services)
    path = tmp_path / "store.ccbak"
    write_backup(services.store, path, PASSPHRASE, created_at=services.clock.now())
    return path


# --- round trips ----------------------------------------------------------------------------------


def test_restore_gives_back_every_table_and_the_archive(
    services: Services, backend: str, make_target: Any, tmp_path: Path
) -> None:
    fill(services)
    before = table_rows(services)
    assert [name for name, rows in before.items() if not rows] == [], "fill() must reach every table"
    path = tmp_path / "store.ccbak"
    ticks: list[tuple[str, int, int]] = []
    made = write_backup(
        services.store, path, PASSPHRASE, created_at=services.clock.now(), progress=lambda *a: ticks.append(a)
    )
    content = path.read_bytes()
    assert made.bytes == len(content)
    for plain in (b"Dragon 0", "金龍".encode(), b"tracer-1", b"Queen's Road"):
        assert plain not in content
    assert made.tables == len(t.metadata.sorted_tables)
    assert ticks and ticks[-1][1] == ticks[-1][2] == made.rows

    target = make_target(backend)
    restored = restore_backup(target.store, path, PASSPHRASE)

    assert (restored.rows, restored.archive_rows, restored.tables) == (
        made.rows,
        made.archive_rows,
        made.tables,
    )
    assert table_rows(target) == before
    for kind in ("visits", "encounters"):
        assert archive_rows(target, kind) == archive_rows(services, kind)
    if backend == "embedded":
        assert made.archive_rows == 3000 + 800
    # The target is another store with the same content: it keeps its own id and names the source's.
    source_id, _ = store_ids(services)
    target_id, restored_from = store_ids(target)
    assert target_id != source_id and restored_from == source_id
    if target.store.archive is not None:
        assert set(target.store.archive.store_ids().values()) == {target_id}
    # The audit log's hash chain is whole, and appends continue it.
    assert target.audit.verify().intact
    assert target.audit.verify().checked == len(before["audit_log"]) >= 3
    # Sealed fields were copied sealed, and the same data keys open them.
    person = target.people.get("p-3")
    assert person.details.name == "Resident 3 陳大文"
    assert person.details.phone == "+852 9003 4567"
    assert [p.ref for p in target.people.find_by_id_document("A000003(7)")] == ["p-3"]
    # New rows get new ids (PostgreSQL's sequences were moved past the restored ones).
    newcomer = target.people.register(PersonDraft(ref="p-new", name="Newcomer"))
    assert newcomer.id == max(row[0] for row in before["people"]) + 1
    venue = target.venues.get_by_id(before["venues"][0][0])
    assert venue is not None
    target.checkins.check_in(CheckInRequest("p-new", "c-new", token=target.venues.token(venue)))
    with target.db.engine.connect() as conn:
        new_visit = conn.execute(select(t.visits.c.id).where(t.visits.c.client_id == "c-new")).scalar_one()
    assert new_visit > max(row[0] for row in before["visits"])
    report = target.audit.verify()
    assert report.intact and report.last_seq > len(before["audit_log"])
    # The code-signing keys came back sealed and open with the same data keys: the same signer signs.
    assert target.code_keys.active_signer().kid == services.code_keys.active_signer().kid
    assert target.code_keys.trust_list()["root"] == services.code_keys.trust_list()["root"]


@pytest.mark.postgres
def test_an_embedded_backup_restores_into_postgres(
    embedded_services: Services, postgres_server: PostgresServer, clock: FixedClock, tmp_path: Path
) -> None:
    source = embedded_services
    fill(source)
    before = table_rows(source)
    path = tmp_path / "embedded.ccbak"
    write_backup(source.store, path, PASSPHRASE, created_at=clock.now())
    url = postgres_server.create_database(f"x_{uuid.uuid4().hex[:16]}")
    target_settings = source.settings.model_copy(
        update={"data_dir": tmp_path / "pg-target", "database_url": url}
    )
    db = Database(url)
    upgrade(db)
    db.dispose()
    target = bootstrap(target_settings, clock=clock, require_schema=False)
    try:
        assert target.store.archive is None
        restore_backup(target.store, path, PASSPHRASE)
        after = table_rows(target)
        sql_visit_ids = {row[0] for row in before["visits"]}
        for name in before:
            if name not in ("visits", "encounters"):
                assert after[name] == before[name], name
        # The SQL visits keep their ids; the archive's follow them in PostgreSQL's visits table.
        for name in ("visits", "encounters"):
            kept_ids = {row[0] for row in before[name]}
            assert [r for r in after[name] if r[0] in kept_ids] == before[name]
            moved = sorted(_archive_shape(name, r) for r in after[name] if r[0] not in kept_ids)
            assert moved == archive_rows(source, name)
            assert len(after[name]) == len(before[name]) + len(moved)
        assert len(sql_visit_ids) == 12
        assert target.store.counts() == source.store.counts()
        # And a PostgreSQL store backs up and restores into the embedded default.
        back = tmp_path / "pg.ccbak"
        write_backup(target.store, back, PASSPHRASE, created_at=clock.now())
        home_settings = source.settings.model_copy(
            update={"data_dir": tmp_path / "home", "database_url": None}
        )
        (tmp_path / "home").mkdir()
        home_db = Database(home_settings.resolved_database_url())
        upgrade(home_db)
        home_db.dispose()
        home = bootstrap(home_settings, clock=clock, require_schema=False)
        try:
            restore_backup(home.store, back, PASSPHRASE)
            assert table_rows(home) == after
            assert home.people.get("p-5").details.address == "5 Queen's Road Central"
        finally:
            home.close()
    finally:
        target.close()


def _archive_shape(kind: str, row: tuple[Any, ...]) -> tuple[Any, ...]:
    """An SQL visit or encounter without its id and client id, as the archive holds it."""
    return (*row[1:7], row[8]) if kind == "visits" else tuple(row[1:5])  # visits: clipped follows client_id


def test_the_cli_round_trip(embedded_services: Services, tmp_path: Path) -> None:
    source = embedded_services
    fill(source)
    before = table_rows(source)
    passphrase_file = tmp_path / "passphrase.txt"
    passphrase_file.write_text(PASSPHRASE + "\n", encoding="utf-8")
    out = tmp_path / "cli.ccbak"
    runner = CliRunner()
    result = runner.invoke(
        cli_app,
        ["backup", "--out", str(out), "--passphrase-file", str(passphrase_file)],
        env=cli_env(source.settings),
    )
    assert result.exit_code == 0, result.stderr
    tables = len(t.metadata.sorted_tables)
    assert f"backed up {tables} tables" in result.stdout
    assert "3,800 from the archive" in result.stdout
    assert out.stat().st_mode & 0o077 == 0

    target_dir = tmp_path / "cli-target"
    target_env = cli_env(source.settings) | {"CHAINCUT_DATA_DIR": str(target_dir)}
    assert runner.invoke(cli_app, ["db", "upgrade"], env=target_env).exit_code == 0
    short = runner.invoke(
        cli_app, ["restore", str(out)], env=target_env | {"CHAINCUT_BACKUP_PASSPHRASE": "too short"}
    )
    assert short.exit_code == 1
    assert "passphrase is too short" in short.stderr
    wrong = runner.invoke(
        cli_app, ["restore", str(out)], env=target_env | {"CHAINCUT_BACKUP_PASSPHRASE": PASSPHRASE + "!"}
    )
    assert wrong.exit_code == 1
    assert "error: wrong passphrase or not a chaincut backup" in wrong.stderr
    ok = runner.invoke(
        cli_app, ["restore", str(out), "--quiet"], env=target_env | {"CHAINCUT_BACKUP_PASSPHRASE": PASSPHRASE}
    )
    assert ok.exit_code == 0, ok.stderr
    assert f"restored {tables} tables" in ok.stdout
    target_settings = source.settings.model_copy(update={"data_dir": target_dir})
    target = bootstrap(target_settings, clock=source.clock)
    try:
        assert table_rows(target) == before
        assert archive_rows(target, "visits") == archive_rows(source, "visits")
    finally:
        target.close()
    again = runner.invoke(
        cli_app, ["restore", str(out)], env=target_env | {"CHAINCUT_BACKUP_PASSPHRASE": PASSPHRASE}
    )
    assert again.exit_code == 1
    assert "the target store is not empty" in again.stderr


# --- refusals: nothing is written -----------------------------------------------------------------


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> int:
    """4 KiB chunks, so that a small test store spans many of them."""
    monkeypatch.setattr(backup_crypto, "CHUNK_BYTES", 4096)
    return 4096


def chunks(content: bytes) -> tuple[int, list[tuple[int, int]]]:
    """Where the header ends, and each chunk's (offset, length on disk)."""
    size = struct.unpack(">I", content[16:20])[0]
    offset = header_end = 20 + size + 32
    found = []
    while offset < len(content):
        length = 5 + struct.unpack(">I", content[offset + 1 : offset + 5])[0]
        found.append((offset, length))
        offset += length
    return header_end, found


def refused(target: Services, path: Path, passphrase: str = PASSPHRASE) -> str:
    with pytest.raises((BackupDamaged, WrongPassphrase)) as caught:
        restore_backup(target.store, path, passphrase)
    assert_empty(target)
    return caught.value.message


def test_damage_anywhere_is_refused_and_nothing_is_restored(
    small_chunks: int, backup_file: Path, backend: str, make_target: Any, tmp_path: Path
) -> None:
    content = backup_file.read_bytes()
    header_end, found = chunks(content)
    assert len(found) > 10
    assert [content[o] for o, _ in found] == [0] * (len(found) - 1) + [1]
    target = make_target(backend)
    damaged = tmp_path / "damaged.ccbak"

    def attempt(data: bytes) -> str:
        damaged.write_bytes(data)
        return refused(target, damaged)

    # A flipped byte in the last chunk: everything before it was authenticated and written.
    last_offset, last_length = found[-1]
    flipped = bytearray(content)
    flipped[last_offset + last_length - 3] ^= 0x01
    assert attempt(bytes(flipped)) == f"backup file is damaged or altered at chunk {len(found)}"
    # ... in the middle of chunk 3.
    flipped = bytearray(content)
    flipped[found[2][0] + 40] ^= 0x80
    assert attempt(bytes(flipped)) == "backup file is damaged or altered at chunk 3"
    # Chunks 2 and 3 swapped.
    (o2, l2), (o3, l3) = found[1], found[2]
    assert attempt(
        content[:o2] + content[o3 : o3 + l3] + content[o2 : o2 + l2] + content[o3 + l3 :]
    ).startswith("backup file is damaged or altered at chunk 2")
    # Cut after a whole chunk, or inside one: the final chunk is missing.
    assert "ends before the backup's last chunk" in attempt(content[: found[-1][0]])
    assert "at chunk 5" in attempt(content[: found[4][0] + 100])
    # A middle chunk flagged as the last one.
    early_end = bytearray(content)
    early_end[found[4][0]] = 1
    assert attempt(bytes(early_end)) == "backup file is damaged or altered at chunk 5"
    # A chunk dropped.
    assert "at chunk 4" in attempt(content[: found[3][0]] + content[found[4][0] :])
    # Bytes after the last chunk.
    assert "after its last chunk" in attempt(content + b"\x00")
    # The header altered (its date, same length), or cut short.
    altered = content.replace(b'"created_at": 1', b'"created_at": 2', 1)
    assert altered != content
    assert "wrong passphrase" in attempt(altered)
    assert "damaged or altered in its header" in attempt(content[: header_end - 40])
    assert "not a chaincut backup" in attempt(b"PK\x03\x04" + content[4:])
    # The intact file still restores into the same target afterwards.
    restore_backup(target.store, backup_file, PASSPHRASE)
    assert target.store.counts().people == 12


def test_a_wrong_or_weak_passphrase_is_refused(backup_file: Path, backend: str, make_target: Any) -> None:
    target = make_target(backend)
    assert refused(target, backup_file, PASSPHRASE + " ") == (
        "wrong passphrase or not a chaincut backup (or its header was altered)"
    )
    for weak in ("", "short pass"):
        with pytest.raises(InvalidInput, match="passphrase"):
            restore_backup(target.store, backup_file, weak)
        with pytest.raises(InvalidInput, match="passphrase"):
            write_backup(target.store, backup_file.with_suffix(".new"), weak, created_at=target.clock.now())
    assert not backup_file.with_suffix(".new").exists()
    assert_empty(target)


def test_a_non_empty_target_is_refused_and_left_as_it_was(
    backup_file: Path, backend: str, make_target: Any
) -> None:
    target = make_target(backend)
    target.people.register(PersonDraft(ref="someone", name="Someone"))
    before = table_rows(target)
    with pytest.raises(Conflict, match=r"target store is not empty \(table people holds rows\)"):
        restore_backup(target.store, backup_file, PASSPHRASE)
    assert table_rows(target) == before
    assert archive_rows(target, "visits") == []


def test_a_target_with_only_archived_whereabouts_is_not_empty(
    backup_file: Path, backend: str, make_target: Any
) -> None:
    target = make_target(backend)
    with target.store.bulk("encounters") as sink:
        sink.write(pa.table({"person_a": [1], "person_b": [2], "start_at": [0], "end_at": [60]}))
    where = "its archive holds encounters" if backend == "embedded" else "table encounters holds rows"
    with pytest.raises(Conflict, match=where):
        restore_backup(target.store, backup_file, PASSPHRASE)
    assert table_rows(target)["people"] == []


def test_a_target_at_another_schema_revision_is_refused(
    backup_file: Path, services: Services, tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    if backend == "postgres":
        server: PostgresServer = request.getfixturevalue("postgres_server")
        url = server.create_database(f"o_{uuid.uuid4().hex[:16]}")
    db = Database(url)
    try:
        upgrade(db, "0002")
        store = Store(db, services.store.cipher, None)
        expected = f"backup is of schema revision {head_revision()} but the target .* at 0002"
        with pytest.raises(StoreNotReady, match=expected):
            restore_backup(store, backup_file, PASSPHRASE)
        with db.engine.connect() as conn:
            assert conn.execute(select(t.people.c.id)).first() is None
    finally:
        db.dispose()


def test_backup_refuses_to_overwrite_unless_forced(services: Services, tmp_path: Path) -> None:
    path = tmp_path / "exists.ccbak"
    path.write_bytes(b"keep me")
    with pytest.raises(Conflict, match="already exists"):
        write_backup(services.store, path, PASSPHRASE, created_at=services.clock.now())
    assert path.read_bytes() == b"keep me"
    write_backup(services.store, path, PASSPHRASE, created_at=services.clock.now(), overwrite=True)
    assert path.read_bytes().startswith(b"CHAINCUT-BACKUP\n")
    assert [p.name for p in tmp_path.iterdir() if "partial" in p.name] == []
