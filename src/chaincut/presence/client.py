"""A phone's side of decentralised check-in, in Python: for tests, load simulation and other apps.

It does what the residents' page does: reads an entry code, keeps each visit as IBE ciphertexts (one
per hour) and sends nothing; downloads the published warnings, checks their signature, and matches
them on the device. Nothing it holds names a venue: a record opens only with a published key.

Matching is trial decryption, a pairing per try, so the client tries only where a trace could open a
record: the trace's hour (which the authority's pages name) must be one the visit touched, and the
case's window at the venue must overlap the visit. What remains is the protocol's inherent cost;
``bench/presence_matching.py`` measures it.

Bridging, only when the phone's owner chooses: ``share`` sends a case's server-based visits (their
pre-identity, times and hours' time keys, as the techspec's server-based clients send them), and
``report`` tells the authority of a match, so that the health code's risky-visit rule applies.
"""

from __future__ import annotations

import base64
import json
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from chaincut.presence import ibe
from chaincut.presence.messages import MalformedMessage, Trace
from chaincut.presence.protocol import (
    INTERVAL_SECONDS,
    Exposure,
    InvalidPresenceData,
    Venue,
    affected_hours,
    b64decode,
    check_in,
    identity_of,
    match,
    pre_identity,
    read_entry_code,
    time_key,
)
from chaincut.presence.wire import (
    ENTRY_CONTENT_TYPE,
    ENTRY_PREFIX,
    FAKE_HEADER,
    PAGE_LIMIT,
    SIGNATURE_HEADER,
    WARNINGS_CONTENT_TYPE,
)

__all__ = [
    "CheckInLimit",
    "Found",
    "PresenceClient",
    "PublishedTrace",
    "StoredVisit",
    "entry_payload_in",
    "keep_visit",
    "match_visits",
    "verify_detached",
]

log = logging.getLogger(__name__)

_DAY = 86_400


class CheckInLimit(InvalidPresenceData):
    """The phone already holds the policy's most check-ins for that day."""


def entry_payload_in(scanned: str, keys: Sequence[Mapping[str, str]]) -> bytes:
    """The entry code's payload in a scanned poster's address (``.../v#CROWDNOTIFIER:3:<JWS>``), once
    its signature checks with one of the authority's ``keys``; InvalidPresenceData if not."""
    _, hash_mark, fragment = scanned.strip().partition("#")
    if not hash_mark or not fragment.startswith(ENTRY_PREFIX):
        raise InvalidPresenceData("entry code: not a CrowdNotifier poster's address")
    parts = fragment[len(ENTRY_PREFIX) :].split(".")
    if len(parts) != 3 or not parts[1]:
        raise InvalidPresenceData("entry code: the address holds no signed payload")
    header, payload_b64, signature = parts
    payload = b64decode(payload_b64)
    if not verify_detached(payload, f"{header}..{signature}", keys, ENTRY_CONTENT_TYPE):
        raise InvalidPresenceData("entry code: not signed by the health authority (a forged poster?)")
    return payload


@dataclass
class StoredVisit:
    """One visit as the phone keeps it: its own times (for the diary) and one ciphertext per hour.

    ``identities``: at a server-based venue, each hour's identity too, as the specification's
    server-based clients keep them: a published trace is then found by its identity, with no trial
    decryption. At a basic venue the phone keeps none, so that nothing it holds tells where it was
    (someone holding the phone and a venue's poster could otherwise check).
    """

    arrival: int
    departure: int
    records: dict[int, ibe.Ciphertext]  # the hour's start (seconds) -> the record for that hour
    identities: dict[int, bytes] | None = None  # the hour's start -> its identity (server-based)
    pre_id: bytes | None = None  # server-based: the venue's pre-identity, to share the visit
    time_keys: dict[int, bytes] | None = None  # server-based: the hour's start -> its time key

    def to_json(self) -> dict[str, Any]:
        stored: dict[str, Any] = {
            "arrival": self.arrival,
            "departure": self.departure,
            "records": {str(h): base64.b64encode(c.to_bytes()).decode() for h, c in self.records.items()},
        }
        if self.identities is not None:
            stored["identities"] = {str(h): base64.b64encode(i).decode() for h, i in self.identities.items()}
        if self.pre_id is not None and self.time_keys is not None:
            stored["pre_id"] = base64.b64encode(self.pre_id).decode()
            stored["time_keys"] = {str(h): base64.b64encode(k).decode() for h, k in self.time_keys.items()}
        return stored

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StoredVisit:
        records = {int(h): ibe.Ciphertext.from_bytes(base64.b64decode(c)) for h, c in data["records"].items()}
        kept = data.get("identities")
        identities = None if kept is None else {int(h): base64.b64decode(i) for h, i in kept.items()}
        pre_id = data.get("pre_id")
        keys = data.get("time_keys")
        return cls(
            int(data["arrival"]),
            int(data["departure"]),
            records,
            identities,
            None if pre_id is None else base64.b64decode(pre_id),
            None if keys is None else {int(h): base64.b64decode(k) for h, k in keys.items()},
        )


def keep_visit(venue: Venue, arrival: int, departure: int, *, server_based: bool) -> StoredVisit:
    """A visit as the phone keeps it: a record per hour; at a server-based venue also the pre-identity
    and each hour's time key and identity, as the techspec's server-based clients keep them."""
    hours = [h * INTERVAL_SECONDS for h in affected_hours(arrival, departure)]
    records = dict(zip(hours, check_in(venue, arrival, departure), strict=True))
    if not server_based:
        return StoredVisit(arrival, departure, records)
    pre_id = pre_identity(venue.payload, venue.nonces)
    keys = {h: time_key(h, venue.nonces) for h in hours}
    identities = {h: identity_of(pre_id, h, keys[h]) for h in hours}
    return StoredVisit(arrival, departure, records, identities, pre_id, keys)


@dataclass(frozen=True)
class PublishedTrace:
    """A trace as downloaded: its number, the hour it opens (None when the source does not say) and
    the ``Trace`` message."""

    seq: int
    hour: int | None
    trace: bytes


@dataclass(frozen=True)
class Found:
    """An exposure, and the trace that revealed it."""

    exposure: Exposure
    seq: int


def match_visits(visits: Sequence[StoredVisit], traces: Iterable[PublishedTrace]) -> list[Found]:
    """Every exposure the traces reveal in the visits: one per visit and case's window at the venue
    that open each other and overlap in time.

    A visit that kept its identities (server-based venues) is looked up by the trace's identity. The
    others are tried: a trace only on records of its hour whose visit overlaps its window, each try
    a pairing (``bench/presence_matching.py`` measures how many fit in a second)."""
    by_hour: dict[int, list[tuple[StoredVisit, ibe.Ciphertext]]] = defaultdict(list)
    by_identity: dict[bytes, list[tuple[StoredVisit, ibe.Ciphertext]]] = defaultdict(list)
    for visit in visits:
        for hour, record in visit.records.items():
            if visit.identities is not None and hour in visit.identities:
                by_identity[visit.identities[hour]].append((visit, record))
            else:
                by_hour[hour].append((visit, record))
    found: list[Found] = []
    seen: set[tuple[int, int, int]] = set()  # a stay over several hours opens with each hour's trace
    for published in traces:
        try:
            trace = Trace.decode(published.trace)
        except MalformedMessage:
            log.warning("ignored trace %s: malformed", published.seq)
            continue
        hours = (
            [published.hour]
            if published.hour is not None
            else [h * INTERVAL_SECONDS for h in affected_hours(trace.start_time, trace.end_time)]
        )
        candidates = [pair for hour in hours for pair in by_hour.get(hour, ())]
        for visit, record in [*by_identity.get(trace.identity, ()), *candidates]:
            key = (id(visit), trace.start_time, trace.end_time)
            if key in seen or not (visit.arrival < trace.end_time and visit.departure > trace.start_time):
                continue  # found already, or no overlap: the record may open but warns nobody
            exposure = match([record], published.trace)
            if exposure is not None and exposure.overlaps:
                seen.add(key)
                found.append(Found(exposure, published.seq))
    return found


def verify_detached(
    body: bytes, signature: str, keys: Sequence[Mapping[str, str]], content_type: str
) -> bool:
    """Whether ``signature`` (a detached ES256 JWS, ``header..signature``) signs ``body`` with one of
    ``keys`` (JWKs), its header naming ``content_type``."""
    try:
        header_b64, empty, signature_b64 = signature.split(".")
        header = json.loads(b64decode(header_b64))
        raw = b64decode(signature_b64)
    except (ValueError, InvalidPresenceData):
        return False
    if empty or header.get("alg") != "ES256" or header.get("typ") != content_type or len(raw) != 64:
        return False
    key = next((k for k in keys if k.get("kid") == header.get("kid") and k.get("crv") == "P-256"), None)
    if key is None:
        return False
    try:
        public = ec.EllipticCurvePublicNumbers(
            int.from_bytes(b64decode(key["x"]), "big"),
            int.from_bytes(b64decode(key["y"]), "big"),
            ec.SECP256R1(),
        ).public_key()
        der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
        body_b64 = base64.urlsafe_b64encode(body).rstrip(b"=").decode("ascii")
        public.verify(der, f"{header_b64}.{body_b64}".encode("ascii"), ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError, KeyError):
        return False
    return True


class _Http(Protocol):
    def get(self, url: str, **kwargs: Any) -> Any: ...

    def post(self, url: str, **kwargs: Any) -> Any: ...


@dataclass
class PresenceClient:
    """A phone: its decentralised check-ins, the warnings it downloaded, and its exposures.

    ``http`` is any client with httpx's ``get`` (an ``httpx.Client`` with ``base_url``, or a test
    client). ``records_days`` and ``max_checkins_per_day`` come from ``/presence/config``.
    """

    http: _Http
    records_days: int | None = None
    max_checkins_per_day: int | None = None
    visits: list[StoredVisit] = field(default_factory=list)
    last_seq: int = 0
    signing_keys: list[dict[str, str]] = field(default_factory=list)
    master_key: bytes = b""  # the authority's own master public key: server-based venues carry it
    ignored_pages: int = 0

    def configure(self) -> None:
        """Read the authority's limits and the keys that sign its warnings."""
        config = self.http.get("/presence/config")
        config.raise_for_status()
        body = config.json()
        self.records_days = int(body["records_days"])
        self.max_checkins_per_day = int(body["max_checkins_per_day"])
        self.master_key = b64decode(body["master_public_key"])
        keys = self.http.get("/venues/signing-key")
        keys.raise_for_status()
        self.signing_keys = list(keys.json()["keys"])

    def scan(self, scanned: str, now: datetime | None = None) -> Venue:
        """The venue a poster names; InvalidPresenceData when malformed, forged or out of its validity."""
        if not self.signing_keys:
            self.configure()
        return read_entry_code(entry_payload_in(scanned, self.signing_keys), now)

    def check_in(self, venue: Venue, arrival: datetime, departure: datetime) -> StoredVisit:
        """Keep a visit, encrypted; nothing is sent. Refused past the policy's check-ins for that day."""
        if self.max_checkins_per_day is None:
            self.configure()
        assert self.max_checkins_per_day is not None
        start, end = int(arrival.timestamp()), int(departure.timestamp())
        day = start // _DAY
        if sum(1 for v in self.visits if v.arrival // _DAY == day) >= self.max_checkins_per_day:
            raise CheckInLimit(f"at most {self.max_checkins_per_day} check-ins a day")
        self.visits.append(keep_visit(venue, start, end, server_based=venue.public_key == self.master_key))
        return self.visits[-1]

    def forget_old(self, now: datetime) -> int:
        """Delete the visits that ended more than ``records_days`` ago; how many."""
        if self.records_days is None:
            self.configure()
        assert self.records_days is not None
        cutoff = int(now.timestamp()) - self.records_days * _DAY
        kept = [v for v in self.visits if v.departure >= cutoff]
        dropped = len(self.visits) - len(kept)
        self.visits = kept
        return dropped

    def fetch(self) -> list[PublishedTrace]:
        """The traces published since the last fetch, from every page whose signature checks; a page
        that does not check is ignored and logged, and fetched again next time."""
        if not self.signing_keys:
            self.configure()
        traces: list[PublishedTrace] = []
        while True:
            # Asked by its block's first number, as every phone asks: a cache in front keeps one copy.
            block = self.last_seq - self.last_seq % PAGE_LIMIT
            response = self.http.get("/presence/warnings", params={"since": block})
            response.raise_for_status()
            body: bytes = response.content
            signature = response.headers.get(SIGNATURE_HEADER, "")
            if not verify_detached(body, signature, self.signing_keys, WARNINGS_CONTENT_TYPE):
                self.ignored_pages += 1
                log.warning(
                    "ignored a page of warnings after %s: its signature does not check", self.last_seq
                )
                return traces
            page = json.loads(body)
            traces += [  # a page is a whole block: skip what an earlier fetch brought
                PublishedTrace(int(item["seq"]), int(item["hour"]), base64.b64decode(item["trace"]))
                for item in page["data"]
                if int(item["seq"]) > self.last_seq
            ]
            self.last_seq = max(self.last_seq, int(page["next"]))
            if not page["more"]:
                return traces

    def check(self, now: datetime | None = None) -> list[Found]:
        """Forget old visits, fetch what was published since last time, and match it here."""
        self.forget_old(now or datetime.now(UTC))
        return match_visits(self.visits, self.fetch())

    def share(self, person: str, token: str) -> dict[str, Any]:
        """A case's choice: send its server-based visits (a basic venue's leave nothing to send). The
        authority keeps those in the case's infectious window; its receipt."""
        shared = [
            {
                "pre_id": base64.b64encode(v.pre_id).decode(),
                "arrival": datetime.fromtimestamp(v.arrival, UTC).isoformat(),
                "departure": datetime.fromtimestamp(v.departure, UTC).isoformat(),
                "hours": [
                    {"start": h, "time_key": base64.b64encode(k).decode()}
                    for h, k in sorted(v.time_keys.items())
                ],
            }
            for v in self.visits
            if v.pre_id is not None and v.time_keys is not None
        ]
        return self._post("/presence/shared-visits", token, {"person": person, "visits": shared})

    def report(self, found: Found, person: str, token: str) -> dict[str, Any]:
        """The owner's choice: tell the authority of this match, so the health code's risky-visit rule
        applies to them; the authority's receipt."""
        exposure = found.exposure
        return self._post(
            "/presence/reports",
            token,
            {
                "person": person,
                "seq": found.seq,
                "notification_key": base64.b64encode(exposure.notification_key).decode(),
                "arrival": datetime.fromtimestamp(exposure.arrival, UTC).isoformat(),
                "departure": datetime.fromtimestamp(exposure.departure, UTC).isoformat(),
            },
        )

    def _post(self, path: str, token: str, body: dict[str, Any]) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}", FAKE_HEADER: "0"}  # a real one, sized as a dummy
        response = self.http.post(path, json=body, headers=headers)
        response.raise_for_status()
        answer: dict[str, Any] = response.json()
        return answer

    def to_json(self) -> dict[str, Any]:
        return {"last_seq": self.last_seq, "visits": [v.to_json() for v in self.visits]}

    def restore(self, data: Mapping[str, Any]) -> None:
        self.last_seq = int(data["last_seq"])
        self.visits = [StoredVisit.from_json(v) for v in data["visits"]]
