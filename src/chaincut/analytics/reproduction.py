"""The time-varying reproduction number R_t, from daily local and imported incidence.

The method of Cori et al. (2013, Am J Epidemiol 178:1505), as EpiEstim's ``estimate_R`` computes it
with ``method = "parametric_si"``, and with imported cases separated as Thompson et al. (2019,
Epidemics 29:100356) do: every case infects, but only local cases were infected locally.

- The serial interval is a gamma distribution offset by one day (mean ``mu`` days, standard
  deviation ``sigma``), discretised as EpiEstim's ``discr_si``: the weight of day ``s`` is
  ``w_s = ∫ (1 - |u - s|) g(u) du`` over ``s - 1 <= u <= s + 1``, with ``g`` the offset gamma's
  density; so ``w_0 = 0`` and the weights sum to one.
- The infectiousness of day t is ``Λ_t = Σ_{s>=1} w_s (local_{t-s} + imported_{t-s})``.
- For a window of ``τ`` days ending on day t, with a Gamma(shape ``a``, scale ``b``) prior
  (mean ``a b``, sd ``sqrt(a) b``), R over the window has the posterior
  ``Gamma(shape = a + Σ local, scale = 1 / (1/b + Σ Λ))``, both sums over the window's days.

Days are consecutive calendar days (the authority's reporting day); counts are whole cases.
A window is reported only where the posterior's coefficient of variation (``1 / sqrt(shape)``)
is below the policy's ``max_posterior_cv``; otherwise it says "insufficient data" and why. No
window ever holds a NaN.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import numpy.typing as npt

from chaincut.errors import InvalidInput
from chaincut.policy.model import ReproductionNumberRules

__all__ = [
    "CREDIBLE_LEVEL",
    "INSUFFICIENT_DATA",
    "RtPosterior",
    "RtWindow",
    "discretised_serial_interval",
    "estimate_rt",
    "infectiousness",
]

CREDIBLE_LEVEL = 0.95  # the credible interval reported: the 2.5% and 97.5% posterior quantiles
INSUFFICIENT_DATA = "insufficient data"

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class RtPosterior:
    """The posterior of R over one window: its mean, standard deviation, CV and 95% credible interval."""

    mean: float
    sd: float
    cv: float
    lo: float  # 2.5% quantile
    hi: float  # 97.5% quantile
    shape: float
    scale: float


@dataclass(frozen=True)
class RtWindow:
    """One sliding window, ``start`` to ``end`` (both included), with R_t or the reason there is none.

    ``posterior`` is None exactly when ``reason`` says why the window has insufficient data.
    ``infectiousness`` is ``Σ Λ_t`` over the window (expected secondary cases per unit of R).
    """

    start: date
    end: date
    local_cases: int
    imported_cases: int
    infectiousness: float
    posterior: RtPosterior | None
    reason: str | None
    reason_code: str | None = None
    """Why there is no estimate, as a code: ``series_start``, ``no_infectors`` or ``too_few_cases``."""

    @property
    def status(self) -> str:
        return "estimated" if self.posterior is not None else INSUFFICIENT_DATA


def discretised_serial_interval(mean_days: float, sd_days: float, days: int) -> FloatArray:
    """The serial interval's weights ``w_0 .. w_{days-1}`` (``w_0 = 0``), as EpiEstim's ``discr_si``.

    The serial interval is 1 day plus a gamma with mean ``mean_days - 1`` and standard deviation
    ``sd_days`` (Cori et al. 2013, web appendix 11), and each whole day ``s`` takes the triangular
    share ``1 - |u - s|`` of the density at ``u`` within a day of it. The weights beyond ``days - 1``
    are left out, so the sum falls short of one by the tail beyond then.
    """
    from scipy import stats  # loaded when used: it takes half a second

    if not mean_days > 1.0:
        raise InvalidInput(
            f"the serial interval's mean must exceed 1 day (a gamma offset by one day), got {mean_days}",
            field="serial_interval_mean_days",
        )
    if not sd_days > 0.0:
        raise InvalidInput(
            f"the serial interval's sd must be positive, got {sd_days}", field="serial_interval_sd_days"
        )
    if days < 1:
        raise InvalidInput(f"expected at least one day of weights, got {days}", field="days")
    shape = ((mean_days - 1.0) / sd_days) ** 2
    scale = sd_days**2 / (mean_days - 1.0)
    # With X the gamma (before the offset) and m = s - 1, w_s = E[max(0, 1 - |X - m|)]:
    # the triangle's two sides in terms of F (the CDF) and M(x) = E[X; X <= x] = shape*scale*F_{shape+1}(x).
    m = np.arange(days, dtype=np.float64) - 1.0
    points = np.stack([m - 1.0, m, m + 1.0])
    cdf = stats.gamma.cdf(np.clip(points, 0.0, None), shape, scale=scale)
    partial = shape * scale * stats.gamma.cdf(np.clip(points, 0.0, None), shape + 1.0, scale=scale)
    cdf[points <= 0.0] = 0.0
    partial[points <= 0.0] = 0.0
    rising = (1.0 - m) * (cdf[1] - cdf[0]) + (partial[1] - partial[0])
    falling = (1.0 + m) * (cdf[2] - cdf[1]) - (partial[2] - partial[1])
    weights: FloatArray = np.maximum(rising + falling, 0.0)
    weights[0] = 0.0
    return weights


def infectiousness(local: FloatArray, imported: FloatArray, weights: FloatArray) -> FloatArray:
    """``Λ_t = Σ_{s>=1} w_s (local_{t-s} + imported_{t-s})`` for each day t of the series."""
    total = np.asarray(local, dtype=np.float64) + np.asarray(imported, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64).copy()
    w[0] = 0.0
    out: FloatArray = np.convolve(total, w)[: total.size]
    return out


def _counts(values: Sequence[int] | npt.NDArray[np.integer], field: str) -> npt.NDArray[np.int64]:
    array = np.asarray(values)
    if array.ndim != 1:
        raise InvalidInput(
            f"{field}: expected one count per day, got an array of shape {array.shape}", field=field
        )
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise InvalidInput(f"{field}: expected whole numbers of cases, got {array.dtype}", field=field)
    if array.size and int(array.min()) < 0:
        day = int(np.argmax(array < 0))
        raise InvalidInput(f"{field}: day {day} has a negative count ({int(array[day])})", field=field)
    return array.astype(np.int64)


def estimate_rt(
    first_day: date,
    local: Sequence[int] | npt.NDArray[np.integer],
    imported: Sequence[int] | npt.NDArray[np.integer],
    rules: ReproductionNumberRules,
) -> tuple[RtWindow, ...]:
    """R_t over each window ending on each day of the series, the first day being ``first_day``.

    ``local[i]`` and ``imported[i]`` are the cases with onset on ``first_day + i`` days. Every day
    gets a window ending on it; these say "insufficient data" with the reason: a window that would
    reach back to the series' first day or before it (EpiEstim starts its first window on the second
    day, since nothing in the series came before the first day's cases), one with no infectiousness
    (no earlier cases), and one whose posterior CV is not below ``rules.max_posterior_cv``.
    """
    from scipy import stats  # loaded when used: it takes half a second

    loc = _counts(local, "local")
    imp = _counts(imported, "imported")
    if loc.size != imp.size:
        raise InvalidInput(
            f"local has {loc.size} days but imported has {imp.size}: expected one count of each per day",
            field="imported",
        )
    days = loc.size
    tau = rules.window_days
    if days == 0:
        return ()
    weights = discretised_serial_interval(
        rules.serial_interval_mean_days, rules.serial_interval_sd_days, days
    )
    lam = infectiousness(loc.astype(np.float64), imp.astype(np.float64), weights)
    a = (rules.prior_mean / rules.prior_sd) ** 2
    b = rules.prior_sd**2 / rules.prior_mean

    def window_sums(x: npt.NDArray[np.float64] | npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        c = np.concatenate([[0.0], np.cumsum(x, dtype=np.float64)])
        ends = np.arange(days)
        starts = np.maximum(ends - tau + 1, 0)
        out: npt.NDArray[np.float64] = c[ends + 1] - c[starts]
        return out

    local_sums = window_sums(loc)
    imported_sums = window_sums(imp)
    lam_sums = window_sums(lam)
    shape = a + local_sums
    scale = 1.0 / (1.0 / b + lam_sums)
    tail = (1.0 - CREDIBLE_LEVEL) / 2.0
    lo: FloatArray = np.asarray(stats.gamma.ppf(tail, shape, scale=scale), dtype=np.float64)
    hi: FloatArray = np.asarray(stats.gamma.ppf(1.0 - tail, shape, scale=scale), dtype=np.float64)
    cv = 1.0 / np.sqrt(shape)
    needed = _local_cases_needed(a, rules.max_posterior_cv)
    windows: list[RtWindow] = []
    for end in range(days):
        start = end - tau + 1
        first, last = first_day + timedelta(days=start), first_day + timedelta(days=end)
        n_local, n_imported, lam_sum = int(local_sums[end]), int(imported_sums[end]), float(lam_sums[end])
        reason: str | None = None
        code: str | None = None
        if start < 1:
            code = "series_start"
            reason = (
                f"the series begins on {first_day.isoformat()}: a {tau}-day window needs days after its "
                f"first, with cases before them that could infect (first window ends "
                f"{(first_day + timedelta(days=tau)).isoformat()})"
            )
        elif lam_sum <= 0.0:
            code = "no_infectors"
            reason = "no cases before the window that could have infected its cases"
        elif not cv[end] < rules.max_posterior_cv:
            code = "too_few_cases"
            reason = (
                f"{n_local} local case(s) in the window: posterior CV {cv[end]:.2f} is not below "
                f"{rules.max_posterior_cv:g} (needs at least {needed} local cases)"
            )
        posterior = None
        if reason is None:
            posterior = RtPosterior(
                mean=float(shape[end] * scale[end]),
                sd=float(np.sqrt(shape[end]) * scale[end]),
                cv=float(cv[end]),
                lo=float(lo[end]),
                hi=float(hi[end]),
                shape=float(shape[end]),
                scale=float(scale[end]),
            )
        windows.append(
            RtWindow(
                start=first,
                end=last,
                local_cases=n_local,
                imported_cases=n_imported,
                infectiousness=lam_sum,
                posterior=posterior,
                reason=reason,
                reason_code=code,
            )
        )
    return tuple(windows)


def _local_cases_needed(prior_shape: float, max_cv: float) -> int:
    """The fewest local cases in a window whose posterior CV, ``1/sqrt(a + n)``, is below ``max_cv``."""
    n = max(0, int(np.ceil(1.0 / max_cv**2 - prior_shape)))
    while 1.0 / np.sqrt(prior_shape + n) >= max_cv:
        n += 1
    return n
