"""Fuzzing the venue QR token verifier: garbage and altered posters are refused, never crash.

Whatever a phone scans, ``VenueTokenVerifier.verify`` answers with the genuine claims
or ``InvalidVenueToken``; an altered genuine token never verifies as another venue.
"""

# ruff: noqa: PT017 - a fuzzed call may succeed or be refused, so pytest.raises does not fit

from __future__ import annotations

import base64
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from chaincut.errors import InvalidVenueToken
from chaincut.venues.tokens import (
    MAX_TOKEN_LENGTH,
    VENUE_TOKEN_PREFIX,
    VenueClaims,
    VenueTokenSigner,
    VenueTokenVerifier,
    generate_signing_key,
    key_id_for,
)

KEY = generate_signing_key()
KID = key_id_for(KEY.public_key())
OTHER_KEY = generate_signing_key()  # trusted too: a rotated key
OTHER_KID = key_id_for(OTHER_KEY.public_key())
ISSUED = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
CLAIMS = VenueClaims("01HZX3K4M5N6P7Q8R9S0T1V2W3", "restaurant", ISSUED)
ELSEWHERE = VenueClaims("01HZX3K4M5N6P7Q8R9S0T1V2W4", "restaurant", ISSUED)
TOKEN = VenueTokenSigner(KEY, KID).sign(CLAIMS)
TOKENS = {
    TOKEN: CLAIMS,
    VenueTokenSigner(KEY, KID).sign(ELSEWHERE): ELSEWHERE,
    VenueTokenSigner(OTHER_KEY, OTHER_KID).sign(CLAIMS): CLAIMS,
    VenueTokenSigner(OTHER_KEY, OTHER_KID).sign(ELSEWHERE): ELSEWHERE,
}
GENUINE = list(TOKENS)
FAST = settings(max_examples=300, deadline=None)


def verifier() -> VenueTokenVerifier:
    # A fresh cache for each example: a cached genuine token must not hide a refusal.
    return VenueTokenVerifier({KID: KEY.public_key(), OTHER_KID: OTHER_KEY.public_key()})


def refused_or_genuine(token: str, original: str | None = None) -> None:
    """The token is refused, or it is genuine: the claims its signer signed, nothing else."""
    try:
        claims = verifier().verify(token)
    except InvalidVenueToken as exc:
        assert exc.field == "token"
        assert exc.reason
        return
    if original is not None:
        assert claims == TOKENS[original], f"an altered token verified as another venue: {token!r}"
    else:
        assert token in TOKENS and claims == TOKENS[token]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


@FAST
@given(st.text(max_size=300))
def test_arbitrary_text_is_refused(text: str) -> None:
    refused_or_genuine(text)


@FAST
@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/", max_size=400))
def test_prefixed_base64ish_text_is_refused(body: str) -> None:
    refused_or_genuine(VENUE_TOKEN_PREFIX + body)


@FAST
@given(st.sampled_from(GENUINE), st.data())
def test_a_bit_flip_is_refused(original: str, data: st.DataObject) -> None:
    raw = bytearray(original.encode("utf-8"))
    at = data.draw(st.integers(0, len(raw) - 1))
    raw[at] ^= 1 << data.draw(st.integers(0, 7))
    refused_or_genuine(raw.decode("latin-1"), original)


@FAST
@given(st.sampled_from(GENUINE), st.data())
def test_truncation_insertion_and_deletion_are_refused(original: str, data: st.DataObject) -> None:
    start = data.draw(st.integers(0, len(original)))
    stop = data.draw(st.integers(start, min(len(original), start + 20)))
    inserted = data.draw(st.text(max_size=8))
    mutated = data.draw(
        st.sampled_from(
            [
                original[:start],  # truncated
                original[start:],  # cut at the front
                original[:start] + inserted + original[stop:],  # replaced
                original[:start] + original[stop:],  # deleted
                original + inserted,  # appended
                original * 2,
            ]
        )
    )
    if mutated != original:
        refused_or_genuine(mutated, original)


@FAST
@given(st.sampled_from(GENUINE), st.integers(0, 2), st.data())
def test_tampering_with_the_decoded_segments_is_refused(
    original: str, which: int, data: st.DataObject
) -> None:
    segments = original.removeprefix(VENUE_TOKEN_PREFIX).split(".")
    decoded = bytearray(unb64(segments[which]))
    kind = data.draw(st.sampled_from(["flip", "set", "append", "drop", "replace"]))
    if kind == "flip" and decoded:
        at = data.draw(st.integers(0, len(decoded) - 1))
        decoded[at] ^= 1 << data.draw(st.integers(0, 7))
    elif kind == "set" and decoded:
        decoded[data.draw(st.integers(0, len(decoded) - 1))] = data.draw(st.integers(0, 255))
    elif kind == "append":
        decoded += data.draw(st.binary(min_size=1, max_size=8))
    elif kind == "drop" and decoded:
        del decoded[data.draw(st.integers(0, len(decoded) - 1))]
    else:
        decoded = bytearray(data.draw(st.binary(max_size=120)))
    segments[which] = b64(bytes(decoded))
    refused_or_genuine(VENUE_TOKEN_PREFIX + ".".join(segments), original)


@FAST
@given(st.lists(st.sampled_from(GENUINE), min_size=3, max_size=3), st.permutations([0, 1, 2]))
def test_swapped_and_spliced_segments_never_name_another_venue(sources: list[str], order: list[int]) -> None:
    """Each segment from any genuine token, in any order: genuine only if all from one token, in place."""
    parts = [s.removeprefix(VENUE_TOKEN_PREFIX).split(".") for s in sources]
    token = VENUE_TOKEN_PREFIX + ".".join(parts[i][position] for i, position in enumerate(order))
    try:
        claims = verifier().verify(token)
    except InvalidVenueToken:
        return
    assert token in TOKENS and claims == TOKENS[token]


@FAST
@given(
    st.sampled_from(GENUINE),
    st.sampled_from(["", " ", "\n", "\x00", "=", "==", ".", "\u200b", "\ufeff"]),
    st.booleans(),
)
def test_padding_whitespace_and_invisible_characters_are_refused(
    original: str, extra: str, front: bool
) -> None:
    mutated = extra + original if front else original + extra
    if mutated != original:
        refused_or_genuine(mutated, original)
    body = original.removeprefix(VENUE_TOKEN_PREFIX)
    refused_or_genuine(VENUE_TOKEN_PREFIX.lower() + body, original)
    refused_or_genuine(VENUE_TOKEN_PREFIX + body.replace(".", extra or "..", 1), original)


def test_the_longest_token_and_non_strings_are_refused() -> None:
    for token in ("A" * (MAX_TOKEN_LENGTH + 1), TOKEN + "A" * MAX_TOKEN_LENGTH, VENUE_TOKEN_PREFIX * 500):
        refused_or_genuine(token)
    for value in (None, 42, b"CHAINCUT:1:", ["x"]):
        try:
            verifier().verify(value)  # type: ignore[arg-type]
        except InvalidVenueToken:
            continue
        raise AssertionError(f"{value!r} verified")


def test_a_genuine_token_still_verifies() -> None:
    for token, claims in TOKENS.items():
        assert verifier().verify(token) == claims
