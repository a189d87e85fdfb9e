"""A case's timeline drawn on a time axis: one lane per venue, stays as bars, encounters as ticks.

Geometry only: positions in an SVG's user units, worked out here so that the template just draws
them (``case.html``), with nothing computed in the browser and no script. Times are the
authority's local time; a day's tick sits at its local midnight.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from chaincut.tracing.timeline import CaseTimeline, EncounterEntry, VisitEntry

__all__ = ["Bar", "Lane", "Tick", "TimelineChart", "timeline_chart"]

WIDTH = 1000
LABEL_WIDTH = 230  # the lanes' names, left of the plot
LANE_HEIGHT = 26
AXIS_HEIGHT = 30


@dataclass(frozen=True)
class Bar:
    """One stay (or one encounter) in a lane: from ``x`` for ``width`` units, and what it was."""

    x: float
    width: float
    start: datetime
    end: datetime
    uncertain: bool  # the leaving time was inferred, or the stay clipped to its type's longest


@dataclass(frozen=True)
class Lane:
    """A venue (or the encounters) and its bars; ``y`` is the lane's top."""

    key: str
    name: str
    other_name: str  # the name in the other language, for the bar's title
    y: float
    bars: tuple[Bar, ...]
    encounters: bool = False


@dataclass(frozen=True)
class Tick:
    """A local midnight on the axis."""

    x: float
    day: datetime


@dataclass(frozen=True)
class TimelineChart:
    width: int
    height: int
    plot_left: int
    lanes: tuple[Lane, ...]
    ticks: tuple[Tick, ...]
    start: datetime
    end: datetime


def timeline_chart(timeline: CaseTimeline, zone: ZoneInfo, *, chinese_first: bool) -> TimelineChart:
    """The chart of ``timeline`` over its window, venues named in the page's language first."""
    start, end = timeline.start.astimezone(zone), timeline.end.astimezone(zone)
    span = max((end - start).total_seconds(), 1.0)
    plot = WIDTH - LABEL_WIDTH - 10

    def x_of(at: datetime) -> float:
        seconds = min(max((at - start).total_seconds(), 0.0), span)
        return round(LABEL_WIDTH + plot * seconds / span, 1)

    def bar(begin: datetime, finish: datetime, uncertain: bool) -> Bar:
        left, right = x_of(begin), x_of(finish)
        return Bar(left, max(right - left, 2.0), begin.astimezone(zone), finish.astimezone(zone), uncertain)

    venues: dict[str, tuple[VisitEntry, list[Bar]]] = {}
    encounters: list[Bar] = []
    for entry in timeline.entries:
        if isinstance(entry, VisitEntry):
            left = entry.left_at if entry.left_at is not None else timeline.end
            _, bars = venues.setdefault(entry.venue_ref, (entry, []))
            bars.append(bar(entry.entered_at, left, entry.left_inferred or entry.clipped))
        elif isinstance(entry, EncounterEntry):
            encounters.append(bar(entry.start, entry.end, False))
    lanes: list[Lane] = []
    for ref, (first, bars) in venues.items():  # in the order the case first went there
        name, other = (first.name_zh, first.name_en) if chinese_first else (first.name_en, first.name_zh)
        lanes.append(Lane(ref, name or other, other, AXIS_HEIGHT + LANE_HEIGHT * len(lanes), tuple(bars)))
    if encounters:
        lanes.append(
            Lane("", "", "", AXIS_HEIGHT + LANE_HEIGHT * len(lanes), tuple(encounters), encounters=True)
        )
    ticks: list[Tick] = []
    day = datetime.combine(start.date() + timedelta(days=1), time(), tzinfo=zone)
    if start.time() == time():
        day = start
    while day <= end:
        ticks.append(Tick(x_of(day), day))
        day = datetime.combine(day.date() + timedelta(days=1), time(), tzinfo=zone)
    return TimelineChart(
        width=WIDTH,
        height=AXIS_HEIGHT + LANE_HEIGHT * max(len(lanes), 1) + 4,
        plot_left=LABEL_WIDTH,
        lanes=tuple(lanes),
        ticks=tuple(ticks),
        start=start,
        end=end,
    )
