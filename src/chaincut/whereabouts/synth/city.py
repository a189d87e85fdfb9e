"""Build a whole synthetic city and write it to Parquet, streaming day by day."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from chaincut.whereabouts.synth import labels, writer
from chaincut.whereabouts.synth.clock import service_days
from chaincut.whereabouts.synth.encounters import day_encounters
from chaincut.whereabouts.synth.model import City
from chaincut.whereabouts.synth.params import CityParameters, CitySummary, ProgressCallback
from chaincut.whereabouts.synth.population import (
    build_households,
    build_people,
    household_tables,
    people_tables,
)
from chaincut.whereabouts.synth.routines import build_routines
from chaincut.whereabouts.synth.venue_types import type_code
from chaincut.whereabouts.synth.venues import build_venues
from chaincut.whereabouts.synth.visits import VisitGenerator

__all__ = ["synthesize_city"]

# One independent random stream per stage (numpy SeedSequence entropy
# [seed, stage, day]), so changing how one stage draws leaves the others alone.
_VENUES, _HOUSEHOLDS, _PEOPLE, _ROUTINES, _VISITS, _ENCOUNTERS = range(1, 7)


def _stream(seed: int, *stage: int) -> np.random.Generator:
    return np.random.default_rng([seed, *stage])


def _silent(stage: str, done: int, total: int) -> None:
    del stage, done, total


def synthesize_city(
    params: CityParameters,
    out_dir: Path,
    *,
    end: datetime,
    progress: ProgressCallback | None = None,
) -> CitySummary:
    """Generate a synthetic Hong Kong-like city and write its five Parquet tables.

    The simulated days are the ``params.days`` x 24 hours ending at ``end``
    (timezone-aware); no visit or encounter starts before that window or ends
    after ``end``.  The same parameters and ``end`` give byte-identical files.
    ``progress(stage, done, total)`` is called as the work advances, with
    stages "venues", "households", "people", "routines", then
    "visits day d/D" and "encounters day d/D" (done and total count days).
    Days run 05:00-05:00 Hong Kong time, so D is ``params.days + 1`` unless
    ``end`` falls at 05:00 there: the first and last days are then partial.
    Raises ``InvalidInput`` when ``end`` is naive.
    """
    days = service_days(end, params.days)
    report = progress or _silent
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {name: out_dir / f"{name}.parquet" for name in writer.TABLE_NAMES}
    seed = params.seed

    report("venues", 0, params.venues)
    venues = build_venues(params.venues, _stream(seed, _VENUES))
    with writer.open_writer(files["venues"], writer.venues_schema(), ["type", "district"]) as out:
        out.write_table(venues.table)
    report("venues", params.venues, params.venues)

    rng = _stream(seed, _HOUSEHOLDS)
    households = build_households(params.people, venues, rng)
    people = build_people(households, rng)
    addresses: list[Any] = []
    with writer.open_writer(files["households"], writer.households_schema(), ["district"]) as out:
        for table, address in household_tables(households, venues, rng):
            out.write_table(table)
            addresses.append(address)
            report("households", sum(len(a) for a in addresses), households.count)
    with writer.open_writer(files["people"], writer.people_schema(), ["district"]) as out:
        done = 0
        for table in people_tables(people, households, pa.chunked_array(addresses), _stream(seed, _PEOPLE)):
            out.write_table(table)
            done += table.num_rows
            report("people", done, people.count)
    del addresses

    report("routines", 0, 1)
    routines = build_routines(people, venues, _stream(seed, _ROUTINES))
    report("routines", 1, 1)
    city = City(venues=venues, households=households, people=people, routines=routines)

    people_refs = labels.padded("P", np.arange(1, people.count + 1), labels.ref_width(people.count, 7))
    venue_refs = venues.table.column("ref").combine_chunks()
    is_taxi = venues.types == type_code("taxi")
    generator = VisitGenerator(city, params.checkins_per_day)
    visit_count = encounter_count = 0
    with (
        writer.open_writer(files["visits"], writer.visits_schema(), ["venue", "source"]) as visits_out,
        writer.open_writer(files["encounters"], writer.encounters_schema(), []) as enc_out,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="synth-writer") as pool,
    ):
        pending: Future[None] | None = None
        for day in days:
            label = f"day {day.number}/{len(days)}"
            report(f"visits {label}", day.number - 1, len(days))
            whole_day = generator.day(day, _stream(seed, _VISITS, day.number))
            visits = whole_day.within(day.window_start, day.window_end)
            report(f"encounters {label}", day.number - 1, len(days))
            # Encounters come from the whole day's co-presence, then are cut
            # to the window like the visits, so cut days add up to whole ones.
            encounters = day_encounters(
                city,
                day,
                whole_day,
                params.daily_encounters,
                _stream(seed, _ENCOUNTERS, day.number),
            )
            del whole_day
            visit_table = writer.visits_table(visits, people_refs, venue_refs, is_taxi)
            encounter_table = writer.encounters_table(encounters, people_refs)
            visit_count += visit_table.num_rows
            encounter_count += encounter_table.num_rows
            del visits, encounters
            # Compress and write this day on the worker thread while the next
            # day is drawn; at most one day waits, which bounds memory.
            if pending is not None:
                pending.result()
            pending = pool.submit(_write_day, visits_out, visit_table, enc_out, encounter_table)
            del visit_table, encounter_table
        if pending is not None:
            pending.result()
    report(f"encounters day {len(days)}/{len(days)}", len(days), len(days))

    return CitySummary(
        people=people.count,
        households=households.count,
        venues=venues.count,
        visits=visit_count,
        encounters=encounter_count,
        files=files,
    )


def _write_day(visits_out: Any, visit_table: Any, enc_out: Any, encounter_table: Any) -> None:
    writer.write_day(visits_out, visit_table)
    writer.write_day(enc_out, encounter_table)
