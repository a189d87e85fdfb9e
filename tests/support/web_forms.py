"""Signing in through the web forms over a TestClient, as a browser would."""

from __future__ import annotations

import re

import httpx
from fastapi.testclient import TestClient

from support.auth import PASSWORD

__all__ = ["form_token", "sign_in", "signed_in"]

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def form_token(response: httpx.Response) -> str:
    found = _TOKEN.search(response.text)
    assert found is not None, response.text
    return found.group(1)


def sign_in(client: TestClient, username: str, password: str = PASSWORD) -> httpx.Response:
    token = form_token(client.get("/login"))
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token},
        follow_redirects=False,
    )


def signed_in(client: TestClient, username: str) -> str:
    """Sign in through the form; the console's CSRF token."""
    response = sign_in(client, username)
    assert response.status_code == 303, response.text
    console = client.get("/console")
    assert console.status_code == 200, console.text
    return form_token(console)
