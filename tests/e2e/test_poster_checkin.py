"""End to end: print a venue's poster, scan its QR code, check in; and run the real server.

The poster tests go over HTTP to the app on every storage backend and decode the
printed QR with a real decoder (zxing-cpp), as a resident's phone would, checking in
with that resident's app token. The server test starts ``chaincut serve`` as a
subprocess on the embedded default and signs in with a staff account made by
``chaincut users add``.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import zxingcpp
from fastapi.testclient import TestClient
from PIL import Image

from chaincut.api import create_app
from chaincut.bootstrap import Services
from chaincut.domain.access import Role
from support.auth import resident_headers, staff_headers
from support.processes import stop_process
from support.serving import chaincut_command, free_port

PREFIX = "CHAINCUT:1:"


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    """Staff who register the resident and the venue and print its poster."""
    headers = staff_headers(services, Role.TRACER, Role.VENUE_OPERATOR, username="desk")
    app = create_app(services, schedule_maintenance=False)
    with TestClient(app, raise_server_exceptions=False, headers=headers) as c:
        assert c.post("/people", json={"ref": "P001"}).status_code == 201
        venue = {
            "ref": "V-TAIHING-01",
            "venue_type": "restaurant",
            "name_en": "Tai Hing Roast Restaurant (Hennessy Road)",
            "name_zh": "太興燒味餐廳（軒尼詩道）",
            "district": "Wan Chai",
        }
        assert c.post("/venues", json=venue).status_code == 201
        yield c


def scan(png: bytes) -> str:
    """What a phone reads from the poster: the text of its one QR code."""
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG"
        # QR codes only, as a check-in app scans: a 1-D decoder now and then reads a
        # spurious Codabar out of one row of QR modules.
        found = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    assert len(found) == 1, f"expected one QR code on the poster, found {len(found)}"
    text: str = found[0].text
    return text


@pytest.fixture
def phone(client: TestClient, services: Services) -> dict[str, str]:
    """P001's app: its resident token."""
    return resident_headers(services, "P001")


def test_scan_the_printed_poster_and_check_in(
    client: TestClient, services: Services, phone: dict[str, str]
) -> None:
    poster = client.get("/venues/V-TAIHING-01/poster.png")
    assert poster.status_code == 200, poster.text
    assert poster.headers["content-type"] == "image/png"
    scanned = scan(poster.content)
    # A phone's camera opens the public check-in page; the token is the fragment, never sent to a server.
    page, _, token = scanned.partition("#")
    assert page == "https://chaincut.example.org/v"
    assert token.startswith(PREFIX)
    issued = client.get("/venues/V-TAIHING-01/token").json()  # signed afresh: ECDSA signatures vary
    assert issued["url"] == f"https://chaincut.example.org/v#{issued['token']}"

    response = client.post("/checkins", json={"client_id": "scan-1", "token": scanned}, headers=phone)
    assert response.status_code == 201, response.text
    visit = response.json()
    assert visit["venue_ref"] == "V-TAIHING-01"
    assert visit["venue_name_en"] == "Tai Hing Roast Restaurant (Hennessy Road)"
    assert visit["venue_name_zh"] == "太興燒味餐廳（軒尼詩道）"
    assert services.store.counts().visits == 1


def test_an_altered_scan_is_refused(client: TestClient, services: Services, phone: dict[str, str]) -> None:
    scanned = scan(client.get("/venues/V-TAIHING-01/poster.png").content).partition("#")[2]
    body = scanned[len(PREFIX) :]
    header_end, payload_end = body.index("."), body.rindex(".")
    # One character changed in the header, the claims, the signature, and the prefix.
    positions = [len(PREFIX) + 5, len(PREFIX) + header_end + 10, len(PREFIX) + payload_end + 20, 3]
    for n, at in enumerate(positions):
        replacement = "B" if scanned[at] != "B" else "C"
        altered = scanned[:at] + replacement + scanned[at + 1 :]
        assert altered != scanned
        response = client.post("/checkins", json={"client_id": f"alt-{n}", "token": altered}, headers=phone)
        assert response.status_code == 422, response.text
        assert response.json()["code"] == "invalid_venue_token"
        assert response.json()["field"] == "token"
    assert services.store.counts().visits == 0


def test_the_poster_pdf(client: TestClient, tmp_path: Path, phone: dict[str, str]) -> None:
    response = client.get("/venues/V-TAIHING-01/poster.pdf")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")
    assert response.content.rstrip().endswith(b"%%EOF")
    if shutil.which("pdftoppm") is None:
        return  # rasterising needs poppler-utils; the PNG test covers scanning
    (tmp_path / "poster.pdf").write_bytes(response.content)
    subprocess.run(
        ["pdftoppm", "-r", "150", "-png", "-singlefile", tmp_path / "poster.pdf", tmp_path / "page"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    scanned = scan((tmp_path / "page.png").read_bytes())
    checkin = client.post("/checkins", json={"client_id": "pdf-1", "token": scanned}, headers=phone)
    assert checkin.status_code == 201, checkin.text


def test_an_unknown_venue_has_no_poster(client: TestClient) -> None:
    for suffix in ("poster.png", "poster.pdf", "token"):
        response = client.get(f"/venues/NO-SUCH-VENUE/{suffix}")
        assert response.status_code == 404, response.text
        assert response.json()["code"] == "not_found"


# --- the real server --------------------------------------------------------------------------


def _get(url: str, token: str | None = None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - a local test server
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - a local test server
            status: int = response.status
            return status
    except urllib.error.HTTPError as exc:
        return exc.code


def _sign_in(base: str, username: str, password: str) -> str:
    """POST /auth/token: the staff member's bearer token."""
    body = json.dumps({"username": username, "password": password}).encode()
    request = urllib.request.Request(  # noqa: S310 - a local test server
        f"{base}/auth/token", data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - a local test server
        token: str = json.loads(response.read())["access_token"]
        return token


def test_the_server_refuses_an_unmigrated_store_then_serves(tmp_path: Path, log_dir: Path) -> None:
    command = chaincut_command()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "CHAINCUT_DATA_DIR": str(tmp_path / "data"),
        "CHAINCUT_ENV": "development",
    }
    port = free_port()
    serve = [command, "serve", "--host", "127.0.0.1", "--port", str(port)]

    refused = subprocess.run(serve, env=env, capture_output=True, text=True, timeout=60)
    # What the server says goes where the session's log scan checks it for personal data.
    (log_dir / f"serve-{port}-refused.log").write_text(refused.stdout + refused.stderr, encoding="utf-8")
    assert refused.returncode != 0
    said = " ".join((refused.stdout + refused.stderr).split())
    assert "run `chaincut db upgrade`" in said, said

    upgraded = subprocess.run([command, "db", "upgrade"], env=env, capture_output=True, text=True, timeout=60)
    (log_dir / f"serve-{port}-upgrade.log").write_text(upgraded.stdout + upgraded.stderr, encoding="utf-8")
    assert upgraded.returncode == 0, upgraded.stderr
    assert "upgraded" in upgraded.stdout

    # A staff account to sign in with; the password comes from the environment, never the command line.
    password = "e2e correct horse battery staple"
    added = subprocess.run(
        [command, "users", "add", "operator1", "--role", "venue_operator"],
        env={**env, "CHAINCUT_NEW_PASSWORD": password},
        capture_output=True,
        text=True,
        timeout=60,
    )
    (log_dir / f"serve-{port}-users.log").write_text(added.stdout + added.stderr, encoding="utf-8")
    assert added.returncode == 0, added.stderr

    base = f"http://127.0.0.1:{port}"
    out_path, err_path = log_dir / f"serve-{port}.stdout", log_dir / f"serve-{port}.stderr"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        server = subprocess.Popen(serve, env=env, stdout=out, stderr=err)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, f"the server exited: {err_path.read_text(errors='replace')}"
            try:
                if _get(f"{base}/health") == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the server did not answer /health within 30 s"
            time.sleep(0.1)
        assert _get(f"{base}/openapi.json") == 200
        assert _get(f"{base}/docs") == 200
        assert _get(f"{base}/status") == 401  # signed-in callers only
        token = _sign_in(base, "operator1", password)
        assert _get(f"{base}/status", token) == 200
        assert _get(f"{base}/venues/none/token", token) == 404
    finally:
        stop_process(server)
    assert server.returncode is not None
