"""The notes a server keeps of the seats left in each slot: what they refuse, and for how long."""

from __future__ import annotations

from datetime import date

import pytest

from chaincut.border.seats_seen import SeatsSeen

SLOT = ("shenzhen_bay", date(2026, 11, 21), "morning")
OTHER = ("shenzhen_bay", date(2026, 11, 21), "night")


class Ticker:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_slot_never_seen_refuses_nothing() -> None:
    assert not SeatsSeen(2, Ticker()).too_full(SLOT, 1)


def test_a_note_refuses_only_more_travellers_than_were_left() -> None:
    seen = SeatsSeen(2, Ticker())
    seen.note(SLOT, 2)
    assert not seen.too_full(SLOT, 1)
    assert not seen.too_full(SLOT, 2)
    assert seen.too_full(SLOT, 3)
    assert not seen.too_full(OTHER, 3)
    seen.note(SLOT, 0)
    assert seen.too_full(SLOT, 1)


def test_a_note_runs_out_after_the_recheck_time() -> None:
    ticker = Ticker()
    seen = SeatsSeen(2, ticker)
    seen.note(SLOT, 0)
    ticker.now += 2.0
    assert seen.too_full(SLOT, 1)  # still within the recheck time
    ticker.now += 0.01
    assert not seen.too_full(SLOT, 1)
    assert not seen.too_full(SLOT, 1)  # dropped, not revived


def test_forgetting_a_slot_asks_the_store_again_at_once() -> None:
    seen = SeatsSeen(60, Ticker())
    seen.note(SLOT, 0)
    seen.forget(SLOT)
    assert not seen.too_full(SLOT, 1)
    seen.forget(SLOT)  # forgetting twice is harmless


def test_a_recheck_time_of_zero_always_asks_the_store() -> None:
    ticker = Ticker()
    seen = SeatsSeen(0, ticker)
    seen.note(SLOT, 0)
    ticker.now += 0.001
    assert not seen.too_full(SLOT, 1)


def test_a_negative_recheck_time_is_refused() -> None:
    with pytest.raises(ValueError, match="recheck_seconds"):
        SeatsSeen(-1, Ticker())
