"""The residents' page's CrowdNotifier (static/presence.js) in Chromium against the Python protocol.

The Python side (chaincut.presence, proven against the reference library) is the independent one:
the browser's nonces and identities equal Python's and the reference's test vectors; records the
browser encrypts open with traces Python publishes, basic and server-based; records Python encrypts
open in the browser with the same traces, and only with the trace of their venue and hour. Bytes
pass between the two as base64. The page is the residents' app under its own CSP, with mcl-wasm and
TweetNaCl loaded from /static/vendor/ as a page would load them.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import Page, Playwright

from chaincut.presence import ibe, protocol
from chaincut.presence.messages import QRCodePayload, Trace
from support.camera import launch_chromium
from support.crowdnotifier import reference_vectors
from support.serving import browser_services, served

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
HOUR = 3600
ARRIVAL = int(NOW.timestamp()) - 2 * HOUR + 600  # 08:10 to 09:20: two hours touched
DEPARTURE = ARRIVAL + 70 * 60
MESSAGE = "Get tested within 2 days"

# Loads the vendored scripts as a page's <script> tags would, then the module.
_LOAD = """async () => {
  for (const name of ["mcl.js", "nacl-fast.min.js"]) {
    await new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = `/static/vendor/${name}`;
      script.onload = resolve;
      script.onerror = () => reject(new Error(`${name} did not load`));
      document.head.append(script);
    });
  }
  window.presence = await import("/static/presence.js");
  window.fromB64 = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  window.toB64 = (bytes) => btoa(Array.from(bytes, (b) => String.fromCharCode(b)).join(""));
  const started = performance.now();
  await window.presence.initPairing();
  return performance.now() - started;
}"""


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@pytest.fixture(scope="module")
def presence_page(playwright: Playwright, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Page]:
    """The residents' app page with presence.js imported as ``window.presence``."""
    browser = launch_chromium(playwright, [])
    try:
        services = browser_services(tmp_path_factory.mktemp("presence-js") / "data")
        with served(services) as url:
            opened = browser.new_page()
            opened.set_default_timeout(15_000)
            # As the page fixture of conftest.py: any violation of the page's CSP is a failure.
            violations: list[str] = []
            opened.on(
                "console",
                lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
            )
            opened.goto(f"{url}/app")
            print(f"\ninitPairing: {opened.evaluate(_LOAD):.0f} ms")
            assert sorted(opened.evaluate("Object.keys(window.presence)")) == [
                "affectedHours",
                "checkIn",
                "decodeEntryPayload",
                "decodeTrace",
                "deriveNonces",
                "identity",
                "identityOf",
                "initPairing",
                "matchTraces",
                "openRecord",
                "preIdentity",
                "timeKey",
            ]
            yield opened
            assert not violations, violations
    finally:
        browser.close()


def _venue(name: str = "Tai Hing Roast Restaurant") -> tuple[protocol.AuthorityKeys, protocol.LocationCodes]:
    authority = protocol.setup_authority()
    codes = protocol.setup_location(
        authority.public, name, "1 Hennessy Road", NOW - timedelta(days=1), NOW + timedelta(days=30)
    )
    return authority, codes


def _browser_nonces(page: Page, payload: bytes, hours: list[int]) -> dict[str, Any]:
    return page.evaluate(
        """async ([payload, hours]) => {
          const bytes = fromB64(payload);
          const n = await presence.deriveNonces(bytes);
          const ids = [];
          for (const h of hours) ids.push(toB64(await presence.identity(bytes, h, n)));
          const derivedOnItsOwn = toB64(await presence.identity(bytes, hours[0]));
          const venuePreId = await presence.preIdentity(bytes, n);
          const timeKeys = [];
          const fromKeys = [];
          for (const h of hours) {
            const key = await presence.timeKey(h, n);
            timeKeys.push(toB64(key));
            fromKeys.push(toB64(await presence.identityOf(venuePreId, h, key)));
          }
          return {preId: toB64(n.preId), timeKey: toB64(n.timeKey),
                  notificationKey: toB64(n.notificationKey), ids, derivedOnItsOwn,
                  venuePreId: toB64(venuePreId), timeKeys, fromKeys};
        }""",
        [b64(payload), hours],
    )


def test_nonces_identities_and_hours_equal_pythons(presence_page: Page) -> None:
    page = presence_page
    _, codes = _venue()
    hours = [h * HOUR for h in protocol.affected_hours(ARRIVAL, DEPARTURE)]
    got = _browser_nonces(page, codes.entry, hours)
    nonces = protocol.derive_nonces(codes.entry)
    assert (got["preId"], got["timeKey"], got["notificationKey"]) == (
        b64(nonces.pre_id),
        b64(nonces.time_key),
        b64(nonces.notification_key),
    )
    assert got["ids"] == [b64(protocol.identity(codes.entry, h)) for h in hours]
    assert got["derivedOnItsOwn"] == got["ids"][0]
    # What a server-based visit keeps, and a case who shares it sends.
    assert got["venuePreId"] == b64(protocol.pre_identity(codes.entry))
    assert got["timeKeys"] == [b64(protocol.time_key(h, nonces)) for h in hours]
    assert got["fromKeys"] == got["ids"]
    for arrival, departure in ((ARRIVAL, DEPARTURE), (7200, 7200), (7199, 7200), (-1, 5)):
        expected = [h * HOUR for h in protocol.affected_hours(arrival, departure)]
        assert page.evaluate("([a, d]) => presence.affectedHours(a, d)", [arrival, departure]) == expected


def test_the_reference_libraries_vectors_are_reproduced(presence_page: Page) -> None:
    page = presence_page
    for v in reference_vectors("hkdfTestVectors"):
        got = _browser_nonces(page, v["qrCodePayload"], [0])
        assert (got["preId"], got["timeKey"], got["notificationKey"]) == (
            b64(v["noncePreId"]),
            b64(v["nonceTimekey"]),
            b64(v["notificationKey"]),
        )
    for v in reference_vectors("identityTestVectors"):
        got = _browser_nonces(page, v["qrCodePayload"], [v["startOfInterval"]])
        assert got["ids"] == [b64(v["identity"])]


def _check_in_in_browser(page: Page, payload: bytes) -> dict[int, ibe.Ciphertext]:
    result = page.evaluate(
        """async ([payload, arrival, departure]) => {
          const started = performance.now();
          const records = await presence.checkIn(fromB64(payload), arrival, departure);
          const ms = performance.now() - started;
          return {ms, records: records.map(({hour, record}) => [hour, toB64(record)])};
        }""",
        [b64(payload), ARRIVAL, DEPARTURE],
    )
    print(f"checkIn of a 2-hour stay: {result['ms']:.0f} ms")
    return {hour: ibe.Ciphertext.from_bytes(base64.b64decode(r)) for hour, r in result["records"]}


def _opens_only_its_own_hour(records: dict[int, ibe.Ciphertext], traces: list[protocol.HourTrace]) -> None:
    assert sorted(records) == [t.start_of_interval for t in traces]
    for hour_trace in traces:
        for hour, record in records.items():
            exposure = protocol.match([record], hour_trace.trace)
            if hour != hour_trace.start_of_interval:
                assert exposure is None
                continue
            assert exposure is not None
            assert (exposure.arrival, exposure.departure) == (ARRIVAL, DEPARTURE)
            found = Trace.decode(hour_trace.trace)
            assert (exposure.trace_start, exposure.trace_end) == (found.start_time, found.end_time)
            assert exposure.message == MESSAGE and exposure.overlaps


def test_records_the_browser_makes_open_in_python_basic_and_server_based(presence_page: Page) -> None:
    page = presence_page
    authority, codes = _venue()
    records = _check_in_in_browser(page, codes.entry)
    assert len(records) == 2
    case_start = ARRIVAL + 30 * 60  # 08:40 to 09:10: both hours
    traces = protocol.authority_traces(codes.tracing, authority, case_start, case_start + 30 * 60, MESSAGE)
    _opens_only_its_own_hour(records, traces)
    # Another venue's trace for the same hours opens none of them.
    other_authority, other = _venue("Kam's Roast Goose")
    for t in protocol.authority_traces(other.tracing, other_authority, case_start, case_start + 1, MESSAGE):
        assert protocol.match(list(records.values()), t.trace) is None

    mpk, msk = ibe.generate_keys()
    payload = protocol.setup_server_location(
        mpk.serialize(), "Lee Garden One", "33 Hysan Avenue", NOW - timedelta(days=1), NOW + timedelta(days=1)
    )
    server_records = _check_in_in_browser(page, payload)
    traces = protocol.server_traces(payload, msk.serialize(), case_start, case_start + 30 * 60, MESSAGE)
    _opens_only_its_own_hour(server_records, traces)


def _open_in_browser(page: Page, trace: bytes, record: bytes) -> dict[str, Any] | None:
    result: dict[str, Any] | None = page.evaluate(
        """async ([trace, record]) => {
          const started = performance.now();
          const opened = await presence.openRecord(presence.decodeTrace(fromB64(trace)), fromB64(record));
          window.lastOpenMs = performance.now() - started;
          return opened;
        }""",
        [b64(trace), b64(record)],
    )
    return result


def test_records_python_makes_open_in_the_browser_with_their_own_trace_only(presence_page: Page) -> None:
    page = presence_page
    authority, codes = _venue()
    venue = protocol.read_entry_code(codes.entry, NOW)
    hours = [h * HOUR for h in protocol.affected_hours(ARRIVAL, DEPARTURE)]
    records = dict(zip(hours, protocol.check_in(venue, ARRIVAL, DEPARTURE), strict=True))
    case_start = ARRIVAL + 30 * 60
    traces = protocol.authority_traces(codes.tracing, authority, case_start, case_start + 30 * 60, MESSAGE)
    for hour_trace in traces:
        for hour, record in records.items():
            opened = _open_in_browser(page, hour_trace.trace, record.to_bytes())
            if hour != hour_trace.start_of_interval:
                assert opened is None
                continue
            print(f"openRecord (one record that opens): {page.evaluate('window.lastOpenMs'):.0f} ms")
            assert opened == {
                "arrival": ARRIVAL,
                "departure": DEPARTURE,
                "message": MESSAGE,
                "traceStart": case_start,
                "traceEnd": case_start + 30 * 60,
                "notificationKey": list(venue.nonces.notification_key),  # what a report would send
            }
    record = records[hours[0]].to_bytes()
    other_authority, other = _venue("Kam's Roast Goose")
    (other_trace,) = protocol.authority_traces(
        other.tracing, other_authority, case_start, case_start + 1, MESSAGE
    )
    assert _open_in_browser(page, other_trace.trace, record) is None
    # A key outside G1's prime-order subgroup (x = 4), a tampered record: refused, as Python refuses them.
    found = Trace.decode(traces[0].trace)
    outside = (4).to_bytes(ibe.G1_BYTES, "little")
    bad_key = replace(found, secret_key_for_identity=outside).encode()
    assert protocol.match([records[hours[0]]], bad_key) is None
    refused = """(key) => {
      const point = new mcl.G1();
      try { point.deserialize(fromB64(key)); return false; } catch { return true; }
    }"""
    assert page.evaluate(refused, b64(outside))  # by mcl itself, as initPairing sets it
    assert _open_in_browser(page, bad_key, record) is None
    tampered = record[:-1] + bytes([record[-1] ^ 1])
    assert _open_in_browser(page, traces[0].trace, tampered) is None


def _refusal(page: Page, payload: bytes) -> str:
    reason: str = page.evaluate(
        """(payload) => {
          try { presence.decodeEntryPayload(fromB64(payload)); return "accepted"; }
          catch (error) { return error.message; }
        }""",
        b64(payload),
    )
    return reason


def test_a_malformed_entry_code_is_refused_with_its_reason(presence_page: Page) -> None:
    page = presence_page
    _, codes = _venue()
    got = page.evaluate(
        """(payload) => {
          const v = presence.decodeEntryPayload(fromB64(payload));
          return {...v, publicKey: toB64(v.publicKey), countryData: toB64(v.countryData)};
        }""",
        b64(codes.entry),
    )
    venue = protocol.read_entry_code(codes.entry)
    assert got == {
        "description": venue.description,
        "address": venue.address,
        "validFrom": venue.valid_from,
        "validTo": venue.valid_to,
        "publicKey": b64(venue.public_key),
        "countryData": "",
    }
    assert _refusal(page, codes.entry[:-5]) == "entry code: QRCodePayload: a field runs past the end"
    decoded = QRCodePayload.decode(codes.entry)
    assert decoded.crowd_notifier_data is not None

    def with_key(key: bytes) -> bytes:
        assert decoded.crowd_notifier_data is not None
        data = replace(decoded.crowd_notifier_data, public_key=key)
        return replace(decoded, crowd_notifier_data=data).encode()

    not_a_point = (4).to_bytes(48, "little") + bytes(48)
    with pytest.raises(ibe.InvalidElement):
        protocol.read_entry_code(with_key(not_a_point))
    assert _refusal(page, with_key(not_a_point)) == "entry code's public key: not a valid G2 element"
    assert (
        _refusal(page, with_key(venue.public_key[:95]))
        == "entry code's public key: expected 96 bytes, got 95"
    )
    assert _refusal(page, b"\x08\x03") == (
        "entry code: the venue's description, address or validity is missing"
    )
