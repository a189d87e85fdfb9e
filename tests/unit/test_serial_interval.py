"""The serial interval by window of infector onset, against independent restatements.

Oracles: the ``statistics`` module (mean, stdev), a window filter written out by hand,
closed-form maximum-likelihood estimates (normal, lognormal), ``scipy.stats``'s own fits
and bootstrap, and a simulation with a known mean for the bootstrap's coverage.
"""

from __future__ import annotations

import json
import math
import statistics
from datetime import date, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from chaincut.analytics import (
    OnsetPair,
    OnsetWindow,
    estimate_serial_interval,
    fit_serial_interval,
    pairs_with_onsets,
    serial_interval_days,
)

DAY0 = date(2020, 1, 9)


def pair(infector_day: int, interval: int) -> OnsetPair:
    onset = DAY0 + timedelta(days=infector_day)
    return OnsetPair(onset, onset + timedelta(days=interval))


def rng(seed: int = 7) -> np.random.Generator:
    return np.random.default_rng(seed)


def no_nan(value: object) -> None:
    """JSON of the estimate has no NaN or infinity anywhere (strict JSON refuses them)."""
    json.dumps(value, allow_nan=False)


pairs_strategy = st.lists(
    st.tuples(st.integers(0, 30), st.integers(-10, 25)).map(lambda t: pair(*t)), max_size=60
)
windows_strategy = st.lists(
    st.tuples(st.integers(-2, 32), st.integers(0, 10)).map(
        lambda t: OnsetWindow(DAY0 + timedelta(days=t[0]), DAY0 + timedelta(days=t[0] + t[1]))
    ),
    min_size=1,
    max_size=4,
)


@settings(max_examples=60, deadline=None)
@given(pairs_strategy, windows_strategy)
def test_each_window_matches_a_brute_force_restatement(
    pairs: list[OnsetPair], windows: list[OnsetWindow]
) -> None:
    estimates = estimate_serial_interval(pairs, windows, rng=rng(), resamples=200)
    assert [e.window for e in estimates] == windows
    for window, e in zip(windows, estimates, strict=True):
        inside = [
            (p.infectee_onset - p.infector_onset).days
            for p in pairs
            if window.first <= p.infector_onset <= window.last
        ]
        assert e.n == len(inside)
        if not inside:
            assert e.mean is None and e.sd is None and e.ci95 is None and e.note
        else:
            assert e.mean == pytest.approx(statistics.mean(inside), abs=1e-9)
        if len(inside) >= 2:
            assert e.sd == pytest.approx(statistics.stdev(inside), abs=1e-9)
            assert e.ci95 is not None
            assert min(inside) <= e.ci95[0] <= e.ci95[1] <= max(inside)
        elif inside:
            assert e.sd is None and e.ci95 is None and e.note
        no_nan(e.as_dict())


def test_negative_intervals_are_kept() -> None:
    # Pre-symptomatic transmission: the infectee fell ill 3 and 1 days before the infector.
    pairs = [pair(0, -3), pair(1, -1), pair(2, 4), pair(3, 6)]
    assert list(serial_interval_days(pairs)) == [-3, -1, 4, 6]
    (e,) = estimate_serial_interval(
        pairs, [OnsetWindow(DAY0, DAY0 + timedelta(days=3))], rng=rng(), resamples=500
    )
    assert e.n == 4
    assert e.mean == pytest.approx(statistics.mean([-3, -1, 4, 6]))
    assert e.sd == pytest.approx(statistics.stdev([-3, -1, 4, 6]))
    # Only the normal admits negatives: no gamma or lognormal is fitted.
    assert [f.family for f in e.fits] == ["normal"]


def test_an_empty_window_says_so_and_has_no_nan() -> None:
    window = OnsetWindow(date(2020, 3, 1), date(2020, 3, 7))
    (e,) = estimate_serial_interval([pair(0, 5), pair(1, 6)], [window], rng=rng(), resamples=100)
    assert (e.n, e.mean, e.sd, e.ci95, e.fit) == (0, None, None, None, None)
    assert e.note is not None and "no pairs" in e.note
    shown = e.as_dict()
    no_nan(shown)
    assert shown["mean"] is None and shown["note"] == e.note
    assert (shown["from"], shown["to"]) == ("2020-03-01", "2020-03-07")


def test_one_pair_has_a_mean_but_no_sd_and_says_why() -> None:
    (e,) = estimate_serial_interval([pair(0, -2)], [OnsetWindow(DAY0, DAY0)], rng=rng(), resamples=100)
    assert (e.n, e.mean, e.sd, e.ci95) == (1, -2.0, None, None)
    assert e.note is not None and "one pair" in e.note
    no_nan(e.as_dict())


def test_intervals_all_equal_fit_nothing_and_say_so() -> None:
    (e,) = estimate_serial_interval(
        [pair(0, 4), pair(1, 4)], [OnsetWindow(DAY0, DAY0 + timedelta(1))], rng=rng(), resamples=100
    )
    assert (e.n, e.mean, e.sd, e.ci95, e.fits) == (2, 4.0, 0.0, (4.0, 4.0), ())
    assert e.note is not None
    no_nan(e.as_dict())


def test_windows_include_both_ends() -> None:
    pairs = [pair(0, 1), pair(5, 2), pair(6, 3)]
    (e,) = estimate_serial_interval(
        pairs, [OnsetWindow(DAY0, DAY0 + timedelta(days=5))], rng=rng(), resamples=100
    )
    assert e.n == 2 and e.mean == pytest.approx(1.5)


def test_a_window_that_ends_before_it_starts_is_refused() -> None:
    with pytest.raises(ValueError, match="before it starts"):
        OnsetWindow(date(2020, 1, 2), date(2020, 1, 1))


def test_links_without_both_onsets_are_left_out_and_counted() -> None:
    d = date(2020, 1, 10)
    pairs, left_out = pairs_with_onsets([(d, d + timedelta(3)), (None, d), (d, None), (None, None), (d, d)])
    assert [p.interval_days for p in pairs] == [3, 0]
    assert left_out == 3


# --- the bootstrap ----------------------------------------------------------------------------------


def sample_pairs(seed: int, n: int, mean: float, sd: float) -> list[OnsetPair]:
    draws = np.random.default_rng(seed).normal(mean, sd, size=n).round().astype(int)
    return [pair(i % 10, int(v)) for i, v in enumerate(draws)]


WINDOW = OnsetWindow(DAY0, DAY0 + timedelta(days=9))


def test_the_bootstrap_repeats_with_a_seed_and_holds_the_mean() -> None:
    pairs = sample_pairs(1, 80, 5.0, 4.0)
    (a,) = estimate_serial_interval(pairs, [WINDOW], rng=rng(11), resamples=2000)
    (b,) = estimate_serial_interval(pairs, [WINDOW], rng=rng(11), resamples=2000)
    (c,) = estimate_serial_interval(pairs, [WINDOW], rng=rng(12), resamples=2000)
    assert a.ci95 == b.ci95
    assert a.ci95 != c.ci95
    assert a.ci95 is not None and a.mean is not None
    assert a.ci95[0] < a.mean < a.ci95[1]


def test_the_bootstrap_agrees_with_scipy_percentile_bootstrap() -> None:
    pairs = sample_pairs(2, 150, 4.0, 5.0)
    x = np.array([p.interval_days for p in pairs], dtype=float)
    (e,) = estimate_serial_interval(pairs, [WINDOW], rng=rng(3), resamples=20_000)
    theirs = stats.bootstrap(
        (x,), np.mean, method="percentile", n_resamples=20_000, rng=np.random.default_rng(4)
    )
    assert e.ci95 is not None
    # Different draws: the ends agree to the Monte Carlo error of 20,000 resamples (about 0.02 days here).
    assert e.ci95[0] == pytest.approx(theirs.confidence_interval.low, abs=0.06)
    assert e.ci95[1] == pytest.approx(theirs.confidence_interval.high, abs=0.06)


def test_the_bootstrap_interval_covers_a_known_mean_about_95_percent_of_the_time() -> None:
    """A simulation with a known truth: intervals uniform on -3..13 days, so the true mean is 5.

    The percentile bootstrap under-covers a little at n = 40, so the band is 88% to 99%.
    """
    truth = 5.0
    source = np.random.default_rng(2024)
    generator = rng(5)
    trials, covered = 300, 0
    for _ in range(trials):
        pairs = [pair(0, int(v)) for v in source.integers(-3, 14, size=40)]
        (e,) = estimate_serial_interval(pairs, [OnsetWindow(DAY0, DAY0)], rng=generator, resamples=1000)
        assert e.ci95 is not None
        covered += e.ci95[0] <= truth <= e.ci95[1]
    assert 0.88 <= covered / trials <= 0.99


# --- the fitted distributions ----------------------------------------------------------------------


def test_the_normal_fit_is_the_closed_form_maximum_likelihood() -> None:
    x = [-2, 0, 3, 5, 5, 7, 12]
    (normal,) = fit_serial_interval(x)
    params = dict(normal.parameters)
    assert normal.family == "normal"
    assert params["mean"] == pytest.approx(statistics.mean(x))
    assert params["sd"] == pytest.approx(statistics.pstdev(x))  # ML: the n denominator
    expected = sum(
        -0.5 * math.log(2 * math.pi * params["sd"] ** 2) - (v - params["mean"]) ** 2 / (2 * params["sd"] ** 2)
        for v in x
    )
    assert normal.log_likelihood == pytest.approx(expected)


def test_positive_intervals_also_get_gamma_and_lognormal() -> None:
    x = np.random.default_rng(9).gamma(2.5, 2.0, size=400).round() + 1
    fits = {f.family: f for f in fit_serial_interval(x)}
    assert set(fits) == {"normal", "gamma", "lognormal"}
    logs = np.log(x)
    lognormal = dict(fits["lognormal"].parameters)
    # Closed-form lognormal MLE with location 0: the mean and population sd of the logs.
    assert lognormal["meanlog"] == pytest.approx(logs.mean(), rel=1e-4)
    assert lognormal["sdlog"] == pytest.approx(logs.std(), rel=1e-4)
    gamma = dict(fits["gamma"].parameters)
    shape, _, scale = stats.gamma.fit(x, floc=0)
    assert (gamma["shape"], gamma["scale"]) == pytest.approx((shape, scale))
    # A maximum: moving either parameter lowers the likelihood.
    at = fits["gamma"].log_likelihood
    for s, c in ((shape * 1.05, scale), (shape * 0.95, scale), (shape, scale * 1.05), (shape, scale * 0.95)):
        assert stats.gamma.logpdf(x, s, 0, c).sum() < at
    # The chosen fit is the most likely one.
    (e,) = estimate_serial_interval(
        [pair(0, int(v)) for v in x], [OnsetWindow(DAY0, DAY0)], rng=rng(), resamples=100
    )
    assert e.fit is not None
    assert e.fit.log_likelihood == max(f.log_likelihood for f in fits.values())
    assert e.as_dict()["fit"] == e.fit.as_dict()


def test_a_zero_interval_rules_out_gamma_and_lognormal() -> None:
    assert [f.family for f in fit_serial_interval([0, 2, 4, 6])] == ["normal"]
