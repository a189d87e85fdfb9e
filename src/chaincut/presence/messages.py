"""CrowdNotifier v3's protobuf messages (``crowdnotifier_v3``, the reference library's messages.proto),
encoded and decoded by hand: a few flat messages of varints and length-delimited fields.

Encoding writes the fields in number order and leaves out a field at its default (0, empty), as
proto3 encoders do; decoding takes the fields in any order, keeps the last of a repeated scalar,
skips fields it does not know (by their wire type), and refuses bytes that are not a message of
the kind asked for (`MalformedMessage`, naming the message). Integers are 64-bit two's complement
varints, as protobuf writes ``int64``; nothing here needs ``sint`` or fixed-width fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Self

__all__ = [
    "AssociatedData",
    "CrowdNotifierData",
    "MalformedMessage",
    "Message",
    "PreTrace",
    "PreTraceWithProof",
    "QRCodePayload",
    "QRCodeTrace",
    "Trace",
    "TraceLocation",
    "TraceProof",
]

_VARINT, _LENGTH = 0, 2
_MAX_VARINT_BYTES = 10


class MalformedMessage(ValueError):
    """Bytes that are not the protobuf message they were read as."""


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int64: two's complement, ten bytes
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_varint(data: bytes, at: int, what: str) -> tuple[int, int]:
    value = shift = 0
    for index in range(at, min(at + _MAX_VARINT_BYTES, len(data))):
        byte = data[index]
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, index + 1
        shift += 7
    raise MalformedMessage(f"{what}: a varint runs past the end or past 10 bytes")


@dataclass(frozen=True)
class Message:
    """A message whose fields are listed in ``SCHEMA``: number -> (attribute, kind)."""

    SCHEMA: ClassVar[dict[int, tuple[str, Any]]]

    def encode(self) -> bytes:
        out = bytearray()
        for number, (name, kind) in sorted(self.SCHEMA.items()):
            value = getattr(self, name)
            if value in (None, 0, b"", ""):
                continue
            if kind in ("uint", "int64"):
                out += _varint(number << 3 | _VARINT) + _varint(value)
                continue
            payload = (
                value.encode("utf-8") if kind == "string" else value if kind == "bytes" else value.encode()
            )
            out += _varint(number << 3 | _LENGTH) + _varint(len(payload)) + payload
        return bytes(out)

    @classmethod
    def decode(cls, data: bytes) -> Self:
        what = cls.__name__
        values: dict[str, Any] = {}
        at = 0
        while at < len(data):
            key, at = _read_varint(data, at, what)
            number, wire = key >> 3, key & 7
            known = cls.SCHEMA.get(number)
            if wire == _VARINT:
                value, at = _read_varint(data, at, what)
                if known is not None:
                    if known[1] not in ("uint", "int64"):
                        raise MalformedMessage(f"{what}.{known[0]}: expected length-delimited, got a varint")
                    values[known[0]] = value - (1 << 64) if known[1] == "int64" and value >> 63 else value
            elif wire == _LENGTH:
                size, at = _read_varint(data, at, what)
                if at + size > len(data):
                    raise MalformedMessage(f"{what}: a field runs past the end")
                raw, at = bytes(data[at : at + size]), at + size
                if known is not None:
                    name, kind = known
                    if kind in ("uint", "int64"):
                        raise MalformedMessage(f"{what}.{name}: expected a varint, got length-delimited")
                    values[name] = _decoded(raw, kind, f"{what}.{name}")
            elif wire == 1:  # fixed 64-bit
                at += 8
            elif wire == 5:  # fixed 32-bit
                at += 4
            else:
                raise MalformedMessage(f"{what}: wire type {wire} is not supported")
            if at > len(data):
                raise MalformedMessage(f"{what}: a field runs past the end")
        return cls(**values)


def _decoded(raw: bytes, kind: Any, what: str) -> Any:
    if kind == "bytes":
        return raw
    if kind == "string":
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedMessage(f"{what}: not UTF-8") from None
    return kind.decode(raw)


@dataclass(frozen=True)
class TraceLocation(Message):
    SCHEMA: ClassVar[dict[int, tuple[str, Any]]] = {
        1: ("version", "uint"),
        2: ("description", "string"),
        3: ("address", "string"),
        4: ("start_timestamp", "uint"),
        5: ("end_timestamp", "uint"),
    }
    version: int = 0
    description: str = ""
    address: str = ""
    start_timestamp: int = 0
    end_timestamp: int = 0


@dataclass(frozen=True)
class CrowdNotifierData(Message):
    SCHEMA: ClassVar[dict[int, tuple[str, Any]]] = {
        1: ("version", "uint"),
        2: ("public_key", "bytes"),
        3: ("cryptographic_seed", "bytes"),
        4: ("type", "uint"),
    }
    version: int = 0
    public_key: bytes = b""
    cryptographic_seed: bytes = b""
    type: int = 0


@dataclass(frozen=True)
class QRCodePayload(Message):
    SCHEMA: ClassVar[dict[int, tuple[str, Any]]] = {
        1: ("version", "uint"),
        2: ("location_data", TraceLocation),
        3: ("crowd_notifier_data", CrowdNotifierData),
        4: ("country_data", "bytes"),
    }
    version: int = 0
    location_data: TraceLocation | None = None
    crowd_notifier_data: CrowdNotifierData | None = None
    country_data: bytes = b""


@dataclass(frozen=True)
class QRCodeTrace(Message):
    SCHEMA: ClassVar[dict[int, tuple[str, Any]]] = {
        1: ("version", "uint"),
        2: ("qr_code_payload", "bytes"),
        3: ("master_secret_key_location", "bytes"),
        4: ("cipher_text_health_authority", "bytes"),
    }
    version: int = 0
    qr_code_payload: bytes = b""
    master_secret_key_location: bytes = b""
    cipher_text_health_authority: bytes = b""


@dataclass(frozen=True)
class PreTrace(Message):
    SCHEMA: ClassVar[dict[int, tuple[str, Any]]] = {
        1: ("identity", "bytes"),
        2: ("partial_secret_key_for_identity_of_location", "bytes"),
        3: ("cipher_text_health_authority", "bytes"),
        5: ("notification_key", "bytes"),
    }
    identity: bytes = b""
    partial_secret_key_for_identity_of_location: bytes = b""
    cipher_text_health_authority: bytes = b""
    notification_key: bytes = b""


@dataclass(frozen=True)
class TraceProof(Message):
    SCHEMA: ClassVar[dict[int, tuple[str, Any]]] = {
        1: ("master_public_key", "bytes"),
        2: ("nonce1", "bytes"),
        3: ("nonce2", "bytes"),
    }
    master_public_key: bytes = b""
    nonce1: bytes = b""
    nonce2: bytes = b""


@dataclass(frozen=True)
class PreTraceWithProof(Message):
    SCHEMA: ClassVar[dict[int, tuple[str, Any]]] = {
        1: ("pre_trace", PreTrace),
        2: ("proof", TraceProof),
        3: ("qr_code_payload", "bytes"),
        4: ("start_time", "int64"),
        5: ("end_time", "int64"),
        6: ("start_of_interval", "int64"),
    }
    pre_trace: PreTrace | None = None
    proof: TraceProof | None = None
    qr_code_payload: bytes = b""
    start_time: int = 0
    end_time: int = 0
    start_of_interval: int = 0


@dataclass(frozen=True)
class Trace(Message):
    SCHEMA: ClassVar[dict[int, tuple[str, Any]]] = {
        1: ("identity", "bytes"),
        2: ("secret_key_for_identity", "bytes"),
        3: ("start_time", "int64"),
        4: ("end_time", "int64"),
        5: ("nonce", "bytes"),
        6: ("encrypted_associated_data", "bytes"),
    }
    identity: bytes = b""
    secret_key_for_identity: bytes = b""
    start_time: int = 0
    end_time: int = 0
    nonce: bytes = b""
    encrypted_associated_data: bytes = b""


@dataclass(frozen=True)
class AssociatedData(Message):
    SCHEMA: ClassVar[dict[int, tuple[str, Any]]] = {
        1: ("version", "int64"),  # int32 in the .proto: the same varint on the wire
        2: ("message", "string"),
        3: ("country_data", "bytes"),
    }
    version: int = 0
    message: str = ""
    country_data: bytes = b""
