"""Infectious windows: from local midnight N days before onset (or specimen) until isolation.

Hong Kong has no daylight saving time; Europe/London does, so a window opening on
the night the clocks change must still open at local midnight.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from chaincut.clock import to_epoch
from chaincut.domain import Case, CaseClassification, CaseStatus
from chaincut.errors import InvalidInput
from chaincut.policy import InfectiousWindowRule, Policy, load_policy
from chaincut.tracing.windows import Window, infectious_window, window_opening

HONG_KONG = ZoneInfo("Asia/Hong_Kong")
LONDON = ZoneInfo("Europe/London")


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy(None)  # 2 days before onset, 2 before the specimen date


def case(
    onset_on: date | None = None, specimen_on: date | None = None, isolated_at: datetime | None = None
) -> Case:
    return Case(
        ref="C1",
        person_id=1,
        status=CaseStatus.CONFIRMED,
        classification=CaseClassification.LOCAL,
        onset_on=onset_on,
        specimen_on=specimen_on,
        isolated_at=isolated_at,
    )


def utc(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


def test_hong_kong_opens_at_local_midnight_two_days_before_onset(policy: Policy) -> None:
    as_of = utc(2026, 11, 20, 4)
    window = infectious_window(case(onset_on=date(2026, 11, 18)), policy, HONG_KONG, as_of)
    # 16 Nov 00:00 in Hong Kong (UTC+8) is 15 Nov 16:00 UTC; not isolated: open until now.
    assert window == Window(to_epoch(utc(2026, 11, 15, 16)), to_epoch(as_of))
    assert not window.empty


def test_without_symptoms_the_specimen_date_opens_the_window(policy: Policy) -> None:
    as_of = utc(2026, 11, 20, 4)
    specimen_only = infectious_window(case(specimen_on=date(2026, 11, 19)), policy, HONG_KONG, as_of)
    assert specimen_only.start == to_epoch(utc(2026, 11, 16, 16))
    both = infectious_window(case(date(2026, 11, 18), date(2026, 11, 19)), policy, HONG_KONG, as_of)
    assert both.start == to_epoch(utc(2026, 11, 15, 16))  # onset wins when known


def test_each_rule_has_its_own_number_of_days(policy: Policy) -> None:
    custom = dataclasses.replace(policy, infectious_window=InfectiousWindowRule(4, 1))
    as_of = utc(2026, 11, 20, 4)
    assert infectious_window(case(onset_on=date(2026, 11, 18)), custom, HONG_KONG, as_of).start == to_epoch(
        utc(2026, 11, 13, 16)
    )
    assert infectious_window(
        case(specimen_on=date(2026, 11, 18)), custom, HONG_KONG, as_of
    ).start == to_epoch(utc(2026, 11, 16, 16))


def test_isolation_closes_the_window(policy: Policy) -> None:
    isolated = utc(2026, 11, 19, 10)
    window = infectious_window(
        case(date(2026, 11, 18), isolated_at=isolated), policy, HONG_KONG, utc(2026, 11, 25)
    )
    assert window.end == to_epoch(isolated)
    # Traced before the isolation time: the window ends at the time of tracing.
    early = infectious_window(
        case(date(2026, 11, 18), isolated_at=isolated), policy, HONG_KONG, utc(2026, 11, 19)
    )
    assert early.end == to_epoch(utc(2026, 11, 19))


def test_a_case_without_dates_has_no_window(policy: Policy) -> None:
    with pytest.raises(InvalidInput) as refused:
        infectious_window(case(), policy, HONG_KONG, utc(2026, 11, 20))
    assert refused.value.field == "onset_on"


@pytest.mark.parametrize(
    ("onset", "opens_utc", "offset_hours"),
    [
        # Clocks go forward at 01:00 UTC on Sunday 29 March 2026: midnight that night is still GMT.
        (date(2026, 3, 31), utc(2026, 3, 29, 0), 0),
        # The next midnight is BST (UTC+1): the window opens at 23:00 UTC the evening before.
        (date(2026, 4, 1), utc(2026, 3, 29, 23), 1),
        # Clocks go back at 01:00 UTC on Sunday 25 October 2026: that midnight is still BST.
        (date(2026, 10, 27), utc(2026, 10, 24, 23), 1),
        (date(2026, 10, 28), utc(2026, 10, 26, 0), 0),
    ],
)
def test_london_opens_at_local_midnight_across_daylight_saving_changes(
    policy: Policy, onset: date, opens_utc: datetime, offset_hours: int
) -> None:
    opening = window_opening(policy, LONDON, onset, None)
    assert opening == to_epoch(opens_utc)
    local = datetime.fromtimestamp(opening, LONDON)
    assert (local.date(), local.hour, local.minute) == (onset - timedelta(days=2), 0, 0)
    assert local.utcoffset() == timedelta(hours=offset_hours)


def test_a_window_across_the_spring_change_is_an_hour_shorter(policy: Policy) -> None:
    # From Sat 28 March 00:00 GMT to Mon 30 March 00:00 BST: 47 hours, not 48.
    isolated = datetime(2026, 3, 30, 0, tzinfo=LONDON)
    window = infectious_window(case(date(2026, 3, 30), isolated_at=isolated), policy, LONDON, utc(2026, 4, 5))
    assert window.end - window.start == 47 * 3600
