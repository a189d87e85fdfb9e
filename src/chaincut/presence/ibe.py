"""CrowdNotifier's identity-based encryption: Boneh and Franklin's FullIdent on BLS12-381 with a type-III
pairing, as the reference library builds it (after Paterson and Srinivasan, with several authorities).

The curve arithmetic is mcl's (``pymcl``, the same C++ library the reference runs compiled to
WebAssembly, ``mcl-wasm``); this module only composes it, and reads and writes group elements in
mcl's serialisation, which the reference's protobufs carry and its hashes read:

- Fr: 32 bytes, little-endian, below the group order r;
- G1: 48 bytes, the x coordinate little-endian with the top bit of the last byte holding y's parity
  (compressed); G2: 96 bytes, x's two Fp coordinates (c0, c1) likewise;
- GT: 576 bytes, twelve Fp coefficients of 48 bytes, little-endian.

mcl reads the first bytes of a longer buffer and ignores the rest, so every read here checks the
exact length first; it refuses points off the curve or outside the prime-order subgroup itself.
Hashes: ``H1`` is mcl's hash-and-map to G1 (``hashAndMapToG1``); Fr's ``setHashOf`` (SHA-256 read
little-endian, cut to 255 bits, and to 254 when still not below r) is restated here, since pymcl
does not offer it; ``HT`` and ``H4`` are SHA-256. The symmetric part is libsodium's
``crypto_secretbox`` (XSalsa20-Poly1305) through PyNaCl.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import pymcl
from nacl.bindings import crypto_secretbox, crypto_secretbox_open
from nacl.exceptions import CryptoError
from pymcl import G1, G2, GT, Fr

__all__ = [
    "FR_BYTES",
    "G1_BYTES",
    "G2_BYTES",
    "GT_BYTES",
    "NONCE_BYTES",
    "SECRETBOX_NONCE_BYTES",
    "Ciphertext",
    "InvalidElement",
    "decrypt",
    "derive_key",
    "encrypt",
    "fr_from_bytes",
    "fr_hash_of",
    "g1_from_bytes",
    "g2_from_bytes",
    "generate_keys",
    "generator_g2",
    "hash_to_g1",
]

FR_BYTES, G1_BYTES, G2_BYTES, GT_BYTES = 32, 48, 96, 576
NONCE_BYTES = 32  # x: 2l bits for security parameter l = 128
SECRETBOX_NONCE_BYTES = 24
_R = int(pymcl.r)
_G2_BASE = pymcl.g2  # the generator the reference calls baseG2 (checked against it by the tests)


class InvalidElement(ValueError):
    """Bytes that are not a group element of the expected kind."""


def _read(kind: type[Fr] | type[G1] | type[G2], data: bytes, size: int, what: str) -> Fr | G1 | G2:
    if len(data) != size:
        raise InvalidElement(f"{what}: expected {size} bytes, got {len(data)}")
    try:
        return kind.deserialize(bytes(data))
    except Exception:
        raise InvalidElement(f"{what}: not a valid element") from None


def fr_from_bytes(data: bytes, what: str = "scalar") -> Fr:
    value = _read(Fr, data, FR_BYTES, what)
    assert isinstance(value, Fr)
    return value


def g1_from_bytes(data: bytes, what: str = "G1 element") -> G1:
    value = _read(G1, data, G1_BYTES, what)
    assert isinstance(value, G1)
    return value


def g2_from_bytes(data: bytes, what: str = "G2 element") -> G2:
    value = _read(G2, data, G2_BYTES, what)
    assert isinstance(value, G2)
    return value


def fr_hash_of(message: bytes) -> Fr:
    """mcl's ``Fr::setHashOf``: SHA-256 read little-endian, cut to 255 bits, then to 254 if not below r."""
    value = int.from_bytes(hashlib.sha256(message).digest(), "little") & ((1 << 255) - 1)
    if value >= _R:
        value &= (1 << 254) - 1
    return Fr(str(value), 10)


def hash_to_g1(message: bytes) -> G1:
    """H1: mcl's ``hashAndMapToG1``."""
    return G1.hash(message)


def _ht(element: GT) -> bytes:
    return hashlib.sha256(element.serialize()).digest()


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(p ^ q for p, q in zip(a, b, strict=True))


def _random_fr() -> Fr:
    return Fr(str(secrets.randbelow(_R - 1) + 1), 10)


def generator_g2() -> G2:
    """The G2 generator master public keys are built on (the reference's baseG2)."""
    return _G2_BASE


def generate_keys() -> tuple[G2, Fr]:
    """A master key pair: (mpk = g2 * msk, msk), msk random and not zero."""
    msk = _random_fr()
    return _G2_BASE * msk, msk


def derive_key(msk: Fr, identity: bytes) -> G1:
    """The identity's secret key share: H1(identity) * msk."""
    return hash_to_g1(identity) * msk


@dataclass(frozen=True)
class Ciphertext:
    """An IBE ciphertext: c1 in G2, c2 (32 bytes), c3 the secretbox of the message, and its nonce."""

    c1: G2
    c2: bytes
    c3: bytes
    nonce: bytes

    def to_bytes(self) -> bytes:
        """c1 (96 bytes), the nonce (24), c2 (32), then c3: how phones keep a record."""
        return self.c1.serialize() + self.nonce + self.c2 + self.c3

    @classmethod
    def from_bytes(cls, data: bytes) -> Ciphertext:
        head = G2_BYTES + SECRETBOX_NONCE_BYTES + NONCE_BYTES
        if len(data) <= head:
            raise InvalidElement(f"ciphertext: expected more than {head} bytes, got {len(data)}")
        c1 = g2_from_bytes(data[:G2_BYTES], "ciphertext's c1")
        nonce = data[G2_BYTES : G2_BYTES + SECRETBOX_NONCE_BYTES]
        return cls(c1, data[G2_BYTES + SECRETBOX_NONCE_BYTES : head], data[head:], nonce)


def encrypt(mpk: G2, identity: bytes, message: bytes) -> Ciphertext:
    """FullIdent: x random, r = H3(x || id || m), c1 = g2 * r, c2 = x XOR HT(e(H1(id), mpk)^r),
    c3 = secretbox(m) under H4(x)."""
    x = secrets.token_bytes(NONCE_BYTES)
    r = fr_hash_of(x + identity + message)
    c1 = _G2_BASE * r
    c2 = _xor(x, _ht(pymcl.pairing(hash_to_g1(identity), mpk) ** r))
    nonce = secrets.token_bytes(SECRETBOX_NONCE_BYTES)
    return Ciphertext(c1, c2, crypto_secretbox(message, nonce, hashlib.sha256(x).digest()), nonce)


def decrypt(identity: bytes, skid: G1, ciphertext: Ciphertext) -> bytes | None:
    """The message, or None when the key does not open it or the ciphertext fails its checks
    (c1 recomputed from the opened message; the key in G1's prime-order subgroup, not zero)."""
    if skid.is_zero() or len(ciphertext.c2) != NONCE_BYTES:
        return None  # mcl has refused keys outside the subgroup when they were read
    x = _xor(ciphertext.c2, _ht(pymcl.pairing(skid, ciphertext.c1)))
    try:
        message: bytes = crypto_secretbox_open(ciphertext.c3, ciphertext.nonce, hashlib.sha256(x).digest())
    except (CryptoError, ValueError):  # a wrong key, or a nonce of the wrong length
        return None
    if _G2_BASE * fr_hash_of(x + identity + message) != ciphertext.c1:
        return None
    return message
