"""The situation report's words in English and Traditional Chinese, as Hong Kong writes them.

One table for every heading and label, shared by the HTML, the PDF and the plots, so the two
languages stay side by side in one document. The classifications follow the CHP's daily
reports (輸入個案, 本地個案, 與本地個案有關連, 源頭不明, 可能本地個案).
"""

from __future__ import annotations

from collections.abc import Mapping

from chaincut.domain import CaseClassification

__all__ = ["CLASSIFICATION_LABELS", "LABELS", "ORDER_KIND_LABELS", "TIER_LABELS", "both", "label"]

LABELS: Mapping[str, tuple[str, str]] = {
    "title": ("Situation report", "疫情狀況報告"),
    "for_day": ("Day", "日期"),
    "generated": ("Generated", "製作時間"),
    "policy": ("Policy version", "政策版本"),
    "aggregates_only": (
        "Aggregate numbers and case references only: no personal data.",
        "只載列總數及個案編號，不含個人資料。",
    ),
    "headline": ("Headline numbers", "主要數字"),
    "new_cases": ("New cases reported", "新增個案"),
    "classification": ("Classification", "分類"),
    "cases": ("Cases", "個案"),
    "total": ("Total", "總數"),
    "cumulative": ("Cumulative cases", "累計個案"),
    "no_onset_new": ("New cases with no onset date", "新增無發病日期個案"),
    "no_onset_cumulative": ("Cases with no onset date, to date", "累計無發病日期個案"),
    "no_report_date": ("Cases with no report date", "無呈報日期個案"),
    "suspected": ("Suspected cases reported (not counted)", "懷疑個案（不計算在內）"),
    "confirmed_probable": ("Confirmed and probable cases", "確診及疑似確診個案"),
    "epicurve": ("Epidemic curve by onset date", "按發病日期劃分的流行病曲線"),
    "epicurve_note": (
        "Stacked by classification; the line is the trailing average. The last days are "
        "incomplete: recent onsets are not all reported yet.",
        "按分類疊加；線為移動平均。最近數日的數字未齊：部分近期發病的個案尚未呈報。",
    ),
    "average": ("day average", "日平均"),
    "onset_date": ("Onset date", "發病日期"),
    "report_date": ("Report date", "呈報日期"),
    "daily_cases": ("Cases a day", "每日個案"),
    "before_shown": ("Cases with onset before the days shown", "發病日期早於圖中日子的個案"),
    "trend": ("Trend", "趨勢"),
    "rt": ("Effective reproduction number R_t", "實時有效繁殖率 R_t"),
    "rt_note": (
        "By onset date, posterior mean and 95% credible interval (Cori et al. 2013); "
        "imported cases infect but are not infected locally.",
        "按發病日期計算的後驗平均值及95%可信區間（Cori 等，2013）；輸入個案可傳染他人，但不計作本地受感染。",
    ),
    "rt_latest": ("Latest estimate", "最新估算"),
    "window": ("Window", "時段"),
    "insufficient": ("insufficient data", "數據不足"),
    "insufficient_windows": ("Windows with insufficient data", "數據不足的時段"),
    "rt_series_start": (
        "the series has just begun: no earlier days whose cases could infect",
        "數列剛開始：之前沒有足夠日數的個案可傳染",
    ),
    "rt_no_infectors": (
        "no cases before the window that could have infected its cases",
        "時段之前沒有可傳染時段內個案的個案",
    ),
    "rt_too_few_cases": (
        "too few local cases in the window for a stable estimate",
        "時段內本地個案太少，未能得出穩定的估算",
    ),
    "no_windows": ("No R_t window: no case with an onset date.", "沒有時段：沒有附發病日期的個案。"),
    "band": ("95% credible interval", "95%可信區間"),
    "epidemic_threshold": ("R = 1", "R = 1"),
    "unlinked": ("Local cases with no known source", "源頭不明的本地個案"),
    "unlinked_note": (
        "Share of local cases (local, linked, unlinked, possibly local) that are unlinked, by report date.",
        "按呈報日期計算，本地個案（本地、有關連、源頭不明、可能本地）中源頭不明個案所佔比例。",
    ),
    "unlinked_share": ("Unlinked share", "源頭不明比例"),
    "unlinked_today": ("On the day", "當日"),
    "local_cases": ("Local cases", "本地個案"),
    "clusters": ("Active clusters", "活躍群組"),
    "not_computed": (
        "Not computed: cluster inference has not run for this report.",
        "未有計算：此報告未有進行群組推斷。",
    ),
    "no_active_clusters": ("No active cluster on this day.", "當日沒有活躍群組。"),
    "cluster": ("Cluster", "群組"),
    "name": ("Name", "名稱"),
    "status": ("Status", "狀態"),
    "size": ("Cases", "個案數目"),
    "first_onset": ("First onset", "首宗發病日期"),
    "last_onset": ("Last onset", "最近發病日期"),
    "settings": ("Settings", "相關地點"),
    "unnamed": ("(unnamed)", "（未命名）"),
    "active": ("active", "活躍"),
    "inactive": ("inactive", "不活躍"),
    "chains": ("Transmission chains of the largest clusters", "最大群組的傳播鏈"),
    "chains_not_computed": (
        "Not computed: transmission chains have not been built for this report.",
        "未有計算：此報告未有建立傳播鏈。",
    ),
    "no_chains": ("No chain to show.", "沒有傳播鏈可顯示。"),
    "generation": ("Generation", "代數"),
    "generation_n": ("Generation {n}", "第{n}代"),
    "confirmed_link": ("confirmed by a tracer", "經追蹤人員確認"),
    "inferred_link": ("inferred", "推斷"),
    "chain_note": (
        "Cases by reference, one row per generation; a solid line is an infector a tracer "
        "confirmed, a dashed line one inferred from the evidence.",
        "以個案編號顯示，每行為一代；實線為經追蹤人員確認的傳播者，虛線為按證據推斷。",
    ),
    "cases_not_drawn": ("cases not drawn (too many to read)", "宗個案未有繪出（數目過多）"),
    "tracing": ("Contacts traced and orders issued", "已追蹤接觸者及已發出的命令"),
    "on_day": ("On the day", "當日"),
    "to_date": ("To date", "累計"),
    "cases_traced": ("Cases traced", "已追蹤個案"),
    "contacts": ("Contacts (people)", "接觸者（人數）"),
    "tracing_note": (
        "Contacts as last traced: a case traced again replaces its earlier contacts.",
        "接觸者以最近一次追蹤為準：個案再次追蹤時會取代先前的接觸者。",
    ),
    "none": ("none", "沒有"),
}
"""Every heading and label: key -> (English, Traditional Chinese)."""

CLASSIFICATION_LABELS: Mapping[CaseClassification, tuple[str, str]] = {
    CaseClassification.IMPORTED: ("Imported", "輸入個案"),
    CaseClassification.LOCAL: ("Local", "本地個案"),
    CaseClassification.LINKED: ("Epidemiologically linked", "與已知個案有關連"),
    CaseClassification.UNLINKED: ("Local, source unknown", "源頭不明"),
    CaseClassification.POSSIBLY_LOCAL: ("Possibly local", "可能本地個案"),
    CaseClassification.UNKNOWN: ("Not yet classified", "尚未分類"),
}

TIER_LABELS: Mapping[str, tuple[str, str]] = {
    "close": ("Close contacts", "密切接觸者"),
    "exposed": ("Exposed (testing)", "曾暴露（須檢測）"),
    "risky_visit": ("At a risky venue", "曾到訪高風險場所"),
}

ORDER_KIND_LABELS: Mapping[str, tuple[str, str]] = {
    "quarantine": ("Quarantine orders", "檢疫令"),
    "testing_notice": ("Testing notices", "強制檢測公告"),
}


def label(key: str) -> tuple[str, str]:
    """The (English, Chinese) pair for ``key``; a key not in the table is a programming error."""
    return LABELS[key]


def both(pair: tuple[str, str]) -> str:
    """The two languages on one line, English first: for plots and PDF cells."""
    return f"{pair[0]} {pair[1]}"
