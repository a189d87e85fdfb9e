"""CrowdNotifier version 3 (techspec, and the reference library ``@c4dt/libcrowdnotifier`` 1.4): venues'
and the authority's keys, the entry and tracing QR codes, check-ins encrypted on the phone, pre-traces,
traces and matching.

- The authority holds an X25519 key pair (``setup_authority``); a venue's master secret key has two
  shares, the venue's own (in its private tracing QR code) and the authority's, sealed to the
  authority's public key (libsodium's sealed box) so that only the authority opens it.
- The entry QR code holds the ``QRCodePayload`` protobuf: the venue's description and address, its
  validity, the master public key mpk = g2 * (msk_location + msk_authority) and a random seed. HKDF-
  SHA-256 of those exact bytes (empty salt, info ``CrowdNotifier_v3``) gives the pre-identity nonce,
  the time-key nonce and the notification key, 32 bytes each.
- A visit's identity for each hour it touches is SHA-256("CN-ID" || preid || 3600 || start || timekey)
  with preid = SHA-256("CN-PREID" || payload || nonce1) and timekey = SHA-256("CN-TIMEKEY" || 3600
  || start || nonce2), the interval's length as a big-endian int32 and its start (seconds) as int64.
- A check-in is, for each hour, the IBE encryption (``ibe.encrypt``) to that hour's identity of the
  JSON ``{"arrivalTime","departureTime","notificationKey":{"type":"Buffer","data":[...]}}``: the
  reference's own encoding, so that its phones and ours read each other's records.
- To trace, the venue's owner derives, per hour of the case's stay, its share of the identity's key
  (``pre_traces``); the authority opens its own share, checks the identity against the payload and
  the combined key against mpk by a test encryption, and publishes the ``Trace``: the hour's identity,
  its secret key, the time window and the authority's message encrypted under the notification key.
- A phone's ``match`` decrypts its records with each published key; a record that opens and falls in
  the window names the exposure and the message.

Times are whole seconds since the Unix epoch (UTC), as the protocol's fields are.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import struct
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from nacl.bindings import (
    crypto_box_keypair,
    crypto_box_seal,
    crypto_box_seal_open,
    crypto_secretbox,
    crypto_secretbox_open,
)
from nacl.exceptions import CryptoError
from pymcl import G1, G2

from chaincut.presence import ibe
from chaincut.presence.messages import (
    AssociatedData,
    CrowdNotifierData,
    MalformedMessage,
    PreTrace,
    PreTraceWithProof,
    QRCodePayload,
    QRCodeTrace,
    Trace,
    TraceLocation,
    TraceProof,
)

__all__ = [
    "INTERVAL_SECONDS",
    "VERSION",
    "AuthorityKeys",
    "Exposure",
    "HourTrace",
    "InvalidPresenceData",
    "LocationCodes",
    "Nonces",
    "Venue",
    "affected_hours",
    "authority_traces",
    "b64decode",
    "b64encode",
    "check_in",
    "derive_nonces",
    "identity",
    "identity_of",
    "match",
    "pre_identity",
    "pre_traces",
    "read_entry_code",
    "server_traces",
    "setup_authority",
    "setup_location",
    "setup_server_location",
    "time_key",
    "trace",
    "tracing_code_payload",
]

VERSION = 3
INTERVAL_SECONDS = 3600  # the protocol's one interval length: an hour
_HKDF_INFO = b"CrowdNotifier_v3"
_TEXT_LIMIT = 100  # characters of a venue's description and of its address
_SEED_BYTES = 32


class InvalidPresenceData(ValueError):
    """A QR code, pre-trace or trace that is not what it claims to be, or out of its validity."""


def b64encode(data: bytes) -> str:
    """Base64 as libsodium's ``to_base64`` writes it by default: URL-safe, no padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError):
        raise InvalidPresenceData("not URL-safe base64") from None


@dataclass(frozen=True)
class Nonces:
    pre_id: bytes
    time_key: bytes
    notification_key: bytes


def derive_nonces(payload: bytes) -> Nonces:
    """HKDF-SHA-256 of the entry QR code's payload bytes: nonce1, nonce2 and the notification key."""
    derived = HKDF(algorithm=hashes.SHA256(), length=96, salt=None, info=_HKDF_INFO).derive(payload)
    return Nonces(derived[:32], derived[32:64], derived[64:])


def pre_identity(payload: bytes, nonces: Nonces | None = None) -> bytes:
    """The venue's pre-identity: what server-based clients keep, and send when a case shares a visit."""
    n = nonces or derive_nonces(payload)
    return hashlib.sha256(b"CN-PREID" + payload + n.pre_id).digest()


def time_key(start_of_interval: int, nonces: Nonces) -> bytes:
    """The hour's time key (``CN-TIMEKEY``), which with the pre-identity gives the hour's identity."""
    interval = struct.pack(">iq", INTERVAL_SECONDS, start_of_interval)
    return hashlib.sha256(b"CN-TIMEKEY" + interval + nonces.time_key).digest()


def identity_of(pre_id: bytes, start_of_interval: int, hour_key: bytes) -> bytes:
    """The identity for the hour, from the pre-identity and the hour's time key."""
    interval = struct.pack(">iq", INTERVAL_SECONDS, start_of_interval)
    return hashlib.sha256(b"CN-ID" + pre_id + interval + hour_key).digest()


def identity(payload: bytes, start_of_interval: int, nonces: Nonces | None = None) -> bytes:
    """The venue's identity for the hour starting at ``start_of_interval``."""
    n = nonces or derive_nonces(payload)
    return identity_of(pre_identity(payload, n), start_of_interval, time_key(start_of_interval, n))


def affected_hours(arrival: int, departure: int) -> range:
    """Every hour (counted from the epoch) a stay touches, even in part."""
    return range(arrival // INTERVAL_SECONDS, departure // INTERVAL_SECONDS + 1)


@dataclass(frozen=True)
class AuthorityKeys:
    """The authority's X25519 key pair: venues seal its share of their master key to ``public``."""

    public: bytes
    secret: bytes


def setup_authority() -> AuthorityKeys:
    public, secret = crypto_box_keypair()
    return AuthorityKeys(public, secret)


@dataclass(frozen=True)
class LocationCodes:
    """A venue's two QR codes: the entry code's payload (public) and the tracing code (the owner's)."""

    entry: bytes
    tracing: bytes


def setup_location(
    authority_public_key: bytes,
    description: str,
    address: str,
    valid_from: datetime,
    valid_to: datetime,
    *,
    country_data: bytes = b"",
) -> LocationCodes:
    """New keys for a venue: its share and the authority's (sealed), the master public key, a seed."""
    _check_location(description, address, valid_from, valid_to)
    mpk_location, msk_location = ibe.generate_keys()
    mpk_authority, msk_authority = ibe.generate_keys()
    sealed = crypto_box_seal(msk_authority.serialize(), authority_public_key)
    payload = _entry_payload(
        mpk_location + mpk_authority, description, address, valid_from, valid_to, country_data
    )
    tracing = QRCodeTrace(
        version=VERSION,
        qr_code_payload=payload,
        master_secret_key_location=msk_location.serialize(),
        cipher_text_health_authority=sealed,
    )
    return LocationCodes(payload, tracing.encode())


def setup_server_location(
    server_public_key: bytes,
    description: str,
    address: str,
    valid_from: datetime,
    valid_to: datetime,
    *,
    country_data: bytes = b"",
) -> bytes:
    """Server-based CrowdNotifier: an entry code under the authority's own master public key, with a
    fresh seed, and no tracing code (the authority alone can trace the venue)."""
    _check_location(description, address, valid_from, valid_to)
    mpk = ibe.g2_from_bytes(server_public_key, "the authority's master public key")
    return _entry_payload(mpk, description, address, valid_from, valid_to, country_data)


def _check_location(description: str, address: str, valid_from: datetime, valid_to: datetime) -> None:
    for field, text in (("description", description), ("address", address)):
        if not text or len(text) > _TEXT_LIMIT:
            raise InvalidPresenceData(f"{field}: expected 1 to {_TEXT_LIMIT} characters, got {len(text)}")
    if valid_to <= valid_from:
        raise InvalidPresenceData("valid_to: expected a time after valid_from")


def _entry_payload(
    mpk: G2, description: str, address: str, valid_from: datetime, valid_to: datetime, country_data: bytes
) -> bytes:
    return QRCodePayload(
        version=VERSION,
        location_data=TraceLocation(
            version=VERSION,
            description=description,
            address=address,
            start_timestamp=_seconds(valid_from),
            end_timestamp=_seconds(valid_to),
        ),
        crowd_notifier_data=CrowdNotifierData(
            version=VERSION,
            public_key=mpk.serialize(),
            cryptographic_seed=secrets.token_bytes(_SEED_BYTES),
        ),
        country_data=country_data,
    ).encode()


def _seconds(at: datetime) -> int:
    if at.tzinfo is None:
        raise ValueError("expected a timezone-aware time")
    return int(at.timestamp())


@dataclass(frozen=True)
class Venue:
    """What a phone reads from an entry QR code."""

    description: str
    address: str
    valid_from: int
    valid_to: int
    public_key: bytes
    payload: bytes
    country_data: bytes
    nonces: Nonces


def read_entry_code(payload: bytes, now: datetime | None = None) -> Venue:
    """The venue an entry QR code names; refused when malformed, or (given ``now``) outside its validity."""
    try:
        decoded = QRCodePayload.decode(payload)
    except MalformedMessage as exc:
        raise InvalidPresenceData(f"entry code: {exc}") from None
    location, data = decoded.location_data, decoded.crowd_notifier_data
    if (
        location is None
        or data is None
        or not (
            location.description and location.address and location.start_timestamp and location.end_timestamp
        )
    ):
        raise InvalidPresenceData("entry code: the venue's description, address or validity is missing")
    # The point at infinity as a master key would encrypt to nothing (every record open to anyone).
    if ibe.g2_from_bytes(data.public_key, "entry code's public key").is_zero():
        raise InvalidPresenceData("entry code's public key: the point at infinity")
    if now is not None and not location.start_timestamp <= _seconds(now) <= location.end_timestamp:
        raise InvalidPresenceData("entry code: not valid at this time")
    return Venue(
        location.description,
        location.address,
        location.start_timestamp,
        location.end_timestamp,
        data.public_key,
        payload,
        decoded.country_data,
        derive_nonces(payload),
    )


def _visit_message(arrival: int, departure: int, notification_key: bytes) -> bytes:
    # The reference stringifies a Node Buffer: {"type":"Buffer","data":[...]}. Compact, in this order.
    record = {
        "arrivalTime": arrival,
        "departureTime": departure,
        "notificationKey": {"type": "Buffer", "data": list(notification_key)},
    }
    return json.dumps(record, separators=(",", ":")).encode("utf-8")


def check_in(venue: Venue, arrival: int, departure: int) -> list[ibe.Ciphertext]:
    """A visit as the phone keeps it: one ciphertext per hour the stay touches, to that hour's identity."""
    if departure < arrival:
        raise InvalidPresenceData("departure: expected a time at or after the arrival")
    mpk = ibe.g2_from_bytes(venue.public_key, "venue's public key")
    message = _visit_message(arrival, departure, venue.nonces.notification_key)
    return [
        ibe.encrypt(mpk, identity(venue.payload, hour * INTERVAL_SECONDS, venue.nonces), message)
        for hour in affected_hours(arrival, departure)
    ]


def pre_traces(tracing_code: bytes, start: int, end: int) -> list[bytes]:
    """The venue owner's pre-traces for a case there from ``start`` to ``end``: one per hour touched."""
    try:
        tracing = QRCodeTrace.decode(tracing_code)
        payload = QRCodePayload.decode(tracing.qr_code_payload)
    except MalformedMessage as exc:
        raise InvalidPresenceData(f"tracing code: {exc}") from None
    if payload.crowd_notifier_data is None:
        raise InvalidPresenceData("tracing code: its entry payload holds no public key")
    msk_location = ibe.fr_from_bytes(tracing.master_secret_key_location, "tracing code's secret key")
    nonces = derive_nonces(tracing.qr_code_payload)
    proof = TraceProof(payload.crowd_notifier_data.public_key, nonces.pre_id, nonces.time_key)
    out = []
    for hour in affected_hours(start, end):
        start_of_interval = hour * INTERVAL_SECONDS
        ident = identity(tracing.qr_code_payload, start_of_interval, nonces)
        pre = PreTrace(
            identity=ident,
            partial_secret_key_for_identity_of_location=ibe.derive_key(msk_location, ident).serialize(),
            cipher_text_health_authority=tracing.cipher_text_health_authority,
            notification_key=nonces.notification_key,
        )
        out.append(
            PreTraceWithProof(
                pre_trace=pre,
                proof=proof,
                qr_code_payload=tracing.qr_code_payload,
                start_time=start,
                end_time=end,
                start_of_interval=start_of_interval,
            ).encode()
        )
    return out


def trace(pre_trace: bytes, authority: AuthorityKeys, message: str, *, country_data: bytes = b"") -> bytes:
    """The authority's published trace for one pre-trace, once it checks; InvalidPresenceData if not."""
    try:
        proof_of = PreTraceWithProof.decode(pre_trace)
    except MalformedMessage as exc:
        raise InvalidPresenceData(f"pre-trace: {exc}") from None
    pre, proof = proof_of.pre_trace, proof_of.proof
    if pre is None or proof is None or not proof_of.start_of_interval:
        raise InvalidPresenceData("pre-trace: a field is missing")
    try:
        msk_authority = ibe.fr_from_bytes(
            crypto_box_seal_open(pre.cipher_text_health_authority, authority.public, authority.secret),
            "the authority's share",
        )
    except CryptoError:
        raise InvalidPresenceData(
            "pre-trace: its sealed share does not open with this authority's key"
        ) from None
    expected = identity(proof_of.qr_code_payload, proof_of.start_of_interval)
    if pre.identity != expected:
        raise InvalidPresenceData(
            "pre-trace: the identity does not follow from the venue's code and the hour"
        )
    share = ibe.g1_from_bytes(pre.partial_secret_key_for_identity_of_location, "the venue's key share")
    skid = share + ibe.derive_key(msk_authority, expected)
    # The combined key must open what the venue's public key encrypts to this identity.
    mpk = ibe.g2_from_bytes(proof.master_public_key, "the proof's public key")
    probe = secrets.token_bytes(ibe.NONCE_BYTES)
    if ibe.decrypt(expected, skid, ibe.encrypt(mpk, expected, probe)) != probe:
        raise InvalidPresenceData("pre-trace: the venue's key share does not match its public key")
    return _published(
        expected, skid, proof_of.start_time, proof_of.end_time, pre.notification_key, message, country_data
    )


def _published(
    ident: bytes,
    skid: G1,
    start: int,
    end: int,
    notification_key: bytes,
    message: str,
    country_data: bytes,
) -> bytes:
    nonce = secrets.token_bytes(ibe.SECRETBOX_NONCE_BYTES)
    associated = AssociatedData(version=VERSION, message=message, country_data=country_data).encode()
    return Trace(
        identity=ident,
        secret_key_for_identity=skid.serialize(),
        start_time=start,
        end_time=end,
        nonce=nonce,
        encrypted_associated_data=crypto_secretbox(associated, nonce, notification_key),
    ).encode()


@dataclass(frozen=True)
class HourTrace:
    """One published trace and the hour (its start, in seconds) whose records it opens."""

    start_of_interval: int
    trace: bytes


def tracing_code_payload(tracing_code: bytes) -> bytes:
    """The entry code's payload a venue's tracing code belongs to."""
    try:
        return QRCodeTrace.decode(tracing_code).qr_code_payload
    except MalformedMessage as exc:
        raise InvalidPresenceData(f"tracing code: {exc}") from None


def authority_traces(
    tracing_code: bytes, authority: AuthorityKeys, start: int, end: int, message: str
) -> list[HourTrace]:
    """Basic CrowdNotifier: the owner's pre-traces for the window (from the tracing code) turned into
    the authority's traces, one per hour, each checked as ``trace`` checks it."""
    if end <= start:
        raise InvalidPresenceData("end: expected a time after the start")
    out = []
    for pre in pre_traces(tracing_code, start, end):
        hour = PreTraceWithProof.decode(pre).start_of_interval
        out.append(HourTrace(hour, trace(pre, authority, message)))
    return out


def server_traces(
    payload: bytes, master_secret_key: bytes, start: int, end: int, message: str
) -> list[HourTrace]:
    """Server-based CrowdNotifier: the traces for a venue whose entry code carries the authority's own
    master public key, one per hour of the window, the keys derived from its master secret key."""
    if end <= start:
        raise InvalidPresenceData("end: expected a time after the start")
    venue = read_entry_code(payload)
    msk = ibe.fr_from_bytes(master_secret_key, "the authority's master secret key")
    if ibe.g2_from_bytes(venue.public_key, "entry code's public key") != ibe.generator_g2() * msk:
        raise InvalidPresenceData("entry code: its public key is not the authority's own")
    out = []
    for hour in affected_hours(start, end):
        start_of_interval = hour * INTERVAL_SECONDS
        ident = identity(payload, start_of_interval, venue.nonces)
        skid = ibe.derive_key(msk, ident)
        out.append(
            HourTrace(
                start_of_interval,
                _published(ident, skid, start, end, venue.nonces.notification_key, message, b""),
            )
        )
    return out


@dataclass(frozen=True)
class Exposure:
    """A record that a published trace opened: the phone's own stay, and the authority's message."""

    arrival: int
    departure: int
    message: str
    country_data: bytes
    trace_start: int
    trace_end: int
    notification_key: bytes = b""  # from the phone's own record: it shows the phone held the poster

    @property
    def arrived_at(self) -> datetime:
        return datetime.fromtimestamp(self.arrival, UTC)

    @property
    def overlaps(self) -> bool:
        """Whether the stay overlaps the case's window (a record opens for any stay in the hour)."""
        return self.arrival < self.trace_end and self.departure > self.trace_start


def match(entries: list[ibe.Ciphertext], published: bytes) -> Exposure | None:
    """The exposure the trace reveals in this visit's records, or None (it is another venue or hour)."""
    try:
        found = Trace.decode(published)
        skid = ibe.g1_from_bytes(found.secret_key_for_identity, "trace's key")
    except (MalformedMessage, ibe.InvalidElement):
        return None
    for entry in entries:
        opened = ibe.decrypt(found.identity, skid, entry)
        if opened is None:
            continue
        try:
            record = json.loads(opened)
            key = bytes(record["notificationKey"]["data"])
            associated = AssociatedData.decode(
                crypto_secretbox_open(found.encrypted_associated_data, found.nonce, key)
            )
            arrival, departure = int(record["arrivalTime"]), int(record["departureTime"])
        except (ValueError, KeyError, TypeError, CryptoError, MalformedMessage):
            continue
        return Exposure(
            arrival,
            departure,
            associated.message,
            associated.country_data,
            found.start_time,
            found.end_time,
            key,
        )
    return None
