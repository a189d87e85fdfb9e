"""CrowdNotifier v3 in Python: the reference library's published test vectors reproduced byte for byte,
the protobuf messages, and the whole flow (venue, check-in, pre-trace, trace, match) with what must fail.

The vectors are read from ../shared/data/crowdnotifier/libcrowdnotifier-v3/testvectors.ts (the
reference's own file) at test time; tests/integration/test_presence_interop.py runs the reference
itself against this implementation.
"""

from __future__ import annotations

import hashlib
import json
import struct
from datetime import UTC, datetime, timedelta

import pytest
from nacl.bindings import crypto_box_seal

from chaincut.presence import ibe, protocol
from chaincut.presence.messages import (
    AssociatedData,
    MalformedMessage,
    PreTraceWithProof,
    QRCodePayload,
    QRCodeTrace,
    Trace,
    TraceLocation,
)
from support.crowdnotifier import reference_vectors

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
HOUR = 3600


def test_every_hkdf_vector_is_reproduced() -> None:
    vectors = reference_vectors("hkdfTestVectors")
    assert len(vectors) == 2
    for v in vectors:
        derived = protocol.derive_nonces(v["qrCodePayload"])
        assert derived.pre_id == v["noncePreId"]
        assert derived.time_key == v["nonceTimekey"]
        assert derived.notification_key == v["notificationKey"]


def test_every_identity_vector_is_reproduced() -> None:
    vectors = reference_vectors("identityTestVectors")
    assert len(vectors) == 2
    for v in vectors:
        assert struct.pack(">q", v["startOfInterval"]) == v["startOfIntervalBytes"]
        payload = v["qrCodePayload"]
        assert protocol.identity(payload, v["startOfInterval"]) == v["identity"]
        nonces = protocol.derive_nonces(payload)
        assert hashlib.sha256(b"CN-PREID" + payload + nonces.pre_id).digest() == v["preid"]


def test_messages_round_trip_and_refuse_what_is_not_one() -> None:
    location = TraceLocation(
        version=3, description="Tai Hing 太興", address="1 Hennessy Road", start_timestamp=1
    )
    payload = QRCodePayload(version=3, location_data=location, country_data=b"\x08\x02")
    assert QRCodePayload.decode(payload.encode()) == payload
    trace = Trace(identity=b"i" * 32, start_time=-5, end_time=2**40)
    assert Trace.decode(trace.encode()) == trace  # int64, negative too (ten-byte varint)
    assert QRCodeTrace().encode() == b""  # proto3: defaults are left out
    with pytest.raises(MalformedMessage, match="QRCodePayload"):
        QRCodePayload.decode(b"\x12\x05ab")  # a field running past the end
    with pytest.raises(MalformedMessage, match="varint"):
        Trace.decode(b"\x18" + b"\xff" * 11)
    with pytest.raises(MalformedMessage, match="expected a varint"):
        Trace.decode(b"\x1a\x01x")  # start_time sent length-delimited
    # Unknown fields are skipped, as protobuf decoders do.
    assert AssociatedData.decode(b"\x08\x03\x62\x01x\x12\x02hi") == AssociatedData(version=3, message="hi")


def test_group_elements_are_read_only_at_their_exact_length() -> None:
    mpk, msk = ibe.generate_keys()
    assert len(mpk.serialize()) == ibe.G2_BYTES and len(msk.serialize()) == ibe.FR_BYTES
    assert ibe.g2_from_bytes(mpk.serialize()) == mpk
    with pytest.raises(ibe.InvalidElement, match="expected 96 bytes, got 97"):
        ibe.g2_from_bytes(mpk.serialize() + b"\0")  # mcl alone would ignore the extra byte
    with pytest.raises(ibe.InvalidElement, match="not a valid element"):
        ibe.fr_from_bytes(int(ibe.pymcl.r).to_bytes(32, "little"))  # not below the group order
    key = ibe.derive_key(msk, b"identity")
    assert ibe.g1_from_bytes(key.serialize()) == key
    # A point on the curve outside the prime-order subgroup (x = 4): refused by mcl when read.
    outside = bytearray((4).to_bytes(48, "little"))
    with pytest.raises(ibe.InvalidElement):
        ibe.g1_from_bytes(bytes(outside))


@pytest.fixture
def venue() -> tuple[protocol.AuthorityKeys, protocol.LocationCodes]:
    authority = protocol.setup_authority()
    codes = protocol.setup_location(
        authority.public,
        "Tai Hing Roast Restaurant",
        "1 Hennessy Road",
        NOW - timedelta(days=1),
        NOW + timedelta(days=30),
    )
    return authority, codes


def test_a_visit_during_a_cases_stay_matches_and_reads_the_message(
    venue: tuple[protocol.AuthorityKeys, protocol.LocationCodes],
) -> None:
    authority, codes = venue
    place = protocol.read_entry_code(codes.entry, NOW)
    assert (place.description, place.address) == ("Tai Hing Roast Restaurant", "1 Hennessy Road")
    arrival = int(NOW.timestamp()) - 2 * HOUR + 600  # 08:10 to 09:20: two hours touched
    record = protocol.check_in(place, arrival, arrival + 70 * 60)
    assert len(record) == 2
    case_start = arrival + 30 * 60
    pre = protocol.pre_traces(codes.tracing, case_start, case_start + 19 * 60)  # 08:40 to 08:59
    assert len(pre) == 1
    published = protocol.trace(pre[0], authority, "Get tested within 2 days")
    exposure = protocol.match(record, published)
    assert exposure is not None
    assert (exposure.arrival, exposure.departure) == (arrival, arrival + 70 * 60)
    assert exposure.message == "Get tested within 2 days" and exposure.overlaps
    # The message the phone decrypted is the reference's JSON: what its phones read too.
    opened = ibe.decrypt(
        Trace.decode(published).identity,
        ibe.g1_from_bytes(Trace.decode(published).secret_key_for_identity),
        record[0],
    )
    assert opened is not None and json.loads(opened)["notificationKey"]["type"] == "Buffer"


def test_another_hour_or_venue_never_matches(
    venue: tuple[protocol.AuthorityKeys, protocol.LocationCodes],
) -> None:
    authority, codes = venue
    place = protocol.read_entry_code(codes.entry, NOW)
    arrival = int(NOW.timestamp()) - 5 * HOUR
    record = protocol.check_in(place, arrival, arrival + 30 * 60)
    later = protocol.pre_traces(codes.tracing, arrival + 2 * HOUR, arrival + 3 * HOUR)
    assert all(protocol.match(record, protocol.trace(p, authority, "x")) is None for p in later)
    other = protocol.setup_location(
        authority.public, "Gym", "2 Road", NOW - timedelta(days=1), NOW + timedelta(days=1)
    )
    same_hour = protocol.pre_traces(other.tracing, arrival, arrival + 10 * 60)
    assert protocol.match(record, protocol.trace(same_hour[0], authority, "x")) is None


def test_the_authority_refuses_pre_traces_that_do_not_check(
    venue: tuple[protocol.AuthorityKeys, protocol.LocationCodes],
) -> None:
    authority, codes = venue
    start = int(NOW.timestamp()) - HOUR
    (pre,) = protocol.pre_traces(codes.tracing, start, start + 60)
    with pytest.raises(protocol.InvalidPresenceData, match="does not open with this authority's key"):
        protocol.trace(pre, protocol.setup_authority(), "x")
    decoded = PreTraceWithProof.decode(pre)
    assert decoded.pre_trace is not None
    moved = PreTraceWithProof(
        pre_trace=decoded.pre_trace,
        proof=decoded.proof,
        qr_code_payload=decoded.qr_code_payload,
        start_time=decoded.start_time,
        end_time=decoded.end_time,
        start_of_interval=decoded.start_of_interval + HOUR,  # another hour than its identity's
    )
    with pytest.raises(protocol.InvalidPresenceData, match="identity does not follow"):
        protocol.trace(moved.encode(), authority, "x")
    # A venue share that is not the venue's: its key does not open what the venue's mpk encrypts.
    tracing = QRCodeTrace.decode(codes.tracing)
    _, wrong_msk = ibe.generate_keys()
    forged = QRCodeTrace(
        version=3,
        qr_code_payload=tracing.qr_code_payload,
        master_secret_key_location=wrong_msk.serialize(),
        cipher_text_health_authority=tracing.cipher_text_health_authority,
    ).encode()
    (bad,) = protocol.pre_traces(forged, start, start + 60)
    with pytest.raises(protocol.InvalidPresenceData, match="does not match its public key"):
        protocol.trace(bad, authority, "x")
    # A sealed share that opens but is not the venue's (sealed by someone else to this authority).
    _, other_msk = ibe.generate_keys()
    resealed = QRCodeTrace(
        version=3,
        qr_code_payload=tracing.qr_code_payload,
        master_secret_key_location=tracing.master_secret_key_location,
        cipher_text_health_authority=crypto_box_seal(other_msk.serialize(), authority.public),
    ).encode()
    (also_bad,) = protocol.pre_traces(resealed, start, start + 60)
    with pytest.raises(protocol.InvalidPresenceData, match="does not match its public key"):
        protocol.trace(also_bad, authority, "x")


def test_an_entry_code_is_read_only_in_its_validity_and_whole(
    venue: tuple[protocol.AuthorityKeys, protocol.LocationCodes],
) -> None:
    _, codes = venue
    with pytest.raises(protocol.InvalidPresenceData, match="not valid at this time"):
        protocol.read_entry_code(codes.entry, NOW + timedelta(days=31))
    with pytest.raises(protocol.InvalidPresenceData, match="entry code"):
        protocol.read_entry_code(codes.entry[:-3], NOW)
    with pytest.raises(protocol.InvalidPresenceData, match="description"):
        protocol.setup_location(b"k" * 32, "x" * 101, "road", NOW, NOW + timedelta(hours=1))
    assert protocol.b64decode(protocol.b64encode(codes.entry)) == codes.entry
    assert "=" not in protocol.b64encode(codes.entry) and "+" not in protocol.b64encode(codes.entry)


def test_hours_touched_by_a_stay() -> None:
    assert list(protocol.affected_hours(3599, 3600)) == [0, 1]
    assert list(protocol.affected_hours(7200, 7200 + 3599)) == [2]
