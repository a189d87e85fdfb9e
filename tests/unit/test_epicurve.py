"""The epidemic curve against brute force, its growth fit against scipy and against simulations."""

from __future__ import annotations

import json
import math
from collections import Counter
from datetime import date, timedelta

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize, stats

from chaincut.analytics import Axis, CaseColumns, CaseTally, Trend, epidemic_curve, fit_growth
from chaincut.analytics.epicurve import LOCAL_CLASSIFICATIONS, trailing_average
from chaincut.cli.analytics import epicurve_json
from chaincut.domain import CaseClassification, CaseStatus
from chaincut.errors import PolicyError
from chaincut.policy import EpidemicCurveRules
from chaincut.policy.loading import default_policy_text, parse_policy

START = date(2022, 2, 1)

dates = st.one_of(st.none(), st.integers(min_value=0, max_value=25).map(lambda d: START + timedelta(days=d)))
tallies = st.builds(
    CaseTally,
    onset_on=dates,
    reported_on=dates,
    classification=st.sampled_from(list(CaseClassification)),
    status=st.sampled_from(list(CaseStatus)),
    district=st.sampled_from([None, "Kwun Tong", "Sha Tin", "Yau Tsim Mong"]),
    count=st.just(1),
)


def aggregated(cases: list[CaseTally]) -> list[CaseTally]:
    """The cases grouped as the store's GROUP BY gives them."""
    groups = Counter((c.onset_on, c.reported_on, c.classification, c.status, c.district) for c in cases)
    return [CaseTally(*key, count=n) for key, n in groups.items()]


@settings(max_examples=150, deadline=None)
@given(
    cases=st.lists(tallies, max_size=60),
    first_offset=st.integers(min_value=0, max_value=20),
    length=st.integers(min_value=1, max_value=12),
    axis=st.sampled_from(list(Axis)),
    window=st.integers(min_value=1, max_value=9),
)
def test_every_case_is_counted_once_as_a_loop_counts_it(
    cases: list[CaseTally], first_offset: int, length: int, axis: Axis, window: int
) -> None:
    first = START + timedelta(days=first_offset)
    last = first + timedelta(days=length - 1)
    days = [first + timedelta(days=i) for i in range(length)]
    curve = epidemic_curve(
        CaseColumns.from_tallies(cases), axis=axis, first=first, last=last, average_days=window, growth_days=5
    )
    grouped = epidemic_curve(
        CaseColumns.from_tallies(aggregated(cases)),
        axis=axis,
        first=first,
        last=last,
        average_days=window,
        growth_days=5,
    )

    counted = [c for c in cases if c.status in (CaseStatus.CONFIRMED, CaseStatus.PROBABLE)]

    def on(c: CaseTally) -> date | None:
        return c.onset_on if axis is Axis.ONSET else c.reported_on

    assert curve.days == days
    for i, day in enumerate(days):
        assert curve.total[i] == sum(1 for c in counted if on(c) == day)
        for cls in CaseClassification:
            assert curve.by_classification[cls][i] == sum(
                1 for c in counted if on(c) == day and c.classification is cls
            )
        for district, counts in curve.by_district.items():
            assert counts[i] == sum(1 for c in counted if on(c) == day and c.district == district)
        assert curve.no_onset[i] == sum(1 for c in counted if c.onset_on is None and c.reported_on == day)
        local = [c for c in counted if c.reported_on == day and c.classification in LOCAL_CLASSIFICATIONS]
        unlinked = [c for c in local if c.classification is CaseClassification.UNLINKED]
        assert (curve.unlinked.local[i], curve.unlinked.unlinked[i]) == (len(local), len(unlinked))
        assert curve.unlinked.share()[i] == (len(unlinked) / len(local) if local else None)
        window_days = [day - timedelta(days=k) for k in range(window)]
        assert curve.average[i] == pytest.approx(sum(1 for c in counted if on(c) in window_days) / window)
    assert curve.before == sum(1 for c in counted if (d := on(c)) is not None and d < first)
    assert curve.after == sum(1 for c in counted if (d := on(c)) is not None and d > last)
    assert curve.undated == sum(1 for c in counted if on(c) is None)
    assert curve.no_onset_total == sum(1 for c in counted if c.onset_on is None)
    assert curve.suspected == sum(1 for c in cases if c.status is CaseStatus.SUSPECTED)
    # every counted case is on one day, before, after or undated; by class and by district alike
    assert curve.counted == len(counted)
    assert sum(int(v.sum()) for v in curve.by_classification.values()) == int(curve.total.sum())
    assert sum(int(v.sum()) for v in curve.by_district.values()) == int(curve.total.sum())
    assert None in curve.by_district  # the unknown district is a category of its own, always there
    assert epicurve_json(grouped) == epicurve_json(curve)


@settings(max_examples=100, deadline=None)
@given(counts=st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=40), data=st.data())
def test_the_trailing_average_is_a_direct_loop(counts: list[int], data: st.DataObject) -> None:
    window = data.draw(st.integers(min_value=1, max_value=len(counts)))
    got = trailing_average(np.array(counts, dtype=np.int64), window)
    expected = [sum(counts[i - window + 1 : i + 1]) / window for i in range(window - 1, len(counts))]
    assert got.tolist() == pytest.approx(expected)


def test_a_window_longer_than_the_counts_is_refused() -> None:
    with pytest.raises(ValueError, match="window_days"):
        trailing_average(np.array([1, 2], dtype=np.int64), 3)


def scipy_poisson_fit(counts: npt.NDArray[np.float64]) -> tuple[float, float, float]:
    """Restated: maximise sum(y log mu - mu) over (a, r), mu = exp(a + r t), t = 0..n-1 (not centred).

    Returns r, the Wald variance of r from the Fisher information at the maximum, and the
    quasi-Poisson dispersion (Pearson chi-square over n - 2, at least 1).
    """
    t = np.arange(len(counts), dtype=np.float64)

    def negative(theta: npt.NDArray[np.float64]) -> float:
        eta = theta[0] + theta[1] * t
        return float(-(counts * eta - np.exp(eta)).sum())

    start = np.array([math.log(counts.mean() + 0.5), 0.0])
    best = optimize.minimize(negative, start, method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-12})
    a, r = best.x
    mu = np.exp(a + r * t)
    design = np.column_stack([np.ones_like(t), t])
    information = design.T @ (design * mu[:, None])
    variance = float(np.linalg.inv(information)[1, 1])
    dispersion = max(1.0, float(((counts - mu) ** 2 / mu).sum()) / (len(counts) - 2))
    return float(r), variance, dispersion


@pytest.mark.parametrize(
    ("rate", "base", "seed"),
    [(0.07, 30.0, 1), (-0.05, 400.0, 2), (0.0, 12.0, 3), (0.2, 2.0, 4), (0.03, 5000.0, 5)],
)
def test_the_growth_rate_is_the_poisson_maximum_likelihood_scipy_finds(
    rate: float, base: float, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    counts = rng.poisson(base * np.exp(rate * np.arange(14))).astype(np.float64)
    growth = fit_growth(counts.astype(np.int64), START)
    r, variance, dispersion = scipy_poisson_fit(counts)
    assert growth.rate_per_day == pytest.approx(r, abs=1e-6)
    assert growth.dispersion == pytest.approx(dispersion, rel=1e-4)
    assert growth.rate_ci95 is not None
    half = stats.norm.ppf(0.975) * math.sqrt(variance * dispersion)
    assert growth.rate_ci95 == pytest.approx((r - half, r + half), abs=1e-6)
    assert (growth.first, growth.last, growth.cases) == (START, START + timedelta(days=13), int(counts.sum()))
    lo, hi = growth.rate_ci95
    if lo > 0:
        assert growth.trend is Trend.GROWTH
        assert growth.time_days == pytest.approx(math.log(2) / r, rel=1e-5)
        assert growth.time_ci95 == pytest.approx((math.log(2) / hi, math.log(2) / lo), rel=1e-5)
    elif hi < 0:
        assert growth.trend is Trend.DECLINE
        assert growth.time_days == pytest.approx(math.log(2) / -r, rel=1e-5)
        assert growth.time_ci95 == pytest.approx((math.log(2) / -lo, math.log(2) / -hi), rel=1e-5)
    else:
        assert growth.trend is Trend.NO_CLEAR_TREND
        assert growth.time_ci95 is None


@pytest.mark.parametrize(("rate", "base"), [(0.08, 20.0), (-0.06, 300.0), (0.02, 1000.0), (0.15, 3.0)])
def test_the_interval_holds_the_true_rate_of_simulated_growth(rate: float, base: float) -> None:
    rng = np.random.default_rng(20220301)
    runs, inside = 400, 0
    for _ in range(runs):
        counts = rng.poisson(base * np.exp(rate * np.arange(14)))
        growth = fit_growth(counts, START)
        assert growth.rate_ci95 is not None
        inside += growth.rate_ci95[0] <= rate <= growth.rate_ci95[1]
    assert inside / runs >= 0.90


def test_overdispersed_counts_widen_the_interval_enough() -> None:
    """Negative binomial counts (variance mu + mu^2/20) are overdispersed; quasi-Poisson keeps coverage."""
    rng = np.random.default_rng(7)
    rate, size, runs, inside = 0.05, 20.0, 400, 0
    for _ in range(runs):
        mu = 200.0 * np.exp(rate * np.arange(14))
        counts = rng.negative_binomial(size, size / (size + mu))
        growth = fit_growth(counts, START)
        assert growth.rate_ci95 is not None and growth.dispersion is not None
        inside += growth.rate_ci95[0] <= rate <= growth.rate_ci95[1]
    assert inside / runs >= 0.88


def test_a_flat_series_shows_no_clear_growth_or_decline() -> None:
    growth = fit_growth([40] * 14, START)
    assert growth.trend is Trend.NO_CLEAR_TREND
    assert growth.rate_ci95 is not None
    assert growth.rate_ci95[0] < 0 < growth.rate_ci95[1]
    assert growth.time_ci95 is None
    assert "no clear growth or decline" in growth.summary()
    assert "unbounded" in growth.summary()


@pytest.mark.parametrize("counts", [[0] * 14, [0] * 13 + [9], [9] + [0] * 13, [3]])
def test_counts_with_no_finite_rate_are_insufficient_data(counts: list[int]) -> None:
    growth = fit_growth(counts, START)
    assert growth.trend is Trend.INSUFFICIENT_DATA
    assert (growth.rate_per_day, growth.rate_ci95, growth.time_days, growth.time_ci95) == (
        None,
        None,
        None,
        None,
    )
    assert growth.summary().startswith("insufficient data")


def test_a_single_case_inside_the_window_still_has_a_finite_rate() -> None:
    growth = fit_growth([0, 0, 0, 1, 0, 0, 0], START)
    assert growth.rate_per_day is not None and math.isfinite(growth.rate_per_day)
    assert growth.trend is Trend.NO_CLEAR_TREND


def test_the_json_holds_no_infinity_or_nan_whatever_the_trend() -> None:
    flat = [CaseTally(START + timedelta(days=d), START + timedelta(days=d), CaseClassification.LOCAL,
                      CaseStatus.CONFIRMED, None, 30) for d in range(20)]  # fmt: skip
    for tallies, trend in ((flat, Trend.NO_CLEAR_TREND), ([], Trend.INSUFFICIENT_DATA)):
        curve = epidemic_curve(
            CaseColumns.from_tallies(tallies),
            axis=Axis.ONSET,
            first=START,
            last=START + timedelta(days=19),
            average_days=7,
            growth_days=14,
        )
        out = epicurve_json(curve)
        text = json.dumps(out, allow_nan=False)  # raises on an infinity or a NaN
        assert out["growth"]["trend"] == trend.value
        assert out["growth"]["time_ci95"] is None
        assert out["growth"]["time_days"] is None
        assert json.loads(text)["by_district"] == [{"district": None, "counts": [30 if tallies else 0] * 20}]
    assert out["unlinked_share"]["share"] == [None] * 20  # no local case: no share, never 0/0


def test_the_growth_fit_reaches_before_the_first_day_shown() -> None:
    growing = [
        CaseTally(
            START + timedelta(days=d), None, CaseClassification.LOCAL, CaseStatus.CONFIRMED, "Sha Tin", n
        )
        for d, n in enumerate(np.rint(50 * np.exp(0.1 * np.arange(30))).astype(int).tolist())
    ]
    curve = epidemic_curve(
        CaseColumns.from_tallies(growing),
        axis=Axis.ONSET,
        first=START + timedelta(days=27),
        last=START + timedelta(days=29),
        average_days=7,
        growth_days=14,
    )
    assert curve.growth.first == START + timedelta(days=16)
    assert curve.growth.rate_per_day == pytest.approx(0.1, abs=0.005)
    assert curve.growth.trend is Trend.GROWTH
    assert curve.undated == 0 and curve.no_onset_total == 0
    assert curve.average[0] == pytest.approx(sum(np.rint(50 * np.exp(0.1 * np.arange(21, 28)))) / 7)


def test_bad_ranges_are_refused() -> None:
    columns = CaseColumns.from_tallies([])
    with pytest.raises(ValueError, match="last"):
        epidemic_curve(columns, axis=Axis.ONSET, first=START, last=START - timedelta(days=1), average_days=7,
                       growth_days=14)  # fmt: skip
    with pytest.raises(ValueError, match="count"):
        CaseColumns.from_tallies(
            [CaseTally(START, START, CaseClassification.LOCAL, CaseStatus.CONFIRMED, None, -1)]
        )


def test_the_policy_refuses_a_bad_epidemic_curve_window_naming_its_key() -> None:
    text = default_policy_text()
    assert parse_policy(text).epidemic_curve == EpidemicCurveRules(average_window_days=7, growth_fit_days=14)
    bad = text.replace("average_window_days = 7", "average_window_days = 0", 1).replace(
        "growth_fit_days = 14", 'growth_fit_days = "two weeks"', 1
    )
    with pytest.raises(PolicyError) as caught:
        parse_policy(bad)
    problems = " | ".join(caught.value.problems)
    assert "epidemic_curve.average_window_days" in problems
    assert "epidemic_curve.growth_fit_days: expected a whole number of days" in problems
    missing = text.replace("growth_fit_days = 14\n", "", 1)
    with pytest.raises(PolicyError, match="epidemic_curve.growth_fit_days: missing"):
        parse_policy(missing)
