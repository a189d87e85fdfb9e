"""``chaincut proxy-config``: the nginx site it writes, and what it refuses (nginx itself runs the
site in tests/e2e/test_reverse_proxy.py)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from chaincut.cli.app import app
from chaincut.cli.proxy import NginxSite, nginx_site
from chaincut.errors import ConfigurationError


def test_only_the_public_answers_are_cached_and_the_forwarded_address_is_replaced() -> None:
    site = nginx_site(NginxSite("chaincut.example.org", certificate="/c.pem", certificate_key="/k.pem"))
    cached = [block for block in site.split("location ")[1:] if "proxy_cache chaincut_public" in block]
    assert sorted(block.split("{")[0].strip() for block in cached) == [
        "/static/",
        "= /presence/config",
        "= /presence/warnings",
    ]
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in site
    assert "$proxy_add_x_forwarded_for" not in site
    assert site.count("access_log off;") == 2  # the redirect and the site: no log of residents' addresses
    assert "server_name chaincut.example.org;" in site


def test_a_certificate_without_its_key_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="both the certificate and its key"):
        nginx_site(NginxSite("chaincut.example.org", certificate="/c.pem"))


def test_the_command_says_what_it_needs() -> None:
    runner = CliRunner()
    env = {"CHAINCUT_ENV": "production", "CHAINCUT_PUBLIC_URL": "https://chaincut.example.org"}
    neither = runner.invoke(app, ["proxy-config"], env=env)
    assert neither.exit_code == 1
    assert "give --cert and --key (TLS here), or --no-tls" in " ".join(neither.output.split())
    both = runner.invoke(app, ["proxy-config", "--no-tls", "--cert", "/c.pem"], env=env)
    assert both.exit_code == 1
    no_public = runner.invoke(app, ["proxy-config", "--no-tls"], env={"CHAINCUT_ENV": "production"})
    assert no_public.exit_code == 1
    assert "CHAINCUT_PUBLIC_URL" in " ".join(no_public.output.split())
    written = runner.invoke(app, ["proxy-config", "--no-tls", "--http-port", "8080"], env=env)
    assert written.exit_code == 0, written.output
    assert "listen 8080;" in written.output and "ssl" not in written.output
