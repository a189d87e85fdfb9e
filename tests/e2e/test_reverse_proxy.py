"""End to end: ``chaincut serve`` behind the nginx site ``chaincut proxy-config`` writes, both real.

The site is checked by nginx itself (``nginx -t``) and served over TLS with a certificate made here;
through it: plain HTTP is redirected, the published warnings' pages are cached byte for byte with
their signature (a cold page asked once), nothing personal is cached, and a client cannot choose the
address its requests are rate-limited under.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from chaincut.bootstrap import bootstrap
from chaincut.clock import to_epoch
from chaincut.domain.access import Principal, Role
from chaincut.domain.ids import new_public_id
from chaincut.people import PersonDraft
from chaincut.presence.client import verify_detached
from chaincut.presence.protocol import server_traces
from chaincut.presence.wire import SIGNATURE_HEADER, WARNINGS_CONTENT_TYPE
from chaincut.settings import Settings
from chaincut.store import Database
from chaincut.store.migrate import upgrade
from chaincut.tracing.case_checks import CaseDraft
from chaincut.venues.registry import VenueDraft
from support.nginx import find_nginx, running_nginx
from support.serving import chaincut_command, chaincut_serve, free_port
from support.settings import cli_env, production_settings

pytestmark = pytest.mark.skipif(find_nginx() is None, reason="nginx is not installed")

HOST = "chaincut.example.org"  # production_settings' public address
PASSWORD = "proxy correct horse battery staple"


@dataclass(frozen=True)
class Proxied:
    """chaincut directly, and through nginx (TLS, and the plain-HTTP redirect)."""

    direct: str
    https: str
    http: str
    tls: ssl.SSLContext
    cache_dir: Path


def _certificate(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(HOST), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "site.crt", directory / "site.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


def _store_with_a_warning(settings: Settings) -> None:
    """A published warning at a server-based venue, and a supervisor to sign in as."""
    db = Database(settings.resolved_database_url())
    upgrade(db)
    db.dispose()
    services = bootstrap(settings, settle=True)
    try:
        now = services.clock.now()
        services.accounts.add("super1", PASSWORD, frozenset({Role.SUPERVISOR}), Principal.system("test"))
        services.people.register(PersonDraft(ref="P-CASE"))
        case = services.cases.register(
            CaseDraft(ref="C1", person="P-CASE", classification="local", onset_on=now.date()), "test"
        )
        venue = VenueDraft("restaurant", "Tea house", "茶樓", ref="V1")
        made = services.presence.register_venue(venue, "server")
        start = to_epoch(now - timedelta(hours=5))
        hours = server_traces(
            made.entry_payload, services.presence.keys().master_secret, start, start + 5400, "Get tested."
        )
        assert made.venue.id is not None and case.id is not None
        with services.store.write() as uow:
            warning = uow.presence.add_warning(
                new_public_id(),
                venue_id=made.venue.id,
                case_id=case.id,
                start_time=start,
                end_time=start + 5400,
                message="Get tested.",
                proposed_by="test:tracer",
                at=to_epoch(now),
                expires_at=start + 10 * 86_400,
                traces=[(h.start_of_interval, h.trace) for h in hours],
            )
            uow.presence.review(warning, "published", by="test:supervisor", at=to_epoch(now), reason="test")
    finally:
        services.close()


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxied]:
    root = tmp_path_factory.mktemp("proxy")
    settings = production_settings(root / "data")
    _store_with_a_warning(settings)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(root),
        "LANG": "C.UTF-8",
        **cli_env(settings),
        "CHAINCUT_PUBLIC_URL": f"https://{HOST}",
        "CHAINCUT_PASSWORD_MEMORY_KIB": "1024",
        "CHAINCUT_PASSWORD_TIME_COST": "1",
    }
    cert, key = _certificate(root)
    https_port, http_port = free_port(), free_port()
    with chaincut_serve(chaincut_command(), env, root, "proxy") as direct:
        upstream = direct.removeprefix("http://")
        # The site as an operator gets it: the command's own output, only the ports and paths ours.
        written = subprocess.run(
            [
                chaincut_command(),
                "proxy-config",
                "--cert",
                str(cert),
                "--key",
                str(key),
                "--upstream",
                upstream,
                "--cache-dir",
                str(root / "cache"),
                "--error-log",
                str(root / "nginx-errors.log"),
                "--https-port",
                str(https_port),
                "--http-port",
                str(http_port),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        with running_nginx(written, root / "nginx", [https_port, http_port]):
            tls = ssl.create_default_context(cafile=str(cert))
            https, http = f"https://127.0.0.1:{https_port}", f"http://127.0.0.1:{http_port}"
            yield Proxied(direct, https, http, tls, root / "cache")


def test_the_site_is_what_nginx_accepts_and_serves_over_tls_only(proxied: Proxied) -> None:
    with httpx.Client(verify=proxied.tls) as client:
        health = client.get(f"{proxied.https}/health")
        assert health.status_code == 200
        # chaincut's own, once: the site adds none of its own.
        assert health.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
        assert "X-Cache-Status" not in health.headers  # not a cached answer

        plain = client.get(
            f"{proxied.http}/app/visits?x=1", follow_redirects=False, headers={"Host": "evil.example"}
        )
        assert plain.status_code == 308  # a POST stays a POST
        # To the public host and the site's TLS port: never to the host a client names.
        port = proxied.https.rsplit(":", 1)[1]
        assert plain.headers["Location"] == f"https://{HOST}:{port}/app/visits?x=1"


def test_a_warnings_page_is_cached_byte_for_byte_with_its_signature(proxied: Proxied) -> None:
    path = "/presence/warnings?since=0"
    direct = httpx.get(f"{proxied.direct}{path}")
    assert direct.status_code == 200 and direct.json()["data"], "the store has a published warning"
    with httpx.Client(verify=proxied.tls) as client:
        first = client.get(f"{proxied.https}{path}")
        second = client.get(f"{proxied.https}{path}")
        keys = client.get(f"{proxied.https}/venues/signing-key").json()
        not_modified = client.get(f"{proxied.https}{path}", headers={"If-None-Match": second.headers["ETag"]})
        busted = client.get(f"{proxied.https}{path}&nonce=1")
    assert first.headers["X-Cache-Status"] == "MISS"
    assert second.headers["X-Cache-Status"] == "HIT"
    for answer in (first, second):
        assert answer.status_code == 200
        assert answer.content == direct.content
        assert answer.headers[SIGNATURE_HEADER] == direct.headers[SIGNATURE_HEADER]
        assert answer.headers["Cache-Control"] == direct.headers["Cache-Control"]
    # A phone checks the signature on what the proxy gave it, as on chaincut's own answer.
    assert verify_detached(
        second.content, second.headers[SIGNATURE_HEADER], keys["keys"], WARNINGS_CONTENT_TYPE
    )
    assert busted.headers["X-Cache-Status"] == "HIT"  # parameters chaincut does not read: the same page
    assert not_modified.status_code == 304
    assert not_modified.headers["X-Cache-Status"] == "HIT"
    cached = [p for p in proxied.cache_dir.rglob("*") if p.is_file()]
    assert cached, "the page is in nginx's cache directory"


def test_nothing_personal_or_signed_in_is_cached(proxied: Proxied) -> None:
    with httpx.Client(verify=proxied.tls) as client:
        token = client.post(
            f"{proxied.https}/auth/token", json={"username": "super1", "password": PASSWORD}
        ).json()["access_token"]
        signed_in = {"Authorization": f"Bearer {token}"}
        for _ in range(2):
            status = client.get(f"{proxied.https}/status", headers=signed_in)
            assert status.status_code == 200
            assert "X-Cache-Status" not in status.headers
            # The path of a cached location with more after it is not that location.
            one = client.get(f"{proxied.https}/presence/warnings/none", headers=signed_in)
            assert one.status_code in {403, 404, 422}
            assert "X-Cache-Status" not in one.headers
        # Without the token the same signed-in answer is refused: nothing kept from before.
        assert client.get(f"{proxied.https}/status").status_code == 401


def test_a_client_cannot_choose_the_address_it_is_rate_limited_under(proxied: Proxied) -> None:
    """Sign-in is limited per address (20 a minute): a client that sends a new X-Forwarded-For each
    time is still counted as itself, since the site replaces the header."""
    statuses = []
    with httpx.Client(verify=proxied.tls) as client:
        for n in range(25):
            answer = client.post(
                f"{proxied.https}/auth/token",
                json={"username": "nobody", "password": "wrong password"},
                headers={"X-Forwarded-For": f"203.0.113.{n + 1}"},
            )
            statuses.append(answer.status_code)
    assert 429 in statuses, statuses
    assert statuses.index(429) <= 20, statuses


def test_behind_a_load_balancer_the_client_is_the_one_it_names_and_pages_are_still_cached(
    proxied: Proxied, tmp_path: Path
) -> None:
    """``--no-tls``: TLS ends at a load balancer in front (here, this test at 127.0.0.1), whose
    X-Forwarded-For names the client; the site is the same otherwise."""
    port = free_port()
    written = subprocess.run(
        [
            chaincut_command(),
            "proxy-config",
            "--no-tls",
            "--trusted-proxy",
            "127.0.0.1",
            "--upstream",
            proxied.direct.removeprefix("http://"),
            "--cache-dir",
            str(tmp_path / "cache"),
            "--error-log",
            str(tmp_path / "nginx-errors.log"),
            "--http-port",
            str(port),
        ],
        env={"PATH": os.environ.get("PATH", ""), "CHAINCUT_ENV": "development", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "ssl" not in written and "return 30" not in written
    base = f"http://127.0.0.1:{port}"
    with running_nginx(written, tmp_path / "nginx", [port]), httpx.Client() as client:
        path = f"{base}/presence/warnings?since=0"
        first, second = client.get(path), client.get(path)

        def sign_ins(address: str, count: int) -> list[int]:
            return [
                client.post(
                    f"{base}/auth/token",
                    json={"username": "nobody", "password": "wrong password"},
                    headers={"X-Forwarded-For": address},
                ).status_code
                for _ in range(count)
            ]

        # 24 clients behind the load balancer, one sign-in each: none is refused for another's.
        many = [status for n in range(24) for status in sign_ins(f"198.51.100.{n + 1}", 1)]
        one = sign_ins("198.51.100.200", 24)  # one client, 24 times: the limit (20 a minute) holds
    assert first.headers["X-Cache-Status"] == "MISS" and second.headers["X-Cache-Status"] == "HIT"
    assert second.content == httpx.get(f"{proxied.direct}/presence/warnings?since=0").content
    assert 429 not in many, many
    assert 429 in one and one.index(429) <= 20, one
