"""The server's in-memory index follows imports and purges, and no trace waits for it.

A synthetic district is imported day by day (a segment of the archive each), held
in memory by a resident tracing service, then changed under it: more days are
imported, and purges drop whole segments and cut others. After each change the
resident index must answer exactly as a fresh full load and as streaming the
archive (the oracle), and a trace must never wait for the archive to be read again.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from chaincut.bootstrap import Services
from chaincut.clock import FixedClock, to_epoch
from chaincut.domain import Case, CaseClassification, CaseStatus
from chaincut.store import ParquetArchive
from chaincut.store.archive import Kind
from chaincut.tracing.archive_index import _EncounterRun, _VisitRun
from chaincut.tracing.run_files import map_run
from chaincut.tracing.service import TracingService
from chaincut.tracing.store_sources import ArchiveScanSource
from chaincut.tracing.timeline import EncounterEntry, read_timeline
from chaincut.whereabouts.importing import (
    ImportOptions,
    import_encounters,
    import_people,
    import_venues,
    import_visits,
)
from chaincut.whereabouts.retention import purge_expired
from chaincut.whereabouts.synth import CityParameters, synthesize_city

PEOPLE, CASES, DAYS = 2000, 30, 6
KINDS: tuple[Kind, Kind] = ("visits", "encounters")
REFS = [f"C{i:03d}" for i in range(CASES)]


class District:
    """A synthetic district whose days are imported one at a time."""

    def __init__(self, services: Services, folder: Path) -> None:
        self.services = services
        self.folder = folder
        self.now = services.clock.now()
        self.first_day = self.now - timedelta(days=DAYS)

    def day(self, n: int) -> tuple[datetime, datetime]:
        """Day ``n`` (0 is the first) as [start, end) instants."""
        start = self.first_day + timedelta(days=n)
        return start, start + timedelta(days=1)

    def import_days(self, first: int, last: int) -> None:
        """Visits and encounters that started on days ``first`` to ``last``: one import of each."""
        start, end = self.day(first)[0], self.day(last)[1]
        for kind, column, importer in (
            ("visits", "entered_at", import_visits),
            ("encounters", "start", import_encounters),
        ):
            table = pq.read_table(self.folder / f"{kind}.parquet")
            part = table.filter(pc.and_(pc.greater_equal(table[column], start), pc.less(table[column], end)))
            path = self.folder / f"{kind}-{first}-{last}.parquet"
            pq.write_table(part, path)
            s = self.services
            importer(s.store, s.policy, s.clock, path, ImportOptions())

    @property
    def archive(self) -> ParquetArchive:
        archive = self.services.store.archive
        assert archive is not None
        return archive


@pytest.fixture
def district(embedded_services: Services, tmp_path: Path) -> District:
    """People and venues, the first three days imported as three segments, and cases today."""
    services = embedded_services
    now = services.clock.now()
    city = tmp_path / "city"
    params = CityParameters(people=PEOPLE, venues=120, days=DAYS, checkins_per_day=5000, seed=3)
    synthesize_city(params, city, end=now)
    options = ImportOptions()
    import_people(services.store, services.hasher, services.clock, city / "people.parquet", options)
    import_venues(services.store, services.policy, services.clock, city / "venues.parquet", options)
    district = District(services, city)
    for n in range(3):
        district.import_days(n, n)
    rng = np.random.default_rng(5)
    with services.store.write() as uow:
        people = rng.choice(np.arange(1, PEOPLE + 1), size=CASES, replace=False)
        cases = [
            Case(
                ref=ref,
                person_id=int(p),
                status=CaseStatus.CONFIRMED,
                classification=CaseClassification.LOCAL,
                reported_on=now.date(),
                onset_on=(now - timedelta(days=int(rng.integers(0, 4)))).date(),
            )
            for ref, p in zip(REFS, people, strict=True)
        ]
        uow.cases.add_many(cases, created_at=to_epoch(now))
    return district


def resident_service(services: Services) -> TracingService:
    return TracingService(
        services.store, services.policy, services.clock, services.settings.zone, resident=True
    )


def streaming_service(services: Services) -> TracingService:
    return TracingService(services.store, services.policy, services.clock, services.settings.zone)


def contacts(service: TracingService) -> dict[str, dict[int, tuple[str, int]]]:
    return {
        ref: {c.person_id: (c.tier.value, c.seconds) for c in service.trace_case(ref).contacts}
        for ref in REFS
    }


def all_visits(source: Any) -> list[tuple[int, ...]]:
    found = source.visits_of(np.arange(1, PEOPLE + 1, dtype=np.int64), 0, 2**40)
    return sorted(
        zip(
            found.person.tolist(),
            found.venue.tolist(),
            found.entered.tolist(),
            found.left.tolist(),
            strict=True,
        )
    )


def all_encounters(source: Any) -> list[tuple[int, ...]]:
    found = source.encounters_of(np.arange(1, PEOPLE + 1, dtype=np.int64), 0, 2**40)
    return sorted(
        zip(
            found.person_a.tolist(),
            found.person_b.tolist(),
            found.start.tolist(),
            found.end.tolist(),
            strict=True,
        )
    )


def assert_like_a_fresh_load_and_the_scan(resident: TracingService, district: District) -> None:
    services = district.services
    fresh = resident_service(services)
    fresh.warm_up()
    streamed = contacts(streaming_service(services))
    assert sum(len(c) for c in streamed.values()) > 100  # a real workload, not empty answers
    assert contacts(resident) == streamed
    assert contacts(fresh) == streamed
    snapshot = resident._archive_source()  # what the resident's next trace reads
    scan = ArchiveScanSource(district.archive)
    assert all_visits(snapshot) == all_visits(scan)
    assert all_encounters(snapshot) == all_encounters(scan)


class Blocker:
    """Makes reading the archive wait, on the threads chosen, until released."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self._monkeypatch = monkeypatch
        self._released = threading.Event()

    def block(self, when: Callable[[], bool]) -> None:
        released = self._released
        for name in ("scan", "read"):
            original = getattr(ParquetArchive, name)

            def waiting(*args: Any, __original: Any = original, **kwargs: Any) -> Any:
                if when():
                    assert released.wait(60), "reading the archive stayed blocked"
                return __original(*args, **kwargs)

            self._monkeypatch.setattr(ParquetArchive, name, waiting)

    def release(self) -> None:
        self._released.set()


@pytest.fixture
def blocker(monkeypatch: pytest.MonkeyPatch) -> Iterator[Blocker]:
    blocker = Blocker(monkeypatch)
    yield blocker
    blocker.release()


def test_a_trace_after_a_purge_does_not_wait_for_the_index(
    district: District, clock: FixedClock, blocker: Blocker
) -> None:
    services = district.services
    resident = resident_service(services)
    resident.warm_up()
    # The retention cut-off moves into the second day: its segment is rewritten, the first dropped.
    cutoff = district.day(1)[0] + timedelta(hours=12)
    clock.advance(cutoff + timedelta(days=services.policy.retention.visits_days) - clock.now())
    [visits, encounters, *_] = purge_expired(services.store, services.policy, clock)
    assert visits.deleted and encounters.deleted

    blocker.block(lambda: True)  # reading the archive now waits, whoever reads it
    answers: list[Any] = []
    trace = threading.Thread(target=lambda: answers.append(contacts(resident)))
    trace.start()
    trace.join(timeout=20)
    blocker.release()
    assert not trace.is_alive(), "a trace after the purge waited for the archive to be read again"
    trace.join()
    assert answers == [contacts(streaming_service(services))]


def test_a_trace_after_an_import_sees_it_before_it_is_in_memory(district: District, blocker: Blocker) -> None:
    resident = resident_service(district.services)
    resident.warm_up()
    size = resident.index_size()
    assert size is not None and size.unread_segments == 0
    before = contacts(resident)

    blocker.block(lambda: threading.current_thread().name == "tracing-index")  # the index cannot read
    district.import_days(3, DAYS)
    streamed = contacts(streaming_service(district.services))
    assert streamed != before
    assert contacts(resident) == streamed  # the new segments streamed, the rest from memory
    size = resident.index_size()
    assert size is not None and size.unread_segments == 2  # one of visits, one of encounters

    blocker.release()
    resident.warm_up()  # waits for the background thread to read them
    size = resident.index_size()
    assert size is not None and size.unread_segments == 0
    assert contacts(resident) == streamed


def test_the_index_read_in_the_background_catches_up(district: District) -> None:
    resident = resident_service(district.services)
    resident.warm_up()
    index = resident._slot.index
    assert index is not None
    assert index.segments_read == 6  # three days of visits and of encounters
    district.import_days(3, 3)
    assert_like_a_fresh_load_and_the_scan(resident, district)
    resident.warm_up()  # waits for what the background thread began
    assert index.segments_read == 8  # only the new segments were read
    size = resident.index_size()
    assert size is not None and size.unread_segments == 0
    assert_like_a_fresh_load_and_the_scan(resident, district)


def test_purges_and_imports_keep_the_index_equal_to_a_fresh_load_and_the_scan(district: District) -> None:
    resident = resident_service(district.services)
    resident.warm_up()
    index = resident._slot.index
    assert index is not None
    district.import_days(3, DAYS)
    resident.warm_up()
    read = index.segments_read
    archive = district.archive

    # Cut into the second day: the first day's segment goes, the second's (and the
    # encounters') are rewritten; their runs stay, their purged rows filtered out.
    first_cut = to_epoch(district.day(1)[0] + timedelta(hours=14))
    assert archive.purge("visits", first_cut) and archive.purge("encounters", first_cut)
    rewritten = [s for s in archive.segments("visits") if s.rewritten_from]
    assert len(rewritten) == 1 and rewritten[0].purged_before == first_cut
    assert_like_a_fresh_load_and_the_scan(resident, district)
    assert min(v[3] for v in all_visits(resident._archive_source())) >= first_cut
    resident.warm_up()  # compacts runs that purges left mostly filtered out
    assert index.segments_read == read  # no segment read again
    assert index.runs_compacted >= 2
    assert_like_a_fresh_load_and_the_scan(resident, district)

    # Cut again, a little into the next day, then into a segment already rewritten.
    for hours in (2, 30):
        cut = to_epoch(district.day(2)[0] + timedelta(hours=hours))
        archive.purge("visits", cut)
        archive.purge("encounters", cut)
        assert_like_a_fresh_load_and_the_scan(resident, district)
        resident.warm_up()
        size = resident.index_size()
        assert size is not None and size.purged_rows > 0  # a few rows cut: filtered, not compacted
        assert_like_a_fresh_load_and_the_scan(resident, district)
    assert index.segments_read == read

    district.import_days(0, 1)  # the first days again, as a late import (a new segment)
    assert_like_a_fresh_load_and_the_scan(resident, district)
    resident.warm_up()
    assert index.segments_read == read + 2
    assert_like_a_fresh_load_and_the_scan(resident, district)


def mapped_service(services: Services) -> TracingService:
    service = streaming_service(services)
    service.keep_resident(mapped=True)
    return service


def mapped_folders(archive: ParquetArchive, kind: Kind) -> set[str]:
    return {f.name for f in archive.derived(kind).iterdir()}


def test_mapped_runs_are_written_once_and_shared_by_every_process(district: District) -> None:
    """Two server workers: the first to read a segment writes its run, the other maps it."""
    first, second = mapped_service(district.services), mapped_service(district.services)
    first.warm_up()
    assert first._slot.index is not None and first._slot.index.segments_read == 6
    archive = district.archive
    for kind in KINDS:
        assert mapped_folders(archive, kind) == {s.file for s in archive.segments(kind)}
    second.warm_up()
    index = second._slot.index
    assert index is not None and (index.segments_read, index.runs_mapped) == (0, 6)
    assert_like_a_fresh_load_and_the_scan(second, district)
    assert_like_a_fresh_load_and_the_scan(first, district)


def test_a_purge_leaves_no_purged_row_in_the_mapped_runs(district: District) -> None:
    resident = mapped_service(district.services)
    district.import_days(3, DAYS)
    resident.warm_up()
    archive = district.archive
    before = {kind: mapped_folders(archive, kind) for kind in KINDS}
    cut = to_epoch(district.day(1)[0] + timedelta(hours=2))  # a few rows of the second day
    assert archive.purge("visits", cut) and archive.purge("encounters", cut)
    for kind in KINDS:  # the runs of the removed segments went with them
        assert mapped_folders(archive, kind) == before[kind] & {s.file for s in archive.segments(kind)}
    resident.warm_up()  # compacted at once, however few rows were cut: they were on disk
    index = resident._slot.index
    rewritten = [s for kind in KINDS for s in archive.segments(kind) if s.rewritten_from]
    assert index is not None and index.runs_compacted == len(rewritten) >= 2
    for kind in KINDS:
        assert mapped_folders(archive, kind) == {s.file for s in archive.segments(kind)}
    for folder in archive.derived("visits").iterdir():
        run = map_run(_VisitRun, folder)
        assert isinstance(run, _VisitRun)
        assert int(((run.keys & 0xFFFFFFFF) + run.base + run.stay).min()) >= cut
    for folder in archive.derived("encounters").iterdir():
        assert int(map_run(_EncounterRun, folder).end.min()) >= cut
    size = resident.index_size()
    assert size is not None and size.purged_rows == 0
    assert_like_a_fresh_load_and_the_scan(resident, district)


def test_stale_mapped_runs_are_swept(district: District) -> None:
    archive = district.archive
    derived = archive.derived("visits")
    stray, crashed, writing = derived / "seg-gone.parquet", derived / ".staging-old", derived / ".staging-now"
    for folder in (stray, crashed, writing):
        folder.mkdir(parents=True)
    os.utime(crashed, (0, 0))
    resident = mapped_service(district.services)
    resident.warm_up()
    assert not stray.exists() and not crashed.exists()  # no such segment; a write abandoned long ago
    assert writing.exists()  # perhaps another worker's, still being written


def test_damaged_mapped_files_are_written_again(district: District, caplog: pytest.LogCaptureFixture) -> None:
    mapped_service(district.services).warm_up()
    archive = district.archive
    cut_short, half_gone = sorted(archive.derived("visits").iterdir())[:2]
    with open(cut_short / "run.bin", "r+b") as data:
        data.truncate(100)  # a write cut short
    (half_gone / "run.bin").unlink()  # or a folder of another layout
    resident = mapped_service(district.services)
    resident.warm_up()
    index = resident._slot.index
    assert index is not None and (index.segments_read, index.runs_mapped) == (2, 4)
    assert caplog.text.count("damaged, written again") == 2
    assert (cut_short / "run.bin").stat().st_size > 100 and (half_gone / "run.bin").exists()
    again = mapped_service(district.services)
    again.warm_up()
    assert again._slot.index is not None and again._slot.index.runs_mapped == 6  # all mapped now
    assert_like_a_fresh_load_and_the_scan(resident, district)


def test_a_full_disk_leaves_the_runs_in_memory(district: District, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(run: Any, folder: Path) -> None:
        folder.mkdir(parents=True)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("chaincut.tracing.archive_index.save_run", full)
    resident = mapped_service(district.services)
    resident.warm_up()
    size = resident.index_size()
    assert size is not None and size.unread_segments == 0  # every segment held, in memory
    assert all(
        not f.name.startswith(".staging-") for kind in KINDS for f in district.archive.derived(kind).iterdir()
    )
    assert_like_a_fresh_load_and_the_scan(resident, district)


def test_a_purge_removes_every_derived_folder_but_its_segments_own(district: District) -> None:
    """Without any server running: a write under way or abandoned holds rows too."""
    mapped_service(district.services).warm_up()
    archive = district.archive
    derived = archive.derived("visits")
    (derived / ".staging-abandoned").mkdir()
    (derived / "seg-long-gone.parquet").mkdir()
    cut = to_epoch(district.day(1)[0])
    archive.purge("visits", cut)
    assert mapped_folders(archive, "visits") <= {s.file for s in archive.segments("visits")}
    assert mapped_folders(archive, "visits")  # the untouched segments keep theirs


def test_an_archive_replaced_under_the_index(district: District) -> None:
    resident = resident_service(district.services)
    resident.warm_up()
    archive = district.archive
    for kind in ("visits", "encounters"):
        for path in archive.paths(kind):  # type: ignore[arg-type]
            path.unlink()
        (archive.root / kind / "manifest.json").unlink()
    district.import_days(2, 4)  # an archive of other segments altogether
    assert_like_a_fresh_load_and_the_scan(resident, district)  # before it is read: streamed
    resident.warm_up()
    assert_like_a_fresh_load_and_the_scan(resident, district)


def test_a_purge_says_which_segment_it_rewrote(tmp_path: Path) -> None:
    import pyarrow as pa

    from chaincut.store import VISIT_SCHEMA

    archive = ParquetArchive(tmp_path)
    rows = {"person_id": [1, 2, 3], "venue_id": [1, 1, 1], "entered_at": [0, 10, 20], "left_at": [5, 15, 25]}
    table = pa.table(
        {**rows, "left_inferred": [False] * 3, "source": [0] * 3, "clipped": [False] * 3}, schema=VISIT_SCHEMA
    )
    with archive.writer("visits") as writer:
        writer.write(table)
        writer.commit()
    [first] = archive.segments("visits")
    assert (first.rewritten_from, first.purged_before, first.origin) == (None, None, first.file)
    assert archive.purge("visits", 10) == 1
    [cut] = archive.segments("visits")
    assert (cut.rewritten_from, cut.purged_before, cut.rows, cut.origin) == (first.file, 10, 2, first.file)
    assert archive.purge("visits", 8) == 0  # an earlier cut-off changes nothing
    assert archive.purge("visits", 20) == 1
    [again] = archive.segments("visits")
    assert (again.rewritten_from, again.purged_before, again.rows) == (first.file, 20, 1)


def test_a_timeline_from_the_index_is_the_timeline_read_from_the_segments(district: District) -> None:
    resident = resident_service(district.services)
    resident.warm_up()
    streaming = streaming_service(district.services)
    assert streaming.resident_encounters(1, 0, 2**40) is None  # a command reads the segments
    start, end = to_epoch(district.first_day), to_epoch(district.now)
    met = 0
    for person in range(1, 41):
        read = read_timeline(district.services.store, person, start, end)
        held = read_timeline(district.services.store, person, start, end, resident.resident_encounters)
        assert held == read, person
        met += sum(isinstance(e, EncounterEntry) for e in held)
    assert met > 0  # the district's people met each other: the encounters were compared
