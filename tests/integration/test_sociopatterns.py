"""Contacts found on real sensor data equal those computed straight from the raw file.

The data is SocioPatterns' (../shared/data/sociopatterns, see its README): face-to-face
contacts measured by wearable sensors, one line ``t i j`` per 20-second window starting
at ``t``, in a Marseilles high school (thiers13: 188,508 lines, 327 students, Unix time)
and a Lyon hospital ward (hospital: 32,424 lines, 75 people, seconds from the start).
The tests skip when the shared folder is absent.

Each test registers every person of a file (ref ``SP-<id>``), writes its lines as an
encounters file ``[t, t + 20]`` (thiers13: CSV, ISO 8601 with the French offset;
hospital: Parquet, Unix seconds) moved onto the week before the test clock (thiers13 by
whole weeks, so weekdays and times of day stay true; the hospital's start onto a Monday
13:00 in Lyon), imports it through chaincut's bulk importer, then traces 30 seeded random
people over several windows each: a whole local day, a few hours, windows whose edge cuts
through a burst of back-to-back contacts, windows that touch a line at a single instant,
and the whole recording.

Every answer is compared with a plain-Python reading of the raw lines under the engine's
documented encounter rule: each line of the index person, clipped to the closed window,
counts when not empty; per other person the seconds add up; at least the policy's
cumulative seconds make a contact. Compared: the set of contacts, each one's seconds and
minutes, tier and generation, and its one piece of evidence (lines counted, first and
last instant). This runs under the default policy (15 minutes, the service as wired) and
under 1- and 0-minute variants that find many more contacts (one tracer holding the
archive in memory, one streaming it). The hospital runs on PostgreSQL too, where the bulk
import goes to SQL.
"""

from __future__ import annotations

import csv
import dataclasses
import random
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.parquet as pq

from chaincut.bootstrap import Services
from chaincut.clock import FixedClock, from_epoch, to_epoch
from chaincut.domain import EvidenceKind
from chaincut.policy import Policy
from chaincut.tracing.service import Trace, TracingService
from chaincut.whereabouts.importing import ImportOptions, import_encounters, import_people
from support.shared import shared_data

PARIS = ZoneInfo("Europe/Paris")  # both places recorded in French local time
WEEK = 7 * 86400
STEP = 20  # seconds each line covers
HOSPITAL_START = datetime(2026, 11, 9, 13, 0, tzinfo=PARIS)  # a Monday afternoon
INDEX_PEOPLE = 30
# Variants of the policy's encounter threshold (minutes), and whether their tracer holds the
# archive in memory (as the server does) or streams it (as the command line does).
VARIANTS = ((1, True), (0, False))


# ------------------------------------------------------------------- the raw file


@dataclass(frozen=True)
class Recording:
    """One tij file read with plain Python, its times moved by ``shift`` seconds."""

    name: str
    lines: list[tuple[int, int, int]]  # (t, i, j) as in the file
    shift: int

    @cached_property
    def people(self) -> list[int]:
        return sorted({i for _, i, _ in self.lines} | {j for _, _, j in self.lines})

    def of(self, person: int) -> list[tuple[int, int]]:
        """``(moved t, other person)`` for every line of ``person``, in file order."""
        return [(t + self.shift, j if i == person else i) for t, i, j in self.lines if person in (i, j)]

    @cached_property
    def first(self) -> int:
        return min(t for t, _, _ in self.lines) + self.shift

    @cached_property
    def last(self) -> int:
        return max(t for t, _, _ in self.lines) + self.shift + STEP


def read_tij(name: str) -> list[tuple[int, int, int]]:
    path = shared_data("sociopatterns", name, f"tij_{name}.dat")
    lines = []
    with path.open(encoding="ascii") as file:
        for line in file:
            if line.strip():
                t, i, j = line.split()
                lines.append((int(t), int(i), int(j)))
    return lines


def thiers13(now: datetime) -> Recording:
    """Unix times moved by whole weeks so the last contact ends at least a day before ``now``."""
    lines = read_tij("thiers13")
    last_end = max(t for t, _, _ in lines) + STEP
    weeks = (to_epoch(now) - 86400 - last_end) // WEEK
    return Recording("thiers13", lines, weeks * WEEK)


def hospital(now: datetime) -> Recording:
    """Seconds from the start, started on a recent Monday afternoon."""
    lines = read_tij("hospital")
    recording = Recording("hospital", lines, to_epoch(HOSPITAL_START))
    assert recording.last <= to_epoch(now) - 86400
    return recording


@dataclass(frozen=True)
class Expected:
    seconds: int
    encounters: int  # lines that meet the window
    first: int  # earliest clipped start
    last: int  # latest clipped end


def expected_contacts(
    mine: list[tuple[int, int]], start: int, end: int, threshold_seconds: int
) -> dict[int, Expected]:
    """The encounter rule restated: clip each line to ``[start, end]``, add up per other person."""
    seconds: dict[int, int] = defaultdict(int)
    count: dict[int, int] = defaultdict(int)
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    for t, other in mine:
        a, b = max(t, start), min(t + STEP, end)
        if a <= b:
            seconds[other] += b - a
            count[other] += 1
            first[other] = min(first.get(other, a), a)
            last[other] = max(last.get(other, b), b)
    return {
        other: Expected(total, count[other], first[other], last[other])
        for other, total in seconds.items()
        if total >= threshold_seconds
    }


# -------------------------------------------------------------------- the windows


def bursts(mine: list[tuple[int, int]]) -> list[list[int]]:
    """Runs of at least three back-to-back lines with the same person: their ``t``s."""
    by_other: dict[int, list[int]] = defaultdict(list)
    for t, other in mine:
        by_other[other].append(t)
    runs = []
    for ts in by_other.values():
        ts.sort()
        run = [ts[0]]
        for t in ts[1:]:
            if t == run[-1] + STEP:
                run.append(t)
                continue
            if len(run) >= 3:
                runs.append(run)
            run = [t]
        if len(run) >= 3:
            runs.append(run)
    return sorted(runs)


def windows(
    rng: random.Random, mine: list[tuple[int, int]], recording: Recording
) -> Iterator[tuple[str, int, int]]:
    """Named windows ``[start, end]`` (epoch seconds) to trace ``mine``'s person over."""
    times = sorted(t for t, _ in mine)
    runs = bursts(mine) or [times]

    day = datetime.fromtimestamp(rng.choice(times), PARIS).replace(hour=0, minute=0, second=0)
    yield "whole local day", to_epoch(day), to_epoch(day + timedelta(days=1))

    start = rng.choice(times) - rng.randrange(3600)
    yield "a few hours", start, start + rng.randrange(2 * 3600, 5 * 3600)

    run = rng.choice(runs)
    cut = rng.choice(run[1:-1] or run) + rng.randrange(1, STEP)
    yield "start cuts a burst", cut, cut + rng.randrange(3600, 4 * 3600)

    run = rng.choice(runs)
    cut = rng.choice(run[1:-1] or run) + rng.randrange(1, STEP)
    yield "end cuts a burst", cut - rng.randrange(3600, 4 * 3600), cut

    distinct = sorted(set(times))
    if len(distinct) > 1:  # starts as one line ends, ends as another starts
        first, last = sorted(rng.sample(distinct, 2))
        yield "edges touch a line at an instant", first + STEP, last
    else:
        yield "an instant", distinct[0], distinct[0]

    yield "the whole recording", recording.first, recording.last


# ----------------------------------------------------------------- importing it


def ref(person: int) -> str:
    return f"SP-{person}"


def register(services: Services, recording: Recording, folder: Path) -> dict[int, int]:
    """Import every person of the recording; their store ids by SocioPatterns id."""
    path = folder / f"{recording.name}-people.csv"
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["ref"])
        writer.writerows([ref(p)] for p in recording.people)
    report = import_people(services.store, services.hasher, services.clock, path, ImportOptions())
    assert (report.stored, report.rejected) == (len(recording.people), 0)
    with services.store.read() as uow:
        ids = {row["ref"]: row["id"] for row in uow.people.ref_index().to_pylist()}
    return {p: ids[ref(p)] for p in recording.people}


def write_csv_iso(recording: Recording, path: Path) -> Path:
    """person_a, person_b, start, end as ISO 8601 in French local time, with its offset."""
    iso: dict[int, str] = {}

    def at(t: int) -> str:
        if t not in iso:
            iso[t] = datetime.fromtimestamp(t, PARIS).isoformat()
        return iso[t]

    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["person_a", "person_b", "start", "end"])
        for t, i, j in recording.lines:
            moved = t + recording.shift
            writer.writerow([ref(i), ref(j), at(moved), at(moved + STEP)])
    return path


def write_parquet_epoch(recording: Recording, path: Path) -> Path:
    """person_a, person_b as strings; start, end as Unix seconds (int64)."""
    starts = [t + recording.shift for t, _, _ in recording.lines]
    table = pa.table(
        {
            "person_a": [ref(i) for _, i, _ in recording.lines],
            "person_b": [ref(j) for _, _, j in recording.lines],
            "start": pa.array(starts, pa.int64()),
            "end": pa.array([t + STEP for t in starts], pa.int64()),
        }
    )
    pq.write_table(table, path)
    return path


def load(services: Services, recording: Recording, path: Path) -> dict[int, int]:
    ids = register(services, recording, path.parent)
    report = import_encounters(services.store, services.policy, services.clock, path, ImportOptions())
    assert (report.read, report.stored, report.rejected) == (len(recording.lines), len(recording.lines), 0)
    assert services.store.counts().encounters == len(recording.lines)
    return ids


# ------------------------------------------------------------------ comparing


def with_threshold(policy: Policy, minutes: int) -> Policy:
    return dataclasses.replace(
        policy, encounters=dataclasses.replace(policy.encounters, cumulative_minutes=minutes)
    )


def differences(
    answer: Trace, expected: dict[int, Expected], ids: dict[int, int], policy: Policy
) -> Iterable[str]:
    """What the trace got wrong against the raw file, one line each (nothing when it agrees)."""
    sp_of = {store_id: sp for sp, store_id in ids.items()}
    got = {sp_of[c.person_id]: c for c in answer.contacts}
    for person in sorted(set(expected) - set(got)):
        yield f"missed {ref(person)} ({expected[person]})"
    for person in sorted(set(got) - set(expected)):
        yield f"found {ref(person)} ({got[person].seconds} s) but the file gives {expected.get(person)}"
    for person in sorted(set(got) & set(expected)):
        contact, want = got[person], expected[person]
        if contact.seconds != want.seconds or abs(contact.minutes - round(want.seconds / 60, 2)) > 0.01:
            yield f"{ref(person)}: {contact.seconds} s ({contact.minutes} min), file {want.seconds} s"
        if contact.tier is not policy.encounters.tier or contact.generation != 1:
            yield f"{ref(person)}: tier {contact.tier} generation {contact.generation}"
        if len(contact.evidence) != 1:
            yield f"{ref(person)}: {len(contact.evidence)} pieces of evidence, expected one encounter"
            continue
        evidence = contact.evidence[0]
        span = evidence.contact_interval
        found = (
            evidence.kind,
            evidence.rule,
            evidence.tier,
            evidence.seconds,
            evidence.encounters,
            evidence.index_person_id,
            span and (to_epoch(span.start), to_epoch(span.end)),
        )
        wanted = (
            EvidenceKind.ENCOUNTER,
            "encounters",
            policy.encounters.tier,
            want.seconds,
            want.encounters,
            answer.index_person_id,
            (want.first, want.last),
        )
        if found != wanted:
            yield f"{ref(person)}: evidence {found}, file gives {wanted}"


def check_many(services: Services, recording: Recording, ids: dict[int, int], seed: int) -> int:
    """Trace 30 seeded random people over several windows under each threshold; assert agreement.

    Returns how many contacts the raw file gives over all those traces.
    """
    rng = random.Random(seed)
    base = services.policy
    tracers: list[tuple[Policy, TracingService]] = [(base, services.tracing)]
    for minutes, resident in VARIANTS:
        variant = with_threshold(base, minutes)
        zone = services.settings.zone
        tracers.append(
            (variant, TracingService(services.store, variant, services.clock, zone, resident=resident))
        )
    problems: list[str] = []
    traced = found = 0
    for person in sorted(rng.sample(recording.people, INDEX_PEOPLE)):
        mine = recording.of(person)
        for label, start, end in windows(rng, mine, recording):
            for policy, tracer in tracers:
                answer = tracer.trace_person(ref(person), from_epoch(start), from_epoch(end))
                expected = expected_contacts(mine, start, end, policy.encounters.cumulative_seconds)
                assert to_epoch(answer.window.start) == start and to_epoch(answer.window.end) == end
                assert answer.index_person_id == ids[person]
                where = (
                    f"{ref(person)} over {label} [{from_epoch(start).isoformat()}, "
                    f"{from_epoch(end).isoformat()}] at {policy.encounters.cumulative_minutes} min"
                )
                problems += [f"{where}: {d}" for d in differences(answer, expected, ids, policy)]
                traced += 1
                found += len(expected)
    assert not problems, f"{len(problems)} disagreements, the first:\n" + "\n".join(problems[:20])
    return found


# ---------------------------------------------------------------------- the tests


def test_thiers13_school_contacts_equal_the_raw_file(embedded_services: Services, tmp_path: Path) -> None:
    recording = thiers13(embedded_services.clock.now())
    ids = load(embedded_services, recording, write_csv_iso(recording, tmp_path / "thiers13.csv"))

    found = check_many(embedded_services, recording, ids, seed=2013)

    assert found > 1000  # the comparisons are about many contacts, not empty answers


def test_hospital_ward_contacts_equal_the_raw_file(services: Services, tmp_path: Path) -> None:
    recording = hospital(services.clock.now())
    ids = load(services, recording, write_parquet_epoch(recording, tmp_path / "hospital.parquet"))

    found = check_many(services, recording, ids, seed=2010)

    assert found > 300


def test_the_shifted_recordings_sit_within_retention_and_keep_their_times(clock: FixedClock) -> None:
    now = clock.now()
    school, ward = thiers13(now), hospital(now)
    for recording in (school, ward):
        assert to_epoch(now) - 31 * 86400 < recording.first < recording.last < to_epoch(now) - 86400
    # Whole weeks: the school's first contact is still on a Monday at 12:00 in Marseilles.
    first = datetime.fromtimestamp(school.first, PARIS)
    assert (first.weekday(), first.hour) == (0, 12)
    assert {t % STEP for t, _, _ in school.lines + ward.lines} == {0}
