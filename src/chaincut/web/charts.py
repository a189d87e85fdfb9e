"""Charts over days drawn as SVG by the server: positions worked out here, drawn by the templates.

A :class:`DayAxis` places the days from ``first`` to ``last`` across a plot and values up to a
maximum up its height; bars, lines (gaps where a value is missing) and bands (between two series)
become the numbers an ``<svg>`` needs. No script, no style attribute: classes carry the look.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

__all__ = ["DayAxis", "nice_ceiling"]

WIDTH = 720
HEIGHT = 180
LEFT = 44  # room for the values' labels
BOTTOM = 22  # room for the days' labels
TOP = 8


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5 or 5 times a power of ten that is at least ``value`` (1 for 0)."""
    if value <= 0:
        return 1.0
    base = 10.0 ** math.floor(math.log10(value))
    return next(step * base for step in (1, 2, 2.5, 5, 10) if step * base >= value)


@dataclass(frozen=True)
class DayAxis:
    """Days ``first`` to ``last`` across the plot, values 0 to ``top`` up it."""

    first: date
    last: date
    top: float

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def unit(self) -> float:
        return (WIDTH - LEFT - 4) / self.days

    def x(self, index: float) -> float:
        return round(LEFT + index * self.unit, 1)

    def y(self, value: float) -> float:
        return round(HEIGHT - BOTTOM - (HEIGHT - BOTTOM - TOP) * min(value, self.top) / self.top, 1)

    def bars(self, values: Sequence[float]) -> list[dict[str, float | date]]:
        width = round(max(self.unit * 0.8, 0.8), 1)
        return [
            {
                "x": self.x(i),
                "y": self.y(v),
                "width": width,
                "height": round(self.y(0) - self.y(v), 1),
                "day": self.first + timedelta(days=i),
                "value": v,
            }
            for i, v in enumerate(values)
            if v > 0
        ]

    def line(self, values: Sequence[float | None]) -> list[str]:
        """Polylines' points, one per run of days with a value (a missing value breaks the line)."""
        runs: list[str] = []
        points: list[str] = []
        for i, v in enumerate(values):
            if v is None:
                if points:
                    runs.append(" ".join(points))
                points = []
                continue
            points.append(f"{self.x(i + 0.5)},{self.y(v)}")
        if points:
            runs.append(" ".join(points))
        return runs

    def band(self, low: Sequence[float | None], high: Sequence[float | None]) -> list[str]:
        """Polygons' points between ``low`` and ``high``, one per run of days with both."""
        shapes: list[str] = []
        run: list[int] = []
        for i, (a, b) in enumerate([*zip(low, high, strict=True), (None, None)]):
            if a is not None and b is not None:
                run.append(i)
                continue
            if run:
                upper = [f"{self.x(j + 0.5)},{self.y(high[j] or 0)}" for j in run]
                lower = [f"{self.x(j + 0.5)},{self.y(low[j] or 0)}" for j in reversed(run)]
                shapes.append(" ".join(upper + lower))
            run = []
        return shapes

    def ticks(self, every_days: int = 14) -> list[dict[str, float | date]]:
        """The days labelled under the plot: the first, then every ``every_days``."""
        return [
            {"x": self.x(i), "day": self.first + timedelta(days=i)} for i in range(0, self.days, every_days)
        ]

    def levels(self, count: int = 4) -> list[dict[str, float]]:
        """Gridlines up the plot, from 0 to the top."""
        return [{"y": self.y(self.top * k / count), "value": self.top * k / count} for k in range(count + 1)]
