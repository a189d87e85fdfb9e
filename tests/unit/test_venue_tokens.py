"""Signed venue tokens: genuine posters verify, forged or altered ones are refused."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chaincut.venues import tokens
from chaincut.venues.tokens import (
    MAX_TOKEN_LENGTH,
    VENUE_TOKEN_PREFIX,
    InvalidVenueToken,
    VenueClaims,
    VenueTokenSigner,
    VenueTokenVerifier,
    generate_signing_key,
    key_id_for,
    load_private_key_pem,
    load_public_key_pem,
    private_key_pem,
    public_key_pem,
)

KEY = generate_signing_key()
KID = key_id_for(KEY.public_key())
OTHER_KEY = generate_signing_key()
OTHER_KID = key_id_for(OTHER_KEY.public_key())
CLAIMS = VenueClaims(
    venue_id="01HZX3K4M5N6P7Q8R9S0T1V2W3",
    venue_type="restaurant",
    issued_at=datetime(2024, 3, 1, 8, 30, tzinfo=UTC),
)
TOKEN = VenueTokenSigner(KEY, KID).sign(CLAIMS)
VERIFIER = VenueTokenVerifier({KID: KEY.public_key()})
REASONS = {
    "token too long",
    "missing prefix",
    "malformed token",
    "malformed header",
    "unsupported header",
    "unsupported algorithm",
    "unknown key id",
    "bad signature",
    "malformed claims",
}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def sign_raw(header: bytes, payload: bytes, key: ec.EllipticCurvePrivateKey = KEY) -> str:
    """Sign arbitrary header and payload bytes, to build tokens the signer would refuse to."""
    signing_input = f"{b64(header)}.{b64(payload)}"
    signature = key.sign(signing_input.encode("ascii"), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(signature)
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return f"{VENUE_TOKEN_PREFIX}{signing_input}.{b64(raw)}"


def header_for(kid: str = KID, **extra: object) -> bytes:
    return json.dumps({"alg": "ES256", "kid": kid, **extra}).encode()


def reason_of(token: object) -> str:
    with pytest.raises(InvalidVenueToken) as caught:
        VERIFIER.verify(token)  # type: ignore[arg-type]
    return caught.value.reason


def test_a_signed_token_verifies_to_its_claims() -> None:
    assert VERIFIER.verify(TOKEN) == CLAIMS


def test_token_is_prefix_and_compact_es256_jws() -> None:
    assert TOKEN.startswith("CHAINCUT:1:")
    header_b64, payload_b64, signature_b64 = TOKEN.removeprefix("CHAINCUT:1:").split(".")
    assert "=" not in TOKEN
    assert json.loads(unb64(header_b64)) == {"alg": "ES256", "kid": KID}
    assert unb64(payload_b64) == b'{"v":"01HZX3K4M5N6P7Q8R9S0T1V2W3","t":"restaurant","iat":1709281800}'
    signature = unb64(signature_b64)
    assert len(signature) == 64  # raw r || s, not DER
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    KEY.public_key().verify(der, f"{header_b64}.{payload_b64}".encode(), ec.ECDSA(hashes.SHA256()))


def test_issued_at_is_kept_to_the_second() -> None:
    claims = VenueClaims("venue-1", "taxi", datetime(2024, 3, 1, 8, 30, 59, 999_999, tzinfo=UTC))
    verified = VERIFIER.verify(VenueTokenSigner(KEY, KID).sign(claims))
    assert verified.issued_at == datetime(2024, 3, 1, 8, 30, 59, tzinfo=UTC)
    assert verified.issued_at.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "issued_at",
    [
        datetime(2024, 3, 1, 8, 30),
        datetime(2024, 3, 1, 16, 30, tzinfo=timezone(timedelta(hours=8))),
    ],
    ids=["naive", "hong-kong-time"],
)
def test_claims_need_utc_issue_time(issued_at: datetime) -> None:
    with pytest.raises(ValueError, match="UTC"):
        VenueClaims("venue-1", "restaurant", issued_at)


def test_rotated_keys_are_all_trusted() -> None:
    verifier = VenueTokenVerifier({KID: KEY.public_key(), OTHER_KID: OTHER_KEY.public_key()})
    other_token = VenueTokenSigner(OTHER_KEY, OTHER_KID).sign(CLAIMS)
    assert verifier.verify(TOKEN) == CLAIMS
    assert verifier.verify(other_token) == CLAIMS


def test_altered_payload_is_refused() -> None:
    header_b64, _, signature_b64 = TOKEN.removeprefix(VENUE_TOKEN_PREFIX).split(".")
    forged_payload = b64(b'{"v":"SOME-OTHER-VENUE","t":"restaurant","iat":1709281800}')
    forged = f"{VENUE_TOKEN_PREFIX}{header_b64}.{forged_payload}.{signature_b64}"
    assert reason_of(forged) == "bad signature"


def test_altered_signature_is_refused() -> None:
    body, signature_b64 = TOKEN.rsplit(".", 1)
    signature = bytearray(unb64(signature_b64))
    signature[10] ^= 0x01
    assert reason_of(f"{body}.{b64(bytes(signature))}") == "bad signature"


def test_token_signed_by_another_key_under_our_key_id_is_refused() -> None:
    forged = VenueTokenSigner(OTHER_KEY, KID).sign(CLAIMS)
    assert reason_of(forged) == "bad signature"


def test_token_with_unknown_key_id_is_refused() -> None:
    assert reason_of(VenueTokenSigner(OTHER_KEY, OTHER_KID).sign(CLAIMS)) == "unknown key id"


def test_retired_key_is_no_longer_trusted() -> None:
    with pytest.raises(InvalidVenueToken, match="unknown key id"):
        VenueTokenVerifier({OTHER_KID: OTHER_KEY.public_key()}).verify(TOKEN)


def test_non_canonical_base64_is_refused() -> None:
    # 64 bytes take 86 characters whose last one has 2 unused bits; setting them
    # spells the same signature differently.
    body, signature_b64 = TOKEN.rsplit(".", 1)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(signature_b64[-1])
    respelled = signature_b64[:-1] + alphabet[last | 0b01]
    if respelled == signature_b64:
        respelled = signature_b64[:-1] + alphabet[last | 0b10]
    assert unb64(respelled) == unb64(signature_b64)
    assert reason_of(f"{body}.{respelled}") == "bad signature"


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("", "missing prefix"),
        ("hello", "missing prefix"),
        ("UKC19TRACING:1:" + TOKEN.removeprefix(VENUE_TOKEN_PREFIX), "missing prefix"),
        ("chaincut:1:" + TOKEN.removeprefix(VENUE_TOKEN_PREFIX), "missing prefix"),
        ("CHAINCUT:2:" + TOKEN.removeprefix(VENUE_TOKEN_PREFIX), "missing prefix"),
        (VENUE_TOKEN_PREFIX, "malformed token"),
        (TOKEN.rsplit(".", 1)[0], "malformed token"),
        (TOKEN + ".", "malformed token"),
        (
            VENUE_TOKEN_PREFIX + TOKEN.removeprefix(VENUE_TOKEN_PREFIX).split(".")[0] + "..sig",
            "malformed token",
        ),
        (TOKEN + ".abc", "malformed token"),
        (TOKEN + "\n", "malformed token"),
        (" " + TOKEN, "missing prefix"),
        (TOKEN.replace("e", "é", 1), "malformed token"),
        (TOKEN[:-10], "bad signature"),
        (TOKEN[:-1], "bad signature"),
        (VENUE_TOKEN_PREFIX + "a.b.c", "malformed header"),
        (VENUE_TOKEN_PREFIX + "AAAA.AAAA.AAAA", "malformed header"),
        (VENUE_TOKEN_PREFIX + "\x00\ud800", "malformed token"),
        (VENUE_TOKEN_PREFIX + "A" * (MAX_TOKEN_LENGTH + 1), "token too long"),
        ("x" * 10_000_000, "token too long"),
        (b"CHAINCUT:1:abc", "malformed token"),
        (None, "malformed token"),
    ],
    ids=lambda value: repr(value)[:30] if not isinstance(value, str) or len(value) < 40 else "long",
)
def test_malformed_tokens_are_refused_with_a_reason(token: object, reason: str) -> None:
    assert reason_of(token) == reason


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (json.dumps({"alg": "none", "kid": KID}).encode(), "unsupported algorithm"),
        (json.dumps({"alg": "HS256", "kid": KID}).encode(), "unsupported algorithm"),
        (json.dumps({"alg": "ES384", "kid": KID}).encode(), "unsupported algorithm"),
        (json.dumps({"kid": KID}).encode(), "unsupported algorithm"),
        (header_for(crit=["exp"]), "unsupported header"),
        (json.dumps({"alg": "ES256"}).encode(), "malformed header"),
        (json.dumps({"alg": "ES256", "kid": 7}).encode(), "malformed header"),
        (b'["ES256"]', "malformed header"),
        (b"not json", "malformed header"),
        (b'{"alg":"ES256","kid":"x","alg":"ES256"}', "malformed header"),
        (b"\xff\xfe", "malformed header"),
    ],
    # Named, not by value: the key id is random, and every pytest-xdist worker must collect the same.
    ids=[
        "alg-none",
        "alg-hs256",
        "alg-es384",
        "no-alg",
        "crit",
        "no-kid",
        "kid-not-text",
        "a-list",
        "not-json",
        "alg-twice",
        "not-utf8",
    ],
)
def test_bad_headers_are_refused(header: bytes, reason: str) -> None:
    assert reason_of(sign_raw(header, b'{"v":"venue-1","t":"restaurant","iat":0}')) == reason


@pytest.mark.parametrize(
    "payload",
    [
        b'{"v":"venue-1","t":"restaurant"}',
        b'{"v":"venue-1","t":"restaurant","iat":"1709281800"}',
        b'{"v":"venue-1","t":"restaurant","iat":true}',
        b'{"v":"venue-1","t":"restaurant","iat":1709281800.5}',
        b'{"v":"venue-1","t":"restaurant","iat":-1}',
        b'{"v":"venue-1","t":"restaurant","iat":99999999999999999999}',
        b'{"v":"","t":"restaurant","iat":0}',
        b'{"v":7,"t":"restaurant","iat":0}',
        b'{"v":"venue-1","t":null,"iat":0}',
        b'{"v":"venue-1","t":"restaurant","iat":0,"admin":true}',
        b'{"v":"venue-1","v":"venue-2","t":"restaurant","iat":0}',
        b'["venue-1","restaurant",0]',
        b"[" * 1000,
    ],
)
def test_genuinely_signed_but_malformed_claims_are_refused(payload: bytes) -> None:
    assert reason_of(sign_raw(header_for(), payload)) == "malformed claims"


def test_verified_tokens_are_cached_but_forgeries_are_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    checks: list[int] = []
    real = encode_dss_signature

    def counting(r: int, s: int) -> bytes:
        checks.append(1)
        return real(r, s)

    monkeypatch.setattr(tokens, "encode_dss_signature", counting)
    verifier = VenueTokenVerifier({KID: KEY.public_key()}, cache_size=2)
    forged = VenueTokenSigner(OTHER_KEY, KID).sign(CLAIMS)
    for _ in range(3):
        assert verifier.verify(TOKEN) == CLAIMS
        with pytest.raises(InvalidVenueToken):
            verifier.verify(forged)
    assert len(checks) == 1 + 3  # the genuine token once, the forgery every time

    second = VenueTokenSigner(KEY, KID).sign(VenueClaims("venue-2", "shop", CLAIMS.issued_at))
    third = VenueTokenSigner(KEY, KID).sign(VenueClaims("venue-3", "shop", CLAIMS.issued_at))
    verifier.verify(second)
    verifier.verify(third)  # evicts TOKEN, the least recently used
    checks.clear()
    verifier.verify(TOKEN)
    assert len(checks) == 1


def test_key_id_is_first_8_bytes_of_spki_sha256() -> None:
    spki = KEY.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert b64(hashlib.sha256(spki).digest()[:8]) == KID
    assert len(KID) == 11
    assert KID != OTHER_KID


def test_pem_round_trips() -> None:
    loaded = load_private_key_pem(private_key_pem(KEY))
    token = VenueTokenSigner(loaded, KID).sign(CLAIMS)
    verifier = VenueTokenVerifier({KID: load_public_key_pem(public_key_pem(KEY.public_key()))})
    assert verifier.verify(token) == CLAIMS
    assert key_id_for(loaded.public_key()) == KID


def test_only_p256_keys_are_accepted() -> None:
    p384 = ec.generate_private_key(ec.SECP384R1())
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(ValueError, match="P-256"):
        VenueTokenSigner(p384, "kid")
    with pytest.raises(ValueError, match="P-256"):
        VenueTokenVerifier({"kid": p384.public_key()})
    with pytest.raises(ValueError, match="P-256"):
        load_private_key_pem(private_key_pem(p384))
    rsa_pem = rsa_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(ValueError, match="elliptic-curve"):
        load_private_key_pem(rsa_pem)


# --- fuzzing: nothing but InvalidVenueToken ever comes out, and no mutation forges ---

TOKEN_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."


def assert_refused_or_same_venue(candidate: str) -> None:
    reason: str | None = None
    try:
        claims = VERIFIER.verify(candidate)
    except InvalidVenueToken as error:
        reason = error.reason
    if reason is None:
        assert claims == CLAIMS, "a mutated token verified as a different venue"
    else:
        assert reason in REASONS


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=3000), st.text(TOKEN_ALPHABET, max_size=400)))
def test_arbitrary_text_is_refused(text: str) -> None:
    for candidate in (text, VENUE_TOKEN_PREFIX + text):
        with pytest.raises(InvalidVenueToken) as caught:
            VERIFIER.verify(candidate)
        assert caught.value.reason in REASONS


mutation = st.tuples(
    st.sampled_from(["replace", "insert", "delete"]),
    st.integers(min_value=0, max_value=len(TOKEN) - 1),
    st.one_of(st.sampled_from(TOKEN_ALPHABET), st.characters()),
)


@settings(max_examples=500)
@given(st.lists(mutation, min_size=1, max_size=4))
def test_mutated_tokens_never_verify_as_another_venue(
    edits: list[tuple[str, int, str]],
) -> None:
    candidate = TOKEN
    for operation, position, char in edits:
        index = min(position, len(candidate))
        if operation == "replace":
            candidate = candidate[:index] + char + candidate[index + 1 :]
        elif operation == "insert":
            candidate = candidate[:index] + char + candidate[index:]
        else:
            candidate = candidate[:index] + candidate[index + 1 :]
    assert_refused_or_same_venue(candidate)


@settings(max_examples=200)
@given(st.binary(min_size=1, max_size=200), st.integers(min_value=0, max_value=2))
def test_resigned_segments_with_random_bytes_only_raise_invalid_token(junk: bytes, segment: int) -> None:
    header_b64, payload_b64, signature_b64 = TOKEN.removeprefix(VENUE_TOKEN_PREFIX).split(".")
    parts = [header_b64, payload_b64, signature_b64]
    parts[segment] = b64(junk)
    assert_refused_or_same_venue(VENUE_TOKEN_PREFIX + ".".join(parts))


# --- names, check-in addresses and published keys (the residents' check-in page) ----------------

NAMED = VenueClaims(
    "01HZX3K4M5N6P7Q8R9S0T1V2W3",
    "restaurant",
    datetime(2026, 12, 1, 4, 0, tzinfo=UTC),
    name_en="Tai Hing Roast Restaurant",
    name_zh="太興燒味餐廳",
)


def test_a_token_carries_the_venues_names_for_the_page_to_show() -> None:
    token = VenueTokenSigner(KEY, KID).sign(NAMED)
    payload = json.loads(unb64(token.split(".")[1]))
    assert payload == {
        "v": NAMED.venue_id,
        "t": "restaurant",
        "iat": 1796097600,
        "en": "Tai Hing Roast Restaurant",
        "zh": "太興燒味餐廳",
    }
    assert VERIFIER.verify(token) == NAMED


@pytest.mark.parametrize(
    "payload",
    [
        b'{"v":"venue-1","t":"restaurant","iat":0,"en":7}',
        b'{"v":"venue-1","t":"restaurant","iat":0,"zh":null}',
        b'{"v":"venue-1","t":"restaurant","iat":0,"en":"' + b"x" * 257 + b'"}',
        b'{"v":"venue-1","t":"restaurant","en":"Shop"}',
    ],
)
def test_names_that_are_not_short_text_are_refused(payload: bytes) -> None:
    assert reason_of(sign_raw(header_for(), payload)) == "malformed claims"


def test_the_check_in_address_holds_the_token_as_its_fragment() -> None:
    url = tokens.checkin_url("https://chaincut.example.org/", TOKEN)
    assert url == f"https://chaincut.example.org/v#{TOKEN}"
    assert tokens.token_in(url) == TOKEN
    assert tokens.token_in(TOKEN) == TOKEN  # an older poster's bare token
    assert VERIFIER.verify(url) == CLAIMS
    # What follows the mark is what is checked: an altered fragment is refused like an altered token.
    assert reason_of(url[:-3] + ("AAA" if not url.endswith("AAA") else "BBB")) == "bad signature"
    assert reason_of("https://chaincut.example.org/v#not-a-token") == "missing prefix"


def test_the_published_key_is_the_signing_key() -> None:
    (jwk,) = VERIFIER.jwks()
    assert jwk["kty"] == "EC" and jwk["crv"] == "P-256" and jwk["alg"] == "ES256" and jwk["kid"] == KID
    numbers = ec.EllipticCurvePublicNumbers(
        int.from_bytes(unb64(jwk["x"]), "big"), int.from_bytes(unb64(jwk["y"]), "big"), ec.SECP256R1()
    )
    assert numbers.public_key() == KEY.public_key()
    assert len(unb64(jwk["x"])) == len(unb64(jwk["y"])) == 32  # fixed width, as RFC 7518 requires
