"""The situation report's tables as rows of text, shared by its HTML and its PDF.

Each row is a bilingual label (English, Chinese) and its cells, already formatted: numbers
with thousands separators, dates as ISO dates, shares as whole percents. Nothing here
decides what is shown that the renderers could disagree on.
"""

from __future__ import annotations

from dataclasses import dataclass

from chaincut.analytics.epicurve import Growth, Trend
from chaincut.analytics.situation import ClusterSummary, SituationReport
from chaincut.analytics.situation_labels import (
    CLASSIFICATION_LABELS,
    ORDER_KIND_LABELS,
    TIER_LABELS,
    label,
)

__all__ = [
    "Row",
    "cluster_cells",
    "growth_text",
    "headline_rows",
    "latest_rt",
    "tracing_rows",
    "unlinked_today",
]

Pair = tuple[str, str]


@dataclass(frozen=True)
class Row:
    """A table row: its label in both languages and its cells."""

    label: Pair
    cells: tuple[str, ...]


def _n(value: int) -> str:
    return f"{value:,}"


def headline_rows(report: SituationReport) -> tuple[tuple[Row, ...], tuple[Row, ...]]:
    """The day's new cases by classification (with the total), then the other headline counts."""
    h = report.headline
    by_class = (
        *(Row(CLASSIFICATION_LABELS[c], (_n(n),)) for c, n in h.new_by_classification.items()),
        Row(label("total"), (_n(h.new_total),)),
    )
    others = (
        Row(label("cumulative"), (_n(h.cumulative),)),
        Row(label("no_onset_new"), (_n(h.new_no_onset),)),
        Row(label("no_onset_cumulative"), (_n(h.cumulative_no_onset),)),
        Row(label("no_report_date"), (_n(h.no_report_date),)),
        Row(label("suspected"), (_n(h.suspected),)),
        Row(label("before_shown"), (_n(report.curve.before),)),
    )
    return by_class, others


def latest_rt(report: SituationReport) -> tuple[str, str]:
    """The last window's span and R_t with its interval, or "insufficient data" and why."""
    if not report.rt.windows:
        return "", ""
    w = report.rt.windows[-1]
    span = f"{w.start.isoformat()} – {w.end.isoformat()}"
    if w.posterior is None:
        en, zh = label("insufficient")
        why = f"（{label('rt_' + w.reason_code)[1]}）" if w.reason_code else ""
        return span, f"{en} {zh}: {w.reason}{why}"
    p = w.posterior
    return span, f"{p.mean:.2f} (95% CrI {p.lo:.2f}–{p.hi:.2f})"


def unlinked_today(report: SituationReport) -> str:
    """The day's unlinked share as "u of n (p%)", or "–" when the day had no local case."""
    local, unlinked = int(report.unlinked.local[-1]), int(report.unlinked.unlinked[-1])
    if local == 0:
        return "–"
    return f"{unlinked:,} / {local:,} ({unlinked / local:.0%})"


def tracing_rows(report: SituationReport) -> tuple[Row, ...]:
    """Cases traced, contacts (all, then by tier) and orders by kind: on the day and to date."""
    t = report.tracing
    tiers = sorted(set(t.contacts_by_tier) | set(TIER_LABELS), key=lambda k: (k not in TIER_LABELS, k))
    kinds = sorted(
        set(t.orders_by_kind) | set(t.orders_to_date_by_kind) | set(ORDER_KIND_LABELS),
        key=lambda k: (k not in ORDER_KIND_LABELS, k),
    )
    rows = [
        Row(label("cases_traced"), (_n(t.cases_traced), _n(t.cases_traced_to_date))),
        Row(label("contacts"), (_n(t.contacts), _n(t.contacts_to_date))),
    ]
    rows += [
        Row(
            TIER_LABELS.get(k, (k, k)),
            (_n(t.contacts_by_tier.get(k, 0)), _n(t.contacts_to_date_by_tier.get(k, 0))),
        )
        for k in tiers
    ]
    rows += [
        Row(
            ORDER_KIND_LABELS.get(k, (k, k)),
            (_n(t.orders_by_kind.get(k, 0)), _n(t.orders_to_date_by_kind.get(k, 0))),
        )
        for k in kinds
    ]
    return tuple(rows)


def cluster_cells(cluster: ClusterSummary) -> tuple[str, ...]:
    """One cluster's cells: id, name, status, size, first and last onset (settings apart)."""
    name = cluster.name if cluster.name else " ".join(label("unnamed"))
    return (
        cluster.id,
        name,
        " ".join(label(cluster.status)) if cluster.status in ("active", "inactive") else cluster.status,
        _n(cluster.size),
        "–" if cluster.first_onset is None else cluster.first_onset.isoformat(),
        "–" if cluster.last_onset is None else cluster.last_onset.isoformat(),
    )


def growth_text(growth: Growth) -> tuple[str, str]:
    """The trend in English (``Growth.summary``) and in Chinese, with the same numbers."""
    span = f"{growth.first.isoformat()} – {growth.last.isoformat()}，{growth.cases:,} 宗個案"
    if growth.trend is Trend.INSUFFICIENT_DATA or growth.rate_per_day is None or growth.rate_ci95 is None:
        return growth.summary(), f"數據不足，未能估算增長率（{span}）"
    lo, hi = growth.rate_ci95
    rate = f"增長率每日 {growth.rate_per_day:+.3f}（95%置信區間 {lo:+.3f} 至 {hi:+.3f}）"
    if growth.trend is Trend.NO_CLEAR_TREND or growth.time_days is None or growth.time_ci95 is None:
        return growth.summary(), f"未見明確上升或下降：{rate}；倍增或減半時間無上限（{span}）"
    word = "倍增時間" if growth.trend is Trend.GROWTH else "減半時間"
    t_lo, t_hi = growth.time_ci95
    return (
        growth.summary(),
        f"{word} {growth.time_days:.1f} 日（95%置信區間 {t_lo:.1f} 至 {t_hi:.1f}）；{rate}（{span}）",
    )
