"""The serial interval of a set of onset pairs as one report, and of the store's confirmed links.

The report is what ``chaincut analytics serial-interval --json`` prints and what
``GET /analytics/serial-interval`` answers, built once here: the estimate of each window
(see ``serial_interval``), where the pairs came from, how many pairs were left out and
why, how many fell outside every window, and the bootstrap's seed and resamples so that a
run can be repeated. A case's ``linked_case`` is its infector: the store's confirmed links.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from chaincut.analytics.serial_interval import (
    OnsetPair,
    OnsetWindow,
    SerialIntervalEstimate,
    estimate_serial_interval,
    pairs_with_onsets,
)
from chaincut.store import Store

__all__ = ["STORE_LEFT_OUT_WHY", "SerialIntervalReport", "SerialIntervals", "serial_interval_report"]

STORE_LEFT_OUT_WHY = "linked cases where either case has no onset date"


@dataclass(frozen=True)
class SerialIntervalReport:
    """Serial intervals (days) by window of infector onset, with what was left out and why.

    ``windows`` are the ones estimated: those asked for, or one window over every pair's
    infector onset when none was asked for (none at all when there are no pairs).
    """

    estimates: tuple[SerialIntervalEstimate, ...]
    windows: tuple[OnsetWindow, ...]
    source: str
    pairs: int
    left_out: int
    left_out_why: str
    outside_windows: int
    seed: int
    resamples: int

    def as_dict(self) -> dict[str, object]:
        """One JSON object: ``{"windows": [{"from", "to", "n", "mean", "sd", "ci95", ...}], ...}``."""
        body: dict[str, object] = {
            "windows": [e.as_dict() for e in self.estimates],
            "source": self.source,
            "pairs": self.pairs,
            "left_out": {"count": self.left_out, "why": self.left_out_why},
            "outside_windows": self.outside_windows,
            "seed": self.seed,
            "resamples": self.resamples,
        }
        if not self.windows:
            body["note"] = "no pairs with both onsets: no window to estimate"
        return body


def serial_interval_report(
    pairs: Sequence[OnsetPair],
    windows: Sequence[OnsetWindow] | None,
    *,
    source: str,
    left_out: int,
    left_out_why: str,
    seed: int,
    resamples: int,
) -> SerialIntervalReport:
    """Estimate each window (``None``: one window over every pair) with a bootstrap seeded by ``seed``."""
    if windows is None:
        onsets = [p.infector_onset for p in pairs]
        windows = [OnsetWindow(min(onsets), max(onsets))] if onsets else []
    estimates = estimate_serial_interval(pairs, windows, rng=np.random.default_rng(seed), resamples=resamples)
    outside = sum(1 for p in pairs if not any(w.holds(p.infector_onset) for w in windows))
    return SerialIntervalReport(
        estimates=tuple(estimates),
        windows=tuple(windows),
        source=source,
        pairs=len(pairs),
        left_out=left_out,
        left_out_why=left_out_why,
        outside_windows=outside,
        seed=seed,
        resamples=resamples,
    )


class SerialIntervals:
    """The serial interval of the store's confirmed links, for epidemiologists."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def from_store(
        self, windows: Sequence[OnsetWindow] | None = None, *, seed: int = 0, resamples: int = 10_000
    ) -> SerialIntervalReport:
        """The report over every linked case (its ``linked_case`` is its infector).

        Links where either case has no onset date have no interval: counted in ``left_out``.
        Reads only onset dates, no one's identity; the caller audits the read.
        """
        with self._store.read() as uow:
            links = uow.cases.linked_onsets()
        pairs, left_out = pairs_with_onsets(links)
        return serial_interval_report(
            pairs,
            windows,
            source="store",
            left_out=left_out,
            left_out_why=STORE_LEFT_OUT_WHY,
            seed=seed,
            resamples=resamples,
        )
