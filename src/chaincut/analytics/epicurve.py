"""The epidemic curve: daily cases by onset or report date, its trend, and the unlinked share.

Days are local calendar dates (the authority's reporting day), held as whole days since
1970-01-01 in int64 arrays. Cases come in as columns (:class:`CaseColumns`), one entry per
case or per group of cases that share every value (the store aggregates in SQL), each with
its count, so a million cases cost a few array passes.

What is counted: confirmed and probable cases (the CHP's daily counts included both);
suspected cases are counted apart (``suspected``), never on the curve. A case with no date on
the curve's axis (no onset: asymptomatic, pending or unknown; or no report date) is counted
apart (``undated``), and cases with no onset are also given by report date (``no_onset``),
so nothing is dropped silently: for every counted case, exactly one of the curve's days,
``before``, ``after`` or ``undated`` holds it.

Local cases are those infected in Hong Kong or probably so: classified ``local``, ``linked``,
``unlinked`` or ``possibly_local`` (the CHP's local cases, with those "epidemiologically
linked" and "possibly local"); ``imported`` and ``unknown`` (not yet classified) are not. The
unlinked share of a report day is the ``unlinked`` cases among that day's local cases: the
"local cases with unknown source" the CHP reported every day as the warning sign.

The trend is the exponential growth rate ``r`` (per day) of the daily counts over the last
days of the curve, fitted by Poisson regression of the counts on the day (log link, maximum
likelihood by Newton's method), with a Wald 95% interval scaled for overdispersion as in
quasi-Poisson regression (McCullagh and Nelder, Generalized Linear Models, 2nd ed. 1989,
s. 4.5 and 6.2: the Pearson chi-square over the residual degrees of freedom, never below 1).
The doubling time is ln 2 / r and the halving time ln 2 / -r (Wallinga and Lipsitch, Proc.
R. Soc. B 2007, on growth rates and doubling times). When the interval of ``r`` holds 0 the
epidemic shows no clear growth or decline and the time's interval is unbounded: it is
reported as such (``time_ci95`` is None), never as an infinity.

Counts by onset date are incomplete for the last days (cases whose onset was recent are not
all reported yet); a trend fitted on onset dates underestimates growth near the end.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from statistics import NormalDist
from typing import Any

import numpy as np
import numpy.typing as npt

from chaincut.domain import CaseClassification, CaseStatus

__all__ = [
    "CLASSIFICATIONS",
    "LOCAL_CLASSIFICATIONS",
    "NO_DAY",
    "STATUSES",
    "Axis",
    "CaseColumns",
    "CaseTally",
    "EpidemicCurve",
    "Growth",
    "Trend",
    "UnlinkedShare",
    "day_number",
    "epidemic_curve",
    "fit_growth",
    "trailing_average",
]

_EPOCH = date(1970, 1, 1)
NO_DAY = np.iinfo(np.int64).min
"""The day number of a missing date."""

CLASSIFICATIONS: tuple[CaseClassification, ...] = tuple(CaseClassification)
"""The classifications in the order of their codes in :class:`CaseColumns`."""
STATUSES: tuple[CaseStatus, ...] = tuple(CaseStatus)
"""The statuses in the order of their codes in :class:`CaseColumns`."""
LOCAL_CLASSIFICATIONS = frozenset(
    {
        CaseClassification.LOCAL,
        CaseClassification.LINKED,
        CaseClassification.UNLINKED,
        CaseClassification.POSSIBLY_LOCAL,
    }
)
"""Classifications of cases infected locally (or probably so): the unlinked share's denominator."""
_COUNTED = frozenset({CaseStatus.CONFIRMED, CaseStatus.PROBABLE})
_Z95 = NormalDist().inv_cdf(0.975)
_LN2 = math.log(2.0)


def day_number(day: date) -> int:
    """Whole days since 1970-01-01."""
    return (day - _EPOCH).days


def _day(number: int) -> date:
    return _EPOCH + timedelta(days=number)


class Axis(StrEnum):
    """Which date places a case on the curve."""

    ONSET = "onset"
    REPORT = "report"


class Trend(StrEnum):
    """What the growth rate's 95% interval says."""

    GROWTH = "growth"
    DECLINE = "decline"
    NO_CLEAR_TREND = "no clear growth or decline"
    INSUFFICIENT_DATA = "insufficient data"


@dataclass(frozen=True)
class CaseTally:
    """Cases sharing one onset date, report date, classification, status and district."""

    onset_on: date | None
    reported_on: date | None
    classification: CaseClassification
    status: CaseStatus
    district: str | None  # None: the case's district is unknown
    count: int


@dataclass(frozen=True)
class CaseColumns:
    """Cases as columns: entry i stands for ``count[i]`` cases sharing its values.

    ``onset`` and ``reported`` are day numbers (:func:`day_number`), :data:`NO_DAY` when
    missing; ``classification`` and ``status`` index :data:`CLASSIFICATIONS` and
    :data:`STATUSES`; ``district`` indexes ``districts``, -1 when unknown.
    """

    onset: npt.NDArray[np.int64]
    reported: npt.NDArray[np.int64]
    classification: npt.NDArray[np.int8]
    status: npt.NDArray[np.int8]
    district: npt.NDArray[np.int32]
    count: npt.NDArray[np.int64]
    districts: tuple[str, ...]

    def __post_init__(self) -> None:
        n = len(self.count)
        for name in ("onset", "reported", "classification", "status", "district"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name}: {len(getattr(self, name))} entries, expected {n}")
        if n and int(self.count.min()) < 0:
            raise ValueError("count: expected no negative count")

    @classmethod
    def from_tallies(cls, tallies: Iterable[CaseTally]) -> CaseColumns:
        """Columns from tallies (the store's aggregate rows); districts sorted by name."""
        rows = list(tallies)
        names = tuple(sorted({t.district for t in rows if t.district is not None}))
        index = {name: i for i, name in enumerate(names)}
        cls_code = {c: i for i, c in enumerate(CLASSIFICATIONS)}
        status_code = {s: i for i, s in enumerate(STATUSES)}
        return cls(
            onset=np.array(
                [NO_DAY if t.onset_on is None else day_number(t.onset_on) for t in rows], dtype=np.int64
            ),
            reported=np.array(
                [NO_DAY if t.reported_on is None else day_number(t.reported_on) for t in rows], dtype=np.int64
            ),
            classification=np.array([cls_code[t.classification] for t in rows], dtype=np.int8),
            status=np.array([status_code[t.status] for t in rows], dtype=np.int8),
            district=np.array(
                [-1 if t.district is None else index[t.district] for t in rows], dtype=np.int32
            ),
            count=np.array([t.count for t in rows], dtype=np.int64),
            districts=names,
        )

    def span(self, axis: Axis) -> tuple[date, date] | None:
        """The first and last date on ``axis`` among counted cases; None when no case has one."""
        days = self.onset if axis is Axis.ONSET else self.reported
        keep = (days != NO_DAY) & (self.count > 0) & _counted_mask(self.status)
        if not keep.any():
            return None
        return _day(int(days[keep].min())), _day(int(days[keep].max()))


@dataclass(frozen=True)
class Growth:
    """The exponential growth rate over the last days of the curve, and the doubling or halving time.

    ``rate_per_day`` is r in counts ~ exp(a + r t); ``time_days`` is the doubling time when
    r > 0 and the halving time when r < 0; ``time_ci95`` is None when r's interval holds 0
    (the time's interval is unbounded: no clear growth or decline) or when r is unknown.
    ``dispersion`` is the quasi-Poisson scale the interval was widened by (1: none).
    """

    first: date
    last: date
    cases: int
    trend: Trend
    rate_per_day: float | None
    rate_ci95: tuple[float, float] | None
    time_days: float | None
    time_ci95: tuple[float, float] | None
    dispersion: float | None

    def summary(self) -> str:
        """One line for people to read."""
        span = f"{self.first.isoformat()} to {self.last.isoformat()}, {self.cases:,} cases"
        if self.trend is Trend.INSUFFICIENT_DATA or self.rate_per_day is None or self.rate_ci95 is None:
            return f"insufficient data for a growth rate ({span})"
        lo, hi = self.rate_ci95
        rate = f"growth rate {self.rate_per_day:+.3f}/day (95% CI {lo:+.3f} to {hi:+.3f})"
        if self.trend is Trend.NO_CLEAR_TREND:
            return f"no clear growth or decline: {rate}; doubling or halving time unbounded ({span})"
        word = "doubling" if self.trend is Trend.GROWTH else "halving"
        assert self.time_days is not None
        assert self.time_ci95 is not None
        t_lo, t_hi = self.time_ci95
        return f"{word} time {self.time_days:.1f} days (95% CI {t_lo:.1f} to {t_hi:.1f}); {rate} ({span})"

    def as_dict(self) -> dict[str, Any]:
        """The trend as the API and ``--json`` give it (rates per day, times in days)."""
        return {
            "from": self.first.isoformat(),
            "to": self.last.isoformat(),
            "cases": self.cases,
            "trend": self.trend.value,
            "rate_per_day": self.rate_per_day,
            "rate_ci95": None if self.rate_ci95 is None else list(self.rate_ci95),
            "time_kind": {"growth": "doubling", "decline": "halving"}.get(self.trend.value),
            "time_days": self.time_days if self.time_ci95 is not None else None,
            "time_ci95": None if self.time_ci95 is None else list(self.time_ci95),
            "time_ci95_unbounded": self.rate_ci95 is not None and self.time_ci95 is None,
            "dispersion": self.dispersion,
            "summary": self.summary(),
        }


@dataclass(frozen=True)
class UnlinkedShare:
    """Per report day: local cases, the unlinked among them, and the share (None with no local case)."""

    local: npt.NDArray[np.int64]
    unlinked: npt.NDArray[np.int64]

    def share(self) -> list[float | None]:
        return [
            None if n == 0 else float(u) / float(n) for u, n in zip(self.unlinked, self.local, strict=True)
        ]


@dataclass(frozen=True)
class EpidemicCurve:
    """Daily counts of confirmed and probable cases from ``first`` to ``last`` (both included).

    Every array has one entry per day. ``average`` is the trailing mean of ``total`` over
    ``average_days`` days (the day and the ones before it, counted even before ``first``).
    ``before``/``after`` count cases dated outside the days, ``undated`` those with no date
    on the axis; ``no_onset`` gives the cases with no onset by report date over the days
    (``no_onset_total`` counts all of them, whatever their report date).
    """

    axis: Axis
    first: date
    last: date
    total: npt.NDArray[np.int64]
    by_classification: Mapping[CaseClassification, npt.NDArray[np.int64]]
    by_district: Mapping[str | None, npt.NDArray[np.int64]]
    average_days: int
    average: npt.NDArray[np.float64]
    before: int
    after: int
    undated: int
    no_onset_total: int
    no_onset: npt.NDArray[np.int64]
    suspected: int
    unlinked: UnlinkedShare
    growth: Growth

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=i) for i in range(len(self.total))]

    @property
    def counted(self) -> int:
        """Confirmed and probable cases, wherever they fall: on the days, before, after or undated."""
        return int(self.total.sum()) + self.before + self.after + self.undated

    def as_dict(self) -> dict[str, Any]:
        """The curve as ``GET /analytics/epicurve`` and ``chaincut analytics epicurve --json`` give it:
        one entry per day in every list, districts sorted by name (no district last)."""
        return {
            "axis": self.axis.value,
            "from": self.first.isoformat(),
            "to": self.last.isoformat(),
            "days": [d.isoformat() for d in self.days],
            "total": self.total.tolist(),
            "by_classification": {c.value: counts.tolist() for c, counts in self.by_classification.items()},
            "by_district": [
                {"district": name, "counts": counts.tolist()}
                for name, counts in sorted(
                    self.by_district.items(), key=lambda kv: (kv[0] is None, kv[0] or "")
                )
            ],
            "average_days": self.average_days,
            "average": [round(float(v), 6) for v in self.average],
            "counted": self.counted,
            "before": self.before,
            "after": self.after,
            "undated": self.undated,
            "no_onset": {"total": self.no_onset_total, "by_report_date": self.no_onset.tolist()},
            "suspected_not_counted": self.suspected,
            "unlinked_share": {
                "date": "report",
                "local": self.unlinked.local.tolist(),
                "unlinked": self.unlinked.unlinked.tolist(),
                "share": self.unlinked.share(),
            },
            "growth": self.growth.as_dict(),
        }


def _counted_mask(status: npt.NDArray[np.int8]) -> npt.NDArray[np.bool_]:
    codes = [i for i, s in enumerate(STATUSES) if s in _COUNTED]
    return np.isin(status, np.array(codes, dtype=np.int8))


def _daily(
    days: npt.NDArray[np.int64], weights: npt.NDArray[np.int64], start: int, length: int
) -> npt.NDArray[np.int64]:
    """Sum of ``weights`` by day over ``length`` days from day number ``start`` (outside: ignored)."""
    offset = days - start
    inside = (days != NO_DAY) & (offset >= 0) & (offset < length)
    out = np.bincount(offset[inside], weights=weights[inside], minlength=length)
    return np.rint(out).astype(np.int64)


def _by_group(
    days: npt.NDArray[np.int64],
    groups: npt.NDArray[np.int64],
    weights: npt.NDArray[np.int64],
    start: int,
    length: int,
    size: int,
) -> npt.NDArray[np.int64]:
    """A (size, length) table: ``weights`` summed by group and day."""
    offset = days - start
    inside = (days != NO_DAY) & (offset >= 0) & (offset < length)
    flat = groups[inside] * length + offset[inside]
    out = np.bincount(flat, weights=weights[inside], minlength=size * length)
    return np.rint(out).astype(np.int64).reshape(size, length)


def trailing_average(counts: npt.NDArray[np.int64], window_days: int) -> npt.NDArray[np.float64]:
    """The mean of each day and the ``window_days - 1`` before it.

    ``counts`` starts ``window_days - 1`` days before the first day wanted; the answer has
    ``len(counts) - window_days + 1`` entries.
    """
    if window_days < 1 or len(counts) < window_days:
        raise ValueError(f"window_days: expected 1 to {len(counts)}, got {window_days}")
    sums: npt.NDArray[np.int64] = np.cumsum(np.concatenate(([0], counts.astype(np.int64))))
    out: npt.NDArray[np.float64] = (sums[window_days:] - sums[:-window_days]).astype(np.float64)
    return out / float(window_days)


def epidemic_curve(
    cases: CaseColumns,
    *,
    axis: Axis,
    first: date,
    last: date,
    average_days: int,
    growth_days: int,
) -> EpidemicCurve:
    """The epidemic curve of ``cases`` from ``first`` to ``last`` on ``axis``.

    ``average_days`` is the trailing average's window and ``growth_days`` how many of the
    last days the growth rate is fitted over (both from the policy's ``[epidemic_curve]``).
    """
    if last < first:
        raise ValueError(f"last: {last.isoformat()} is before first {first.isoformat()}")
    if average_days < 1:
        raise ValueError(f"average_days: expected at least 1, got {average_days}")
    if growth_days < 2:
        raise ValueError(f"growth_days: expected at least 2, got {growth_days}")
    length = (last - first).days + 1
    start = day_number(first)
    counted = _counted_mask(cases.status)
    weight = np.where(counted, cases.count, 0).astype(np.int64)
    days = cases.onset if axis is Axis.ONSET else cases.reported
    dated = days != NO_DAY

    lead = max(average_days, growth_days) - 1  # days before ``first`` the average and the fit reach
    padded = _daily(days, weight, start - lead, length + lead)
    total = padded[lead:]
    by_cls = _by_group(
        days, cases.classification.astype(np.int64), weight, start, length, len(CLASSIFICATIONS)
    )
    ndistrict = len(cases.districts)
    district_code = np.where(cases.district < 0, ndistrict, cases.district).astype(np.int64)
    by_district = _by_group(days, district_code, weight, start, length, ndistrict + 1)

    no_onset_weight = np.where(cases.onset == NO_DAY, weight, 0).astype(np.int64)
    local_codes = np.array(
        [i for i, c in enumerate(CLASSIFICATIONS) if c in LOCAL_CLASSIFICATIONS], dtype=np.int8
    )
    local_weight = np.where(np.isin(cases.classification, local_codes), weight, 0).astype(np.int64)
    unlinked_code = CLASSIFICATIONS.index(CaseClassification.UNLINKED)
    unlinked_weight = np.where(cases.classification == unlinked_code, weight, 0).astype(np.int64)

    suspected_code = STATUSES.index(CaseStatus.SUSPECTED)
    return EpidemicCurve(
        axis=axis,
        first=first,
        last=last,
        total=total,
        by_classification={c: by_cls[i] for i, c in enumerate(CLASSIFICATIONS)},
        by_district={
            **{name: by_district[i] for i, name in enumerate(cases.districts)},
            None: by_district[ndistrict],
        },
        average_days=average_days,
        average=trailing_average(padded[lead - (average_days - 1) :], average_days),
        before=int(weight[dated & (days < start)].sum()),
        after=int(weight[dated & (days >= start + length)].sum()),
        undated=int(weight[~dated].sum()),
        no_onset_total=int(no_onset_weight.sum()),
        no_onset=_daily(cases.reported, no_onset_weight, start, length),
        suspected=int(cases.count[cases.status == suspected_code].sum()),
        unlinked=UnlinkedShare(
            local=_daily(cases.reported, local_weight, start, length),
            unlinked=_daily(cases.reported, unlinked_weight, start, length),
        ),
        growth=fit_growth(padded[len(padded) - growth_days :], last - timedelta(days=growth_days - 1)),
    )


def _poisson_fit(counts: npt.NDArray[np.float64]) -> tuple[float, float, float, float] | None:
    """Maximum-likelihood (a, r) of counts ~ Poisson(exp(a + r t)), t centred; with r's variance.

    Returns (a, r, var_r, pearson_chi2), or None when the maximum is not finite (all counts
    zero, or every case on the first day or every case on the last day).
    """
    n = len(counts)
    t = np.arange(n, dtype=np.float64) - (n - 1) / 2.0
    nonzero = np.flatnonzero(counts)
    if len(nonzero) == 0 or nonzero[0] == n - 1 or nonzero[-1] == 0:
        return None
    a, r = math.log(float(counts.mean())), 0.0

    def loglik(a_: float, r_: float) -> float:
        eta = a_ + r_ * t
        return float(np.dot(counts, eta) - np.exp(eta).sum())

    current = loglik(a, r)
    for _ in range(100):
        mu = np.exp(a + r * t)
        grad = np.array([float((counts - mu).sum()), float(np.dot(t, counts - mu))])
        info = np.array([[mu.sum(), np.dot(t, mu)], [np.dot(t, mu), np.dot(t * t, mu)]], dtype=np.float64)
        step = np.linalg.solve(info, grad)
        scale = 1.0
        while True:  # step halving keeps every iterate at least as likely as the last
            na, nr = a + scale * float(step[0]), r + scale * float(step[1])
            trial = loglik(na, nr)
            if trial >= current - 1e-12 or scale < 1e-8:
                break
            scale /= 2.0
        a, r, current = na, nr, trial
        if abs(scale * float(step[1])) < 1e-12 and abs(scale * float(step[0])) < 1e-12:
            break
    mu = np.exp(a + r * t)
    info = np.array([[mu.sum(), np.dot(t, mu)], [np.dot(t, mu), np.dot(t * t, mu)]], dtype=np.float64)
    var_r = float(np.linalg.inv(info)[1, 1])
    pearson = float((((counts - mu) ** 2) / mu).sum())
    if not (math.isfinite(r) and math.isfinite(var_r) and var_r > 0):
        return None
    return a, r, var_r, pearson


def fit_growth(counts: Sequence[int] | npt.NDArray[np.int64], first: date) -> Growth:
    """The growth rate of daily ``counts`` (the first on ``first``), its 95% interval and doubling time.

    Poisson regression of the counts on the day (maximum likelihood), a Wald interval for r
    widened by the quasi-Poisson dispersion when the counts vary more than Poisson counts do.
    """
    y = np.asarray(counts, dtype=np.float64)
    last = first + timedelta(days=max(len(y) - 1, 0))
    cases = int(y.sum())
    fitted = _poisson_fit(y) if len(y) >= 2 else None
    if fitted is None:
        return Growth(first, last, cases, Trend.INSUFFICIENT_DATA, None, None, None, None, None)
    _, r, var_r, pearson = fitted
    dispersion = max(1.0, pearson / (len(y) - 2)) if len(y) > 2 else 1.0
    half = _Z95 * math.sqrt(var_r * dispersion)
    lo, hi = r - half, r + half
    time = None if r == 0.0 else _LN2 / abs(r)
    if lo > 0.0:
        return Growth(first, last, cases, Trend.GROWTH, r, (lo, hi), time, (_LN2 / hi, _LN2 / lo), dispersion)
    if hi < 0.0:
        return Growth(
            first, last, cases, Trend.DECLINE, r, (lo, hi), time, (_LN2 / -lo, _LN2 / -hi), dispersion
        )
    return Growth(first, last, cases, Trend.NO_CLEAR_TREND, r, (lo, hi), time, None, dispersion)
