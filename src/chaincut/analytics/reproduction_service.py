"""R_t from the cases the store holds: daily incidence by onset date, local and imported apart."""

from __future__ import annotations

import dataclasses
import statistics
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np

from chaincut.analytics.reproduction import RtWindow, estimate_rt
from chaincut.domain import CaseStatus
from chaincut.errors import InvalidInput
from chaincut.policy import Policy, ReproductionNumberRules
from chaincut.store import Store

_MIN_LINKS = 10  # links with both onsets, to estimate the serial interval from the store

__all__ = ["COUNTED_STATUSES", "ReproductionNumbers", "RtReport"]

# Confirmed and probable cases make the curve (as CHP counted them); suspected cases are counted apart.
COUNTED_STATUSES = frozenset({CaseStatus.CONFIRMED, CaseStatus.PROBABLE})
_MAX_DAYS = 3660  # ten years of days, as the epidemic curve allows: a longer series is a typo


@dataclass(frozen=True)
class RtReport:
    """R_t over the windows ending from ``from_day`` to ``to_day``, and the cases left out of it and why.

    ``no_onset`` counts the confirmed and probable cases with no onset date (they have no day
    on the curve); ``suspected`` the suspected cases, which are not counted at all.
    """

    rules: ReproductionNumberRules
    policy_version: str
    from_day: date | None
    to_day: date | None
    windows: tuple[RtWindow, ...]
    local_cases: int  # with an onset date, in the series read
    imported_cases: int
    no_onset: int
    suspected: int
    serial_interval_source: str = "policy"  # or "confirmed links": estimated from the store's links
    serial_interval_pairs: int | None = None  # the links it was estimated from

    def as_dict(self) -> dict[str, Any]:
        """One JSON object: the parameters used, what was left out, and each window."""
        r = self.rules
        return {
            "method": "Cori et al. (2013), as EpiEstim estimate_R parametric_si; "
            "imported cases infect but are not infected locally (Thompson et al. 2019)",
            "policy_version": self.policy_version,
            "parameters": {
                "window_days": r.window_days,
                "prior_mean": r.prior_mean,
                "prior_sd": r.prior_sd,
                "max_posterior_cv": r.max_posterior_cv,
                "serial_interval_mean_days": r.serial_interval_mean_days,
                "serial_interval_sd_days": r.serial_interval_sd_days,
                "credible_interval": 0.95,
            },
            "serial_interval_source": self.serial_interval_source,
            "serial_interval_pairs": self.serial_interval_pairs,
            "from": None if self.from_day is None else self.from_day.isoformat(),
            "to": None if self.to_day is None else self.to_day.isoformat(),
            "cases": {"local": self.local_cases, "imported": self.imported_cases},
            "left_out": {
                "no_onset": self.no_onset,
                "no_onset_reason": "confirmed or probable cases with no onset date have no day on the curve",
                "suspected": self.suspected,
                "suspected_reason": "suspected cases are not counted (confirmed and probable only)",
            },
            "windows": [_window(w) for w in self.windows],
        }


def _window(w: RtWindow) -> dict[str, Any]:
    head: dict[str, Any] = {"start": w.start.isoformat(), "end": w.end.isoformat()}
    counts = {"local_cases": w.local_cases, "imported_cases": w.imported_cases}
    if w.posterior is None:
        return {**head, "status": w.status, "reason": w.reason, "reason_code": w.reason_code, **counts}
    p = w.posterior
    return {**head, "mean": p.mean, "lo": p.lo, "hi": p.hi, "cv": p.cv, "sd": p.sd, **counts}


class ReproductionNumbers:
    """R_t for epidemiologists, read from the store's cases under the policy's ``[reproduction_number]``."""

    def __init__(self, store: Store, policy: Policy) -> None:
        self._store = store
        self._policy = policy

    def estimate(
        self, *, from_day: date | None = None, to_day: date | None = None, serial_interval: str = "policy"
    ) -> RtReport:
        """R_t for the windows ending from ``from_day`` to ``to_day`` (both included; None: open).

        Every onset day before ``from_day`` is read too, since earlier cases infect the window's.
        ``serial_interval``: ``policy`` (its ``[reproduction_number]`` mean and sd) or ``links``:
        the mean and sd of the intervals of the store's confirmed links (item 4's estimate), which
        needs at least ``_MIN_LINKS`` links with both onsets and a mean above 1 day.
        """
        rules, pairs = self._rules(serial_interval)
        if from_day is not None and to_day is not None and from_day > to_day:
            raise InvalidInput(
                f"the range begins ({from_day.isoformat()}) after it ends ({to_day.isoformat()}); "
                "expected from on or before to",
                field="from",
                code="invalid_range",
            )
        with self._store.read() as uow:
            rows = uow.incidence.daily_onset_counts()
        no_onset = sum(r.cases for r in rows if r.onset_on is None and r.status in COUNTED_STATUSES)
        suspected = sum(r.cases for r in rows if r.status not in COUNTED_STATUSES)
        dated = [
            r
            for r in rows
            if r.onset_on is not None
            and r.status in COUNTED_STATUSES
            and (to_day is None or r.onset_on <= to_day)
        ]
        windows: tuple[RtWindow, ...] = ()
        local_total = imported_total = 0
        if dated:
            first = min(r.onset_on for r in dated if r.onset_on is not None)
            last = max(r.onset_on for r in dated if r.onset_on is not None)
            last = max(last, to_day) if to_day is not None else last
            if (last - first).days >= _MAX_DAYS:
                raise InvalidInput(
                    f"the series would run {(last - first).days + 1} days, from the first onset "
                    f"({first.isoformat()}) to {last.isoformat()}; at most {_MAX_DAYS} are estimated",
                    field="to",
                    code="invalid_range",
                )
            days = (last - first).days + 1
            local = np.zeros(days, dtype=np.int64)
            imported = np.zeros(days, dtype=np.int64)
            for r in dated:
                assert r.onset_on is not None
                (imported if r.imported else local)[(r.onset_on - first).days] += r.cases
            local_total, imported_total = int(local.sum()), int(imported.sum())
            windows = tuple(
                w for w in estimate_rt(first, local, imported, rules) if from_day is None or w.end >= from_day
            )
        return RtReport(
            rules=rules,
            policy_version=self._policy.version,
            from_day=from_day,
            to_day=to_day,
            windows=windows,
            local_cases=local_total,
            imported_cases=imported_total,
            no_onset=no_onset,
            suspected=suspected,
            serial_interval_source="policy" if pairs is None else "confirmed links",
            serial_interval_pairs=pairs,
        )

    def _rules(self, serial_interval: str) -> tuple[ReproductionNumberRules, int | None]:
        rules = self._policy.reproduction_number
        if serial_interval == "policy":
            return rules, None
        if serial_interval != "links":
            raise InvalidInput(
                f"serial_interval: expected 'policy' or 'links', got {serial_interval!r}",
                field="serial_interval",
            )
        with self._store.read() as uow:
            links = uow.cases.linked_onsets()
        intervals = [(b - a).days for a, b in links if a is not None and b is not None]
        if len(intervals) < _MIN_LINKS:
            raise InvalidInput(
                f"serial_interval: the store holds {len(intervals)} confirmed links with both onsets; "
                f"at least {_MIN_LINKS} are needed to estimate it (else use the policy's)",
                field="serial_interval",
            )
        mean = statistics.fmean(intervals)
        sd = statistics.stdev(intervals)
        if not mean > 1.0 or not sd > 0.0:
            raise InvalidInput(
                f"serial_interval: the confirmed links give a mean of {mean:.2f} days (sd {sd:.2f}); "
                "the method needs a mean above 1 day and a positive sd (else use the policy's)",
                field="serial_interval",
            )
        return dataclasses.replace(rules, serial_interval_mean_days=mean, serial_interval_sd_days=sd), len(
            intervals
        )
