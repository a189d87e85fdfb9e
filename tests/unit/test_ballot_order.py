"""The ballot's order is our own, documented algorithm over SHA-256, the same on every Python version:
tickets made from the day and the named traveller's subject id, ranked under the seed; checked against
an independent recomputation and against digests made by another tool."""

from __future__ import annotations

import hashlib
import random
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chaincut.border.ballot import ballot_order, ballot_rank, ballot_ticket, draw_slot
from chaincut.border.commitments import check_seed, commitment_of
from chaincut.errors import InvalidInput

DAY = date(2026, 11, 21)
SEED = "seed-2023-01-08"

# Coreutils, not Python, made these:
#   ticket: printf 'chaincut-ballot-ticket/1\0%s\0%s' 2026-11-21 SUBJECT | sha256sum
#   rank:   printf 'seed-2023-01-08\0%s' TICKET | sha256sum
# in ascending rank.
PINNED = [
    (
        "0a76dbc48107dac73cdaf097cc8e616efcb8d9c35104c0faf2759e2efea1a1d2",
        "f8727415809f62b8b78dd8eaaaf6b2c3c941933cdc384efdbcc3dd48da7d793e",
        "3fGhJkLmNpQrStUvWxYz-_",
    ),
    (
        "61bd7e9d02ba42226958b16c055282d95ff9604544e8a0fbd63395a6a6ef548b",
        "082446b7cf211c8f9971ac8a102e8d19d05b406b504fd2962c806c907a89eb24",
        "Zp0Lm2Nq4Rs6Tu8Vw0Xy1z",
    ),
    (
        "9d4e605fb36c9b5e18d54f5aae2abc71b0541a7f2fa1ebd6a9cafbcf53a68a8b",
        "42f264ee10cdc5064a57ef3009084142c8bc79f92f6b26ba50ec0cadc5e5b5e4",
        "w_-9yXaBcDeFgHiJkLmNoP",
    ),
    (
        "a5a66017460b89171e4cc6b77a0b5d3ad5aee45678ecd23682efd0d3011de042",
        "e86c9b7c25787e2266733903d8658f31ed81609196424bec334799f7eec6575b",
        "h8JdQf4NwUe6ZrTy0BiKxg",
    ),
    (
        "ce35f7741c30b76a298a0ed50abb6e55d07c00c838455625d8f9ab435d78cb8a",
        "48ffe5645798ae5ab755441352656c19599db14128992e0e2f968dd2810875dd",
        "Kq3vX0b9TzWm1YpR7sLc2A",
    ),
]


def test_tickets_and_the_order_match_digests_made_by_another_tool() -> None:
    subjects = sorted(subject for _, _, subject in PINNED)
    tickets = {subject: ballot_ticket(DAY, subject) for subject in subjects}
    assert [(tickets[s], s) for _, _, s in PINNED] == [(t, s) for _, t, s in PINNED]
    assert ballot_order(SEED, subjects, tickets.__getitem__) == [s for _, _, s in PINNED]
    for rank, ticket, _subject in PINNED:
        assert ballot_rank(SEED, ticket) == int(rank, 16)


def _ticket(day: date, subject: str) -> str:
    """The documented ticket, restated."""
    return hashlib.sha256(f"chaincut-ballot-ticket/1\x00{day:%Y-%m-%d}\x00{subject}".encode()).hexdigest()


def _rank(seed: str, ticket: str) -> bytes:
    """The documented rank, restated: compared as bytes, which is comparing big-endian numbers."""
    return hashlib.sha256(seed.encode() + b"\x00" + ticket.encode()).digest()


SUBJECTS = st.text(
    st.characters(codec="ascii", categories=["L", "N"], include_characters="-_"), min_size=22, max_size=22
)
SEEDS = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=64)


@given(
    seed=SEEDS,
    day=st.dates(min_value=date(2020, 1, 1), max_value=date(2099, 12, 31)),
    subjects=st.lists(SUBJECTS, unique=True, max_size=40),
)
def test_the_order_is_the_documented_one_whatever_the_seed_and_entries(
    seed: str, day: date, subjects: list[str]
) -> None:
    tickets = {s: ballot_ticket(day, s) for s in subjects}
    assert tickets == {s: _ticket(day, s) for s in subjects}
    shuffled = list(subjects)
    random.Random(0).shuffle(shuffled)
    expected = sorted(subjects, key=lambda s: (_rank(seed, tickets[s]), tickets[s]))
    # The order depends on the seed and the tickets only, never on the order the entries came in.
    assert ballot_order(seed, shuffled, tickets.__getitem__) == ballot_order(
        seed, subjects, tickets.__getitem__
    )
    assert ballot_order(seed, subjects, tickets.__getitem__) == expected


@given(
    seed=SEEDS,
    seats=st.integers(0, 30),
    entries=st.lists(st.tuples(SUBJECTS, st.integers(1, 4)), unique_by=lambda e: e[0], max_size=30),
)
def test_a_slot_is_drawn_by_the_documented_walk(
    seed: str, seats: int, entries: list[tuple[str, int]]
) -> None:
    tickets = {s: _ticket(DAY, s) for s, _ in entries}
    # In rank order, an entry wins when its travellers fit in the seats left, and takes them.
    left, expected = seats, []
    for subject, travellers in sorted(entries, key=lambda e: _rank(seed, tickets[e[0]])):
        fits = travellers <= left
        left -= travellers if fits else 0
        expected.append(((subject, travellers), fits))
    drawn = draw_slot(seed, seats, entries, lambda e: tickets[e[0]], lambda e: e[1])
    assert drawn == expected
    assert sum(t for (_, t), won in drawn if won) <= seats


def test_the_day_makes_a_travellers_tickets_differ_and_another_seed_gives_another_order() -> None:
    subjects = [f"subject{i:03d}xxxxxxxxxxxxx" for i in range(50)]
    assert ballot_ticket(DAY, subjects[0]) != ballot_ticket(date(2026, 11, 22), subjects[0])
    tickets = {s: ballot_ticket(DAY, s) for s in subjects}
    assert ballot_order("one", subjects, tickets.__getitem__) != ballot_order(
        "two", subjects, tickets.__getitem__
    )
    with pytest.raises(InvalidInput) as caught:
        ballot_ticket(DAY, "")
    assert (caught.value.code, caught.value.field) == ("invalid_subject", "subject")


def test_a_commitment_is_the_sha256_of_the_seed_and_a_seed_is_printable_ascii() -> None:
    assert commitment_of(SEED) == "f555c31909a480dec633aeee98d9ba0cbb3233fb654469908f941d0385f818a4"
    assert check_seed(" ~") == " ~"
    for bad in ("", "x" * 65, "tab\there", "種子", "nul\x00"):
        with pytest.raises(InvalidInput) as caught:
            check_seed(bad)
        assert (caught.value.code, caught.value.field) == ("invalid_seed", "seed")
