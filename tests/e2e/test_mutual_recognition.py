"""End to end: two jurisdictions (HK and MO) recognise each other's signed health codes.

Two real ``chaincut serve`` processes, each with its own data directory, keys and issuer,
pin each other's root certificate (handed over out of band: a file), exchange trust lists
over HTTP (``POST /codes/partners/sync`` fetching the other's ``GET /codes/trust-list``), and
verify each other's codes with ``chaincut verify --local`` from the QR text and from a QR
image. Then HK rotates its signer and revokes the old one: MO keeps accepting the old code
until its next sync, after which the old code is refused as revoked and HK's new code verifies.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from chaincut.bootstrap import bootstrap
from chaincut.clock import SystemClock
from chaincut.codes.issuance import build_claims, code_qr_png
from chaincut.domain.health_codes import CodeReason, HealthCode
from chaincut.settings import Settings
from support.processes import stop_process
from support.serving import chaincut_command, free_port

pytestmark = pytest.mark.slow

PASSWORD = "e2e mutual recognition staple"


def _sign_in(base: str, username: str, password: str) -> str:
    """POST /auth/token: the staff member's bearer token."""
    body = json.dumps({"username": username, "password": password}).encode()
    request = urllib.request.Request(  # noqa: S310 - a local test server
        f"{base}/auth/token", data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - a local test server
        token: str = json.loads(response.read())["access_token"]
        return token


@dataclass
class Jurisdiction:
    issuer: str
    home: Path
    port: int
    env: dict[str, str]
    log_dir: Path
    server: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [chaincut_command(), *args],
            env={**self.env, "CHAINCUT_NEW_PASSWORD": PASSWORD},
            capture_output=True,
            text=True,
            timeout=120,
        )
        with (self.log_dir / f"mutual-{self.issuer}-cli.log").open("a", encoding="utf-8") as log:
            log.write(f"$ chaincut {' '.join(args[:3])}\n{done.stdout}{done.stderr}\n")
        if check:
            assert done.returncode == 0, f"chaincut {' '.join(args)}: {done.stdout}{done.stderr}"
        return done

    def issue(self, name: str) -> str:
        """A green code for a resident, signed by this jurisdiction's active signer."""
        settings = Settings(data_dir=self.home / "data", code_issuer=self.issuer)
        services = bootstrap(settings, clock=SystemClock())
        try:
            now = services.clock.now()
            code = HealthCode(
                1, "green", (CodeReason("default", "green", "no risk found", None),), None, now, "v"
            )
            claims = build_claims(
                code,
                code_id=f"{self.issuer}-{name}-{time.monotonic_ns()}",
                issuer=self.issuer,
                subject=None,
                name=name,
                last_negative_test_at=now - timedelta(hours=10),
                now=now,
                valid_hours=24,
            )
            return services.code_issuer.issue(claims).text
        finally:
            services.close()

    def verify(self, *args: str) -> dict[str, Any]:
        done = self.run("verify", "--local", "--json", *args, check=False)
        assert done.returncode in (0, 1), done.stderr
        result: dict[str, Any] = json.loads(done.stdout)
        assert result["valid"] == (done.returncode == 0)
        return result

    def sync(self) -> list[dict[str, Any]]:
        token = _sign_in(self.base, "admin", PASSWORD)
        request = urllib.request.Request(  # noqa: S310 - a local test server
            f"{self.base}/codes/partners/sync", method="POST", headers={"Authorization": f"Bearer {token}"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - a local test server
            body: dict[str, Any] = json.loads(response.read())
        outcomes: list[dict[str, Any]] = body["data"]
        return outcomes


def _start(j: Jurisdiction) -> None:
    out_path, err_path = j.log_dir / f"mutual-{j.issuer}.stdout", j.log_dir / f"mutual-{j.issuer}.stderr"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        serve = [chaincut_command(), "serve", "--host", "127.0.0.1", "--port", str(j.port)]
        j.server = subprocess.Popen(serve, env=j.env, stdout=out, stderr=err)
    deadline = time.monotonic() + 30
    while True:
        assert j.server.poll() is None, f"{j.issuer}'s server exited"
        try:
            with urllib.request.urlopen(f"{j.base}/health", timeout=2):  # noqa: S310 - a local test server
                return
        except (OSError, urllib.error.URLError):
            pass
        assert time.monotonic() < deadline, f"{j.issuer}'s server did not answer within 30 s"
        time.sleep(0.1)


def _stop(j: Jurisdiction) -> None:
    if j.server is None:
        return
    stop_process(j.server)


@pytest.fixture
def pair(tmp_path: Path, log_dir: Path) -> Iterator[tuple[Jurisdiction, Jurisdiction]]:
    made = []
    for issuer in ("HK", "MO"):
        home = tmp_path / issuer
        home.mkdir()
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(home),
            "LANG": "C.UTF-8",
            "CHAINCUT_DATA_DIR": str(home / "data"),
            "CHAINCUT_ENV": "development",
            "CHAINCUT_CODE_ISSUER": issuer,
            "CHAINCUT_STAFF": f"{issuer.lower()}-operator",
        }
        j = Jurisdiction(issuer, home, free_port(), env, log_dir)
        j.run("db", "upgrade")
        j.run("codes", "keys", "init")
        j.run("users", "add", "admin", "--role", "administrator")
        j.run("codes", "keys", "root", "-o", str(home / "root.pem"))
        made.append(j)
    hk, mo = made
    try:
        for j in made:
            _start(j)
        yield hk, mo
    finally:
        for j in made:
            _stop(j)


def test_two_jurisdictions_recognise_each_others_codes_and_a_revoked_key_stops_after_sync(
    pair: tuple[Jurisdiction, Jurisdiction], tmp_path: Path
) -> None:
    hk, mo = pair
    # Each pins the other's root, handed over as a file, and where its trust list is published.
    hk.run(
        "codes",
        "partners",
        "add",
        "MO",
        "--url",
        f"{mo.base}/codes/trust-list",
        "--root",
        str(mo.home / "root.pem"),
    )
    mo.run(
        "codes",
        "partners",
        "add",
        "HK",
        "--url",
        f"{hk.base}/codes/trust-list",
        "--root",
        str(hk.home / "root.pem"),
    )
    # A partner's list signed by a root not pinned is refused (MO pins HK's root; MO's own list is not HK's).
    hk_code = hk.issue("Chan Tai Man")
    mo_code = mo.issue("Wong Siu Ming")
    assert not mo.verify(hk_code)["valid"]  # before any exchange: HK is unknown in MO

    assert [(o["name"], o["accepted"]) for o in hk.sync()] == [("MO", True)]
    (from_hk,) = mo.sync()
    assert (from_hk["name"], from_hk["accepted"]) == ("HK", True)
    # HK's code-revocation list came with it, fetched from beside its trust list (nothing revoked yet).
    assert from_hk["revocations_sequence"] == 0, from_hk["revocations_reason"]

    in_mo = mo.verify(hk_code)
    assert in_mo["valid"], in_mo["reason"]
    assert in_mo["payload"]["issuer"] == "HK" and in_mo["payload"]["name"] == "Chan Tai Man"
    assert set(in_mo["checks"]) == {
        "unprefix",
        "b45decode",
        "compression",
        "decode",
        "verify",
        "expirationcheck",
        "schemavalidation",
    }
    in_hk = hk.verify(mo_code)
    assert in_hk["valid"], in_hk["reason"]
    assert in_hk["payload"]["issuer"] == "MO"
    # From a QR image, as a checkpoint's camera reads it.
    image = tmp_path / "hk-code.png"
    image.write_bytes(code_qr_png(hk_code))
    assert mo.verify("--image", str(image))["valid"]
    # Each still verifies its own codes.
    assert hk.verify(hk_code)["valid"] and mo.verify(mo_code)["valid"]

    # HK rotates its signer and revokes the old one.
    (old,) = [k for k in json.loads(hk.run("codes", "keys", "list", "--json").stdout) if k["role"] == "dsc"]
    hk.run("codes", "keys", "rotate")
    hk.run("codes", "keys", "revoke", old["kid"], "--reason", "signer key exposed in a test")
    new_hk_code = hk.issue("Lee Ka Yan")
    revoked_here = hk.verify(hk_code)
    assert not revoked_here["valid"] and "was revoked by HK" in revoked_here["reason"]

    # Until MO syncs, MO still holds HK's old list: the old code passes, the new signer is unknown.
    assert mo.verify(hk_code)["valid"]
    unknown = mo.verify(new_hk_code)
    assert not unknown["valid"] and unknown["reason"].startswith("unknown key id")

    (outcome,) = mo.sync()
    assert outcome["accepted"] and outcome["name"] == "HK"
    refused = mo.verify(hk_code)
    assert not refused["valid"]
    assert f"the signing key {old['kid']} was revoked by HK" in refused["reason"]
    assert refused["checks"]["verify"] is False
    accepted = mo.verify(new_hk_code)
    assert accepted["valid"], accepted["reason"]
    assert accepted["payload"]["name"] == "Lee Ka Yan"
