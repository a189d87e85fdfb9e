"""What transmission chains are inferred from (:mod:`chaincut.analytics.chains`): the cases, the
evidence that put two of them together, and the serial interval density that ranks candidates.

Cases and evidence come as row objects (:class:`ChainCase`, :class:`Together`) or directly as
columns (:class:`ChainCaseColumns`, :class:`EvidenceColumns`), which a store fills from one query
each; rows turned into columns list what they could not place (an unknown case) rather than drop it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from chaincut.analytics.epicurve import (
    CLASSIFICATIONS,
    NO_DAY,
    day_number,
)
from chaincut.analytics.serial_interval import DistributionFit
from chaincut.clock import to_epoch
from chaincut.domain import CaseClassification

__all__ = [
    "ALWAYS_FROM",
    "ALWAYS_UNTIL",
    "EVIDENCE_KINDS",
    "NO_CASE",
    "ChainCase",
    "ChainCaseColumns",
    "EvidenceColumns",
    "EvidenceKind",
    "SerialIntervalDensity",
    "Together",
]

NO_CASE = -1
"""The index (or key) of no case: a root's infector, a case with no confirmed infector."""
ALWAYS_FROM = -(2**62)
"""The start, in epoch seconds, of evidence that holds at any time (a household)."""
ALWAYS_UNTIL = 2**62
"""The end, in epoch seconds, of evidence that holds at any time."""
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


class EvidenceKind(StrEnum):
    """What put two cases together."""

    STAY = "shared_stay"  # the same venue, stays overlapping in time
    HOUSEHOLD = "household"
    ENCOUNTER = "encounter"
    SHARED_DAYS = "shared_days"  # a date-level (coarse) exposure at the same setting


EVIDENCE_KINDS: tuple[EvidenceKind, ...] = tuple(EvidenceKind)
"""The kinds in the order their codes (0, 1, ...) stand for in :class:`EvidenceColumns`."""


@dataclass(frozen=True)
class SerialIntervalDensity:
    """The serial interval distribution that ranks candidate infectors (days, may be negative).

    ``family`` is ``normal`` (``mean_days``, ``sd_days``) or ``shifted_gamma``: the interval
    plus ``shift_days`` follows a gamma with mean ``mean_days + shift_days`` and standard
    deviation ``sd_days`` (shape ``((mean + shift) / sd)^2``, scale ``sd^2 / (mean + shift)``),
    so intervals above ``-shift_days`` have a positive density.
    """

    family: str
    mean_days: float
    sd_days: float
    shift_days: float = 0.0

    def __post_init__(self) -> None:
        if self.family not in ("normal", "shifted_gamma"):
            raise ValueError(f"family: expected 'normal' or 'shifted_gamma', got {self.family!r}")
        if not (math.isfinite(self.mean_days) and math.isfinite(self.sd_days) and self.sd_days > 0):
            raise ValueError(f"sd_days: expected a positive number, got {self.sd_days!r}")
        if self.family == "normal" and self.shift_days != 0.0:
            raise ValueError("shift_days: a normal density takes no shift")
        if self.family == "shifted_gamma" and not self.mean_days + self.shift_days > 0:
            raise ValueError("mean_days + shift_days: expected a positive gamma mean")

    @classmethod
    def normal(cls, mean_days: float, sd_days: float) -> SerialIntervalDensity:
        return cls("normal", mean_days, sd_days)

    @classmethod
    def shifted_gamma(cls, mean_days: float, sd_days: float, shift_days: float) -> SerialIntervalDensity:
        return cls("shifted_gamma", mean_days, sd_days, shift_days)

    @classmethod
    def from_fit(cls, fit: DistributionFit) -> SerialIntervalDensity:
        """The density of a fit from :func:`~chaincut.analytics.serial_interval.fit_serial_interval`.

        A normal fit stays normal; a gamma fit (location 0) is a shifted gamma with no shift.
        """
        p = dict(fit.parameters)
        if fit.family == "normal":
            return cls.normal(p["mean"], p["sd"])
        if fit.family == "gamma":
            return cls.shifted_gamma(p["shape"] * p["scale"], math.sqrt(p["shape"]) * p["scale"], 0.0)
        raise ValueError(f"fit: a {fit.family} fit is not supported; use a normal or gamma fit")

    @property
    def gamma_shape(self) -> float:
        return ((self.mean_days + self.shift_days) / self.sd_days) ** 2

    @property
    def gamma_scale(self) -> float:
        return self.sd_days**2 / (self.mean_days + self.shift_days)

    def log_density(self, interval_days: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        """The log density at each interval (days); ``-inf`` outside a shifted gamma's support."""
        x = interval_days.astype(np.float64)
        if self.family == "normal":
            z = (x - self.mean_days) / self.sd_days
            out: npt.NDArray[np.float64] = -0.5 * z * z - math.log(self.sd_days) - _LOG_SQRT_2PI
            return out
        k, theta = self.gamma_shape, self.gamma_scale
        y = x + self.shift_days
        inside = y > 0
        safe = np.where(inside, y, 1.0)
        logs = (k - 1.0) * np.log(safe) - safe / theta - k * math.log(theta) - math.lgamma(k)
        return np.where(inside, logs, -np.inf)

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "family": self.family,
            "mean_days": self.mean_days,
            "sd_days": self.sd_days,
        }
        if self.family == "shifted_gamma":
            out |= {"shift_days": self.shift_days, "shape": self.gamma_shape, "scale": self.gamma_scale}
        return out


@dataclass(frozen=True, slots=True)
class ChainCase:
    """A case as chains see it.

    ``onset`` is None when asymptomatic or not known; ``infector`` is the reference of the
    infector a tracer confirmed (``linked_case``), if any; ``window`` is the case's infectious
    window (aware datetimes, both ends included) from :func:`chaincut.tracing.windows.infectious_window`.
    """

    ref: str
    onset: date | None
    reported: date
    classification: CaseClassification
    infector: str | None
    window: tuple[datetime, datetime]


@dataclass(frozen=True, slots=True)
class Together:
    """Evidence that two cases were together; build it with one of the class methods."""

    case_a: str
    case_b: str
    kind: EvidenceKind
    setting_id: str | None = None
    a_stay: tuple[datetime, datetime] | None = None  # a's stay (a shared stay), or the encounter
    b_stay: tuple[datetime, datetime] | None = None
    days: tuple[date, date] | None = None  # a date-level exposure's first and last day

    @classmethod
    def stay(
        cls,
        case_a: str,
        case_b: str,
        setting_id: str,
        a_stay: tuple[datetime, datetime],
        b_stay: tuple[datetime, datetime],
    ) -> Together:
        """Both cases stayed at one venue (``setting_id``): each one's stay, start and end."""
        return cls(case_a, case_b, EvidenceKind.STAY, setting_id, a_stay, b_stay)

    @classmethod
    def household(cls, case_a: str, case_b: str) -> Together:
        return cls(case_a, case_b, EvidenceKind.HOUSEHOLD)

    @classmethod
    def encounter(cls, case_a: str, case_b: str, start: datetime, end: datetime) -> Together:
        return cls(case_a, case_b, EvidenceKind.ENCOUNTER, None, (start, end), (start, end))

    @classmethod
    def shared_days(cls, case_a: str, case_b: str, setting_id: str, first: date, last: date) -> Together:
        """Both cases were at ``setting_id`` on the days ``first`` to ``last`` (no times known)."""
        return cls(case_a, case_b, EvidenceKind.SHARED_DAYS, setting_id, days=(first, last))


@dataclass(frozen=True)
class ChainCaseColumns:
    """Cases as columns, one entry per case.

    ``key`` identifies a case (the store's case id, or any unique integers) and is what
    ``infector`` (:data:`NO_CASE` when none is confirmed) and the evidence name; ``refs`` are
    the references shown. ``onset`` and ``reported`` are day numbers (days since 1970-01-01,
    :func:`~chaincut.analytics.epicurve.day_number`; ``onset`` is :data:`NO_DAY` when missing);
    ``classification`` indexes :data:`~chaincut.analytics.epicurve.CLASSIFICATIONS`;
    ``window_start`` and ``window_end`` are the infectious window in epoch seconds.
    """

    key: npt.NDArray[np.int64]
    refs: tuple[str, ...]
    onset: npt.NDArray[np.int64]
    reported: npt.NDArray[np.int64]
    classification: npt.NDArray[np.int8]
    infector: npt.NDArray[np.int64]
    window_start: npt.NDArray[np.int64]
    window_end: npt.NDArray[np.int64]

    def __post_init__(self) -> None:
        n = len(self.key)
        for name in ("refs", "onset", "reported", "classification", "infector", "window_start", "window_end"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name}: {len(getattr(self, name))} entries, expected {n}")
        if n and bool((self.reported == NO_DAY).any()):
            i = int(np.flatnonzero(self.reported == NO_DAY)[0])
            raise ValueError(f"reported: case {self.refs[i]!r} has no report date")

    @classmethod
    def from_cases(cls, cases: Iterable[ChainCase]) -> tuple[ChainCaseColumns, dict[str, int]]:
        """Columns from rows, keyed by position; with the keys of infector refs that are not cases.

        An unknown infector ref gets a key past the cases' (the second value maps such refs to
        their keys), so :func:`infer_chains` reports it by name.
        """
        rows = list(cases)
        index: dict[str, int] = {}
        for i, c in enumerate(rows):
            if c.ref in index:
                raise ValueError(f"case {c.ref!r} is given twice")
            index[c.ref] = i
        unknown: dict[str, int] = {}
        infector = np.full(len(rows), NO_CASE, dtype=np.int64)
        for i, c in enumerate(rows):
            if c.infector is not None:
                k = index.get(c.infector)
                if k is None:
                    k = unknown.setdefault(c.infector, len(rows) + len(unknown))
                infector[i] = k
        code = {c: i for i, c in enumerate(CLASSIFICATIONS)}
        columns = cls(
            key=np.arange(len(rows), dtype=np.int64),
            refs=tuple(c.ref for c in rows),
            onset=np.array(
                [NO_DAY if c.onset is None else day_number(c.onset) for c in rows], dtype=np.int64
            ),
            reported=np.array([day_number(c.reported) for c in rows], dtype=np.int64),
            classification=np.array([code[c.classification] for c in rows], dtype=np.int8),
            infector=infector,
            window_start=np.array([to_epoch(c.window[0]) for c in rows], dtype=np.int64),
            window_end=np.array([to_epoch(c.window[1]) for c in rows], dtype=np.int64),
        )
        return columns, unknown


@dataclass(frozen=True)
class EvidenceColumns:
    """Evidence rows as columns: row r puts cases ``a[r]`` and ``b[r]`` (case keys) together.

    ``kind`` indexes :class:`EvidenceKind` (in its order); ``setting`` indexes ``settings``
    (-1: none). Times are epoch seconds: ``a_start..a_end`` and ``b_start..b_end`` are the two
    stays (for an encounter both are the encounter; for a date-level exposure both run from
    local midnight of the first day to the last second of the last; for a household both are
    :data:`ALWAYS_FROM` to :data:`ALWAYS_UNTIL`). The two are together over the intersection.
    """

    a: npt.NDArray[np.int64]
    b: npt.NDArray[np.int64]
    kind: npt.NDArray[np.int8]
    setting: npt.NDArray[np.int32]
    a_start: npt.NDArray[np.int64]
    a_end: npt.NDArray[np.int64]
    b_start: npt.NDArray[np.int64]
    b_end: npt.NDArray[np.int64]
    settings: tuple[str, ...]

    def __post_init__(self) -> None:
        n = len(self.a)
        for name in ("b", "kind", "setting", "a_start", "a_end", "b_start", "b_end"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name}: {len(getattr(self, name))} entries, expected {n}")

    @classmethod
    def from_rows(
        cls, rows: Iterable[Together], keys: Mapping[str, int], zone: ZoneInfo
    ) -> tuple[EvidenceColumns, dict[str, int]]:
        """Columns from rows, naming cases by ``keys``; refs not in it get fresh keys (returned)."""
        unknown: dict[str, int] = {}
        first_free = max(keys.values(), default=-1) + 1

        def key(ref: str) -> int:
            k = keys.get(ref)
            if k is None:
                k = unknown.setdefault(ref, first_free + len(unknown))
            return k

        setting_index: dict[str, int] = {}
        midnight: dict[date, int] = {}

        def local_midnight(day: date) -> int:
            if day not in midnight:
                midnight[day] = to_epoch(datetime.combine(day, time(0), tzinfo=zone))
            return midnight[day]

        cols: dict[str, list[int]] = {n: [] for n in ("a", "b", "kind", "setting", "as", "ae", "bs", "be")}
        for i, row in enumerate(rows):
            if row.kind is EvidenceKind.HOUSEHOLD:
                spans = ((ALWAYS_FROM, ALWAYS_UNTIL), (ALWAYS_FROM, ALWAYS_UNTIL))
            elif row.kind is EvidenceKind.SHARED_DAYS:
                if row.days is None or row.setting_id is None:
                    raise ValueError(f"evidence row {i}: a date-level exposure needs a setting and its days")
                span = (local_midnight(row.days[0]), local_midnight(row.days[1] + timedelta(days=1)) - 1)
                spans = (span, span)
            else:
                if row.a_stay is None or row.b_stay is None:
                    raise ValueError(f"evidence row {i}: a {row.kind.value} needs its start and end")
                spans = (
                    (to_epoch(row.a_stay[0]), to_epoch(row.a_stay[1])),
                    (to_epoch(row.b_stay[0]), to_epoch(row.b_stay[1])),
                )
            cols["a"].append(key(row.case_a))
            cols["b"].append(key(row.case_b))
            cols["kind"].append(EVIDENCE_KINDS.index(row.kind))
            sid = (
                -1 if row.setting_id is None else setting_index.setdefault(row.setting_id, len(setting_index))
            )
            cols["setting"].append(sid)
            cols["as"].append(spans[0][0])
            cols["ae"].append(spans[0][1])
            cols["bs"].append(spans[1][0])
            cols["be"].append(spans[1][1])
        columns = cls(
            a=np.array(cols["a"], dtype=np.int64),
            b=np.array(cols["b"], dtype=np.int64),
            kind=np.array(cols["kind"], dtype=np.int8),
            setting=np.array(cols["setting"], dtype=np.int32),
            a_start=np.array(cols["as"], dtype=np.int64),
            a_end=np.array(cols["ae"], dtype=np.int64),
            b_start=np.array(cols["bs"], dtype=np.int64),
            b_end=np.array(cols["be"], dtype=np.int64),
            settings=tuple(setting_index),
        )
        return columns, unknown
