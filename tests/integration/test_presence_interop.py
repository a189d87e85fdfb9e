"""chaincut's CrowdNotifier against the reference library itself, under Node, in both directions.

``tests/interop/crowdnotifier/reference.js`` runs ``@c4dt/libcrowdnotifier`` 1.4.0-prerelease5 (the
1.4 prereleases carry protocol version 3; installed by the test command with ``npm ci``):

- a venue chaincut set up, a check-in the reference made at it, chaincut's trace: the reference's
  phone finds the exposure and reads the authority's message; the reference's authority also checks
  chaincut's pre-traces and traces them as chaincut does;
- a venue the reference set up, a check-in chaincut made, the reference's pre-traces and trace:
  chaincut's phone finds it and reads the message; and chaincut's authority code traces the
  reference's pre-traces;
- mcl-wasm's own serialisations (G1, G2, GT, Fr) and hashes (hash-and-map to G1, Fr's setHashOf)
  are those chaincut reads and writes, byte for byte, for a spread of inputs.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from chaincut.presence import ibe, protocol
from support.postgres import in_ci

REFERENCE = Path(__file__).resolve().parents[1] / "interop" / "crowdnotifier"
HOUR = 3600


def _node_ready() -> None:
    if (
        shutil.which("node") is None
        or not (REFERENCE / "node_modules" / "@c4dt" / "libcrowdnotifier").exists()
    ):
        reason = (
            "Node and the reference library are not installed (scripts/test runs npm ci in tests/interop)"
        )
        if in_ci():
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)


def reference(step: str, **request: Any) -> dict[str, Any]:
    _node_ready()
    done = subprocess.run(
        ["node", "reference.js"],
        input=json.dumps({"step": step, **request}),
        capture_output=True,
        text=True,
        cwd=REFERENCE,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def _entries(record: list[ibe.Ciphertext]) -> list[dict[str, str]]:
    return [
        {"c1": e.c1.serialize().hex(), "c2": e.c2.hex(), "c3": e.c3.hex(), "nonce": e.nonce.hex()}
        for e in record
    ]


def _ciphertexts(entries: list[dict[str, str]]) -> list[ibe.Ciphertext]:
    return [
        ibe.Ciphertext(
            ibe.g2_from_bytes(bytes.fromhex(e["c1"])),
            bytes.fromhex(e["c2"]),
            bytes.fromhex(e["c3"]),
            bytes.fromhex(e["nonce"]),
        )
        for e in entries
    ]


def test_a_reference_phone_finds_a_chaincut_venues_trace() -> None:
    now = int(time.time())
    authority = protocol.setup_authority()
    codes = protocol.setup_location(
        authority.public, "Tai Hing Roast Restaurant", "1 Hennessy Road", _at(now - 86400), _at(now + 86400)
    )
    arrival = now - 2 * HOUR
    visit = reference("checkin", entry=codes.entry.hex(), arrival=arrival, departure=arrival + 30 * 60)
    assert len(visit["entries"]) == len(protocol.affected_hours(arrival, arrival + 30 * 60))

    pre = protocol.pre_traces(codes.tracing, arrival + 10 * 60, arrival + 20 * 60)
    ours = protocol.trace(pre[0], authority, "Please get tested")
    found = reference("match", entries=visit["entries"], trace=ours.hex())["exposure"]
    assert found == {"arrival": arrival, "departure": arrival + 30 * 60, "message": "Please get tested"}

    # The reference's authority accepts chaincut's pre-trace, and its trace opens the same record here.
    keys = {"public": authority.public.hex(), "secret": authority.secret.hex()}
    theirs = reference("trace", preTrace=pre[0].hex(), authority=keys, message="Test within 2 days")["trace"]
    assert theirs
    exposure = protocol.match(_ciphertexts(visit["entries"]), bytes.fromhex(theirs))
    assert exposure is not None and exposure.message == "Test within 2 days"
    # A pre-trace of another hour opens nothing.
    later = protocol.trace(
        protocol.pre_traces(codes.tracing, arrival + 3 * HOUR, arrival + 3 * HOUR)[0], authority, "x"
    )
    assert reference("match", entries=visit["entries"], trace=later.hex())["exposure"] is None


def test_a_chaincut_phone_finds_a_reference_venues_trace() -> None:
    now = int(time.time())
    made = reference(
        "setup", description="Cafe Chaincut", address="Main St 1", **{"from": now - 86400, "to": now + 86400}
    )
    venue = protocol.read_entry_code(bytes.fromhex(made["entry"]), _at(now))
    assert (venue.description, venue.address) == ("Cafe Chaincut", "Main St 1")
    arrival = now - 3 * HOUR + 120
    record = protocol.check_in(venue, arrival, arrival + HOUR)  # two hours touched

    pre = reference("pretrace", tracing=made["tracing"], start=arrival + HOUR - 60, end=arrival + HOUR - 30)[
        "preTraces"
    ]
    assert len(pre) == 1
    published = reference("trace", preTrace=pre[0], authority=made["authority"], message="Get a test today")[
        "trace"
    ]
    exposure = protocol.match(record, bytes.fromhex(published))
    assert exposure is not None
    assert (exposure.arrival, exposure.departure, exposure.message) == (
        arrival,
        arrival + HOUR,
        "Get a test today",
    )
    assert exposure.overlaps

    # chaincut's authority, holding the reference's key pair, traces the reference venue's pre-traces.
    keys = protocol.AuthorityKeys(
        bytes.fromhex(made["authority"]["public"]), bytes.fromhex(made["authority"]["secret"])
    )
    ours = protocol.trace(bytes.fromhex(pre[0]), keys, "Stay home")
    assert (
        reference("match", entries=_entries(record), trace=ours.hex())["exposure"]["message"] == "Stay home"
    )
    # And the reference refuses a pre-trace for an authority that is not its own.
    other = {
        "public": protocol.setup_authority().public.hex(),
        "secret": protocol.setup_authority().secret.hex(),
    }
    assert reference("trace", preTrace=pre[0], authority=other, message="x")["trace"] == ""


def test_mcl_wasm_serialises_and_hashes_as_chaincut_does() -> None:
    messages = [b"", b"hi", bytes(range(256)), b"CN-ID" * 40, bytes([0xFF]) * 64]
    answer = reference("elements", messages=[m.hex() for m in messages])
    assert answer["baseG2"] == ibe.pymcl.g2.serialize().hex()
    for message, theirs in zip(messages, answer["hashes"], strict=True):
        fr = ibe.fr_hash_of(message)
        g1 = ibe.hash_to_g1(message)
        g2 = ibe.pymcl.g2 * fr
        assert fr.serialize().hex() == theirs["fr"]
        assert g1.serialize().hex() == theirs["g1"]
        assert g2.serialize().hex() == theirs["g2"]
        gt = ibe.pymcl.pairing(g1, g2).serialize()
        assert len(gt) == ibe.GT_BYTES and gt.hex() == theirs["gt"]
        assert ibe.g1_from_bytes(bytes.fromhex(theirs["g1"])) == g1


def _at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)
