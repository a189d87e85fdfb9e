"""The serial interval: days from an infector's symptom onset to its infectee's.

A pair's serial interval is ``infectee onset - infector onset`` in whole days. It can be
negative when the infectee falls ill first (pre-symptomatic transmission), and such
values are kept: dropping them biases the mean upwards (Du et al., Emerg Infect Dis
26:1341, 2020; Ali et al., Science 369:1106, 2020).

Pairs are grouped into windows of the infector's onset date (both ends included), as
Ali et al. did to show the interval shortening as isolation got faster. For each window:
the number of pairs, the sample mean and standard deviation (``n - 1`` denominator), a
percentile bootstrap 95% interval of the mean (Efron & Tibshirani, An Introduction to
the Bootstrap, 1993, ch. 13: resample the pairs with replacement, take the 2.5th and
97.5th percentiles of the resampled means; drawn as multinomial counts of the
distinct intervals, which is the same resampling), and distributions fitted by maximum
likelihood with ``scipy.stats``: always a normal (the only one of these that admits
negative intervals), and where every interval in the window is positive, a gamma and a
lognormal as well (location fixed at 0). ``fit`` is the one with the highest
log-likelihood (all have two free parameters, so this is also the lowest AIC).

A window with no pairs, or with one (the standard deviation is undefined), says so in
``note`` and leaves the undefined figures ``None``; nothing is ever NaN.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import numpy.typing as npt

from chaincut.errors import InvalidInput

__all__ = [
    "WINDOWS_EXPECTED",
    "DistributionFit",
    "OnsetPair",
    "OnsetWindow",
    "SerialIntervalEstimate",
    "estimate_serial_interval",
    "fit_serial_interval",
    "pairs_with_onsets",
    "parse_onset_windows",
    "serial_interval_days",
]


@dataclass(frozen=True)
class OnsetPair:
    """One infector-infectee pair by their symptom-onset dates (local calendar dates)."""

    infector_onset: date
    infectee_onset: date

    @property
    def interval_days(self) -> int:
        """The serial interval in days: infectee onset minus infector onset (may be negative)."""
        return (self.infectee_onset - self.infector_onset).days


@dataclass(frozen=True)
class OnsetWindow:
    """A range of infector onset dates, both ends included."""

    first: date
    last: date

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise ValueError(f"window ends ({self.last}) before it starts ({self.first})")

    def holds(self, day: date) -> bool:
        return self.first <= day <= self.last


WINDOWS_EXPECTED = (
    "comma-separated FROM:TO ranges of ISO dates, e.g. 2020-01-09:2020-01-22,2020-01-23:2020-01-29"
)
_WINDOW = re.compile(r"(\d{4}-\d{2}-\d{2}):(\d{4}-\d{2}-\d{2})")


def parse_onset_windows(text: str, *, field: str) -> list[OnsetWindow]:
    """Windows of infector onset from ``FROM:TO[,FROM:TO...]`` (both ends included).

    Bad text raises ``InvalidInput`` naming ``field`` (``--windows`` on the command line,
    ``windows`` in a query), the part at fault and what was expected.
    """
    windows = []
    for part in text.split(","):
        match = _WINDOW.fullmatch(part.strip())
        if match is None:
            raise InvalidInput(f"{field}: expected {WINDOWS_EXPECTED}; got {part.strip()!r}", field=field)
        try:
            first, last = date.fromisoformat(match[1]), date.fromisoformat(match[2])
        except ValueError as exc:
            raise InvalidInput(
                f"{field}: {part.strip()!r}: {exc}; expected real calendar dates", field=field
            ) from exc
        if last < first:
            raise InvalidInput(
                f"{field}: {part.strip()!r} ends before it starts; expected FROM on or before TO", field=field
            )
        windows.append(OnsetWindow(first, last))
    return windows


@dataclass(frozen=True)
class DistributionFit:
    """A distribution fitted to serial intervals (days) by maximum likelihood.

    ``family`` is ``normal`` (parameters ``mean``, ``sd``), ``gamma`` (``shape``,
    ``scale``; location fixed at 0) or ``lognormal`` (``meanlog``, ``sdlog``: the mean
    and standard deviation of the log interval; location fixed at 0).
    """

    family: str
    parameters: tuple[tuple[str, float], ...]
    log_likelihood: float

    def as_dict(self) -> dict[str, object]:
        return {
            "family": self.family,
            "parameters": dict(self.parameters),
            "log_likelihood": self.log_likelihood,
            "method": "maximum likelihood (scipy.stats)",
        }


@dataclass(frozen=True)
class SerialIntervalEstimate:
    """The serial interval of the pairs whose infector fell ill within one window.

    ``mean``, ``sd`` and ``ci95`` are in days; ``mean`` is None only when ``n`` is 0,
    ``sd`` and ``ci95`` when ``n`` is below 2; ``note`` then says why.
    """

    window: OnsetWindow
    n: int
    mean: float | None
    sd: float | None
    ci95: tuple[float, float] | None
    fits: tuple[DistributionFit, ...]
    note: str | None
    resamples: int

    @property
    def fit(self) -> DistributionFit | None:
        """The fitted distribution with the highest log-likelihood, if any was fitted."""
        return max(self.fits, key=lambda f: f.log_likelihood) if self.fits else None

    def as_dict(self) -> dict[str, object]:
        best = self.fit
        out: dict[str, object] = {
            "from": self.window.first.isoformat(),
            "to": self.window.last.isoformat(),
            "n": self.n,
            "mean": self.mean,
            "sd": self.sd,
            "ci95": None if self.ci95 is None else [self.ci95[0], self.ci95[1]],
            "ci95_method": f"percentile bootstrap of the mean, {self.resamples} resamples of the pairs",
            "fit": None if best is None else best.as_dict(),
            "fits": [f.as_dict() for f in self.fits],
        }
        if self.note is not None:
            out["note"] = self.note
        return out


def serial_interval_days(pairs: Iterable[OnsetPair]) -> npt.NDArray[np.int64]:
    """The serial intervals of ``pairs`` in days, in their order."""
    return np.fromiter((p.interval_days for p in pairs), dtype=np.int64)


def pairs_with_onsets(
    links: Iterable[tuple[date | None, date | None]],
) -> tuple[list[OnsetPair], int]:
    """Pairs from (infector onset, infectee onset) links, and how many lacked either onset.

    A link without both onsets has no serial interval; it is left out and counted.
    """
    pairs: list[OnsetPair] = []
    left_out = 0
    for infector_onset, infectee_onset in links:
        if infector_onset is None or infectee_onset is None:
            left_out += 1
        else:
            pairs.append(OnsetPair(infector_onset, infectee_onset))
    return pairs, left_out


def fit_serial_interval(intervals_days: npt.ArrayLike) -> tuple[DistributionFit, ...]:
    """Distributions fitted to serial intervals (days) by maximum likelihood (``scipy.stats``).

    Always a normal, which admits negative intervals; where every interval is positive,
    also a gamma and a lognormal with location 0. Nothing is fitted to fewer than two
    intervals or to intervals that are all equal (the fit would be degenerate).
    """
    from scipy import stats  # loaded when used: it takes half a second

    x = np.asarray(intervals_days, dtype=np.float64)
    if x.size < 2 or float(np.ptp(x)) == 0.0:
        return ()
    mu, sigma = stats.norm.fit(x)
    fits = [
        DistributionFit(
            "normal",
            (("mean", float(mu)), ("sd", float(sigma))),
            float(np.sum(stats.norm.logpdf(x, mu, sigma))),
        )
    ]
    if bool(np.all(x > 0)):
        shape, _, scale = stats.gamma.fit(x, floc=0)
        fits.append(
            DistributionFit(
                "gamma",
                (("shape", float(shape)), ("scale", float(scale))),
                float(np.sum(stats.gamma.logpdf(x, shape, 0, scale))),
            )
        )
        sdlog, _, exp_meanlog = stats.lognorm.fit(x, floc=0)
        fits.append(
            DistributionFit(
                "lognormal",
                (("meanlog", math.log(float(exp_meanlog))), ("sdlog", float(sdlog))),
                float(np.sum(stats.lognorm.logpdf(x, sdlog, 0, exp_meanlog))),
            )
        )
    return tuple(fits)


def _bootstrap_ci(
    x: npt.NDArray[np.float64], rng: np.random.Generator, resamples: int
) -> tuple[float, float]:
    """Percentile bootstrap 95% interval of the mean of ``x``, resampling its entries.

    Drawing ``n`` entries with replacement gives each distinct value a count that is
    multinomial with the value's share as its probability, so one multinomial draw per
    resample is the same bootstrap at a cost in distinct values (a few dozen whole days),
    not in pairs.
    """
    n = x.size
    values, counts = np.unique(x, return_counts=True)
    drawn = rng.multinomial(n, counts / n, size=resamples)
    means = (drawn @ values) / n
    lo, hi = np.percentile(means, [2.5, 97.5])
    return float(lo), float(hi)


def _estimate(
    window: OnsetWindow, x: npt.NDArray[np.float64], rng: np.random.Generator, resamples: int
) -> SerialIntervalEstimate:
    n = int(x.size)
    if n == 0:
        return SerialIntervalEstimate(
            window, 0, None, None, None, (), "no pairs with the infector's onset in this window", resamples
        )
    mean = float(x.mean())
    if n == 1:
        return SerialIntervalEstimate(
            window,
            1,
            mean,
            None,
            None,
            (),
            "one pair only: the standard deviation and the confidence interval are undefined",
            resamples,
        )
    sd = float(x.std(ddof=1))
    fits = fit_serial_interval(x)
    note = None if fits else "every interval is the same: no distribution fitted"
    return SerialIntervalEstimate(
        window, n, mean, sd, _bootstrap_ci(x, rng, resamples), fits, note, resamples
    )


def estimate_serial_interval(
    pairs: Sequence[OnsetPair],
    windows: Sequence[OnsetWindow],
    *,
    rng: np.random.Generator,
    resamples: int,
) -> list[SerialIntervalEstimate]:
    """The serial interval for each window of infector onset, in the windows' order.

    A pair belongs to every window holding its infector's onset (windows may overlap).
    The bootstrap draws from ``rng``, window after window, ``resamples`` times each; the
    same generator state gives the same intervals.
    """
    if resamples < 1:
        raise ValueError("resamples must be at least 1")
    onsets = np.array([p.infector_onset.toordinal() for p in pairs], dtype=np.int64)
    intervals = serial_interval_days(pairs).astype(np.float64)
    out = []
    for window in windows:
        inside = (onsets >= window.first.toordinal()) & (onsets <= window.last.toordinal())
        out.append(_estimate(window, intervals[inside], rng, resamples))
    return out
