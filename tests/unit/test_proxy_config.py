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
    assert 'proxy_cache_key "$uri?since=$arg_since&limit=$arg_limit";' in site
    assert "proxy_max_temp_file_size 0;" in site  # nothing a resident sends or gets is put on disk
    assert "return 308 https://chaincut.example.org$request_uri;" in site
    assert "set_real_ip_from" not in site  # with TLS here, the client is whoever connects


def test_behind_a_load_balancer_only_its_word_names_the_client() -> None:
    site = nginx_site(NginxSite("chaincut.example.org", trusted_proxies=("10.0.0.0/8",)))
    assert "set_real_ip_from 10.0.0.0/8;" in site and "real_ip_header X-Forwarded-For;" in site
    assert "proxy_set_header X-Forwarded-Proto https;" in site  # phones came over TLS to the balancer
    with pytest.raises(ConfigurationError, match="expected an address or network"):
        nginx_site(NginxSite("chaincut.example.org", trusted_proxies=("the balancer",)))


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
    lb = ["proxy-config", "--no-tls", "--trusted-proxy", "10.0.0.0/8"]
    no_balancer = runner.invoke(app, ["proxy-config", "--no-tls"], env=env)
    assert no_balancer.exit_code == 1
    assert "--trusted-proxy" in " ".join(no_balancer.output.split())
    no_public = runner.invoke(app, lb, env={"CHAINCUT_ENV": "production"})
    assert no_public.exit_code == 1
    assert "CHAINCUT_PUBLIC_URL" in " ".join(no_public.output.split())
    below = runner.invoke(app, lb, env={**env, "CHAINCUT_PUBLIC_URL": "https://gov.example/chaincut"})
    assert below.exit_code == 1
    assert "must be the host's root" in " ".join(below.output.split())
    written = runner.invoke(app, [*lb, "--http-port", "8080"], env=env)
    assert written.exit_code == 0, written.output
    assert "listen 8080;" in written.output and "ssl" not in written.output


def test_phones_ask_for_a_page_by_its_block_so_a_cache_keeps_one_copy() -> None:
    """In Python and in the browser, a phone that has trace 2,345 asks for since=2000 (the block
    the server would answer anyway): every phone in the same state asks for the same address."""
    import re
    from pathlib import Path

    import httpx

    from chaincut.presence.client import PresenceClient
    from chaincut.presence.wire import PAGE_LIMIT

    asked: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.params["since"])
        return httpx.Response(200, content=b"{}", headers={"Chaincut-Signature": "x..y"})

    phone = PresenceClient(httpx.Client(base_url="http://authority", transport=httpx.MockTransport(answer)))
    phone.signing_keys = [{"kid": "k"}]
    phone.last_seq = 2345
    assert phone.fetch() == []  # the page's signature does not check: ignored
    assert asked == [str(2345 - 2345 % PAGE_LIMIT)] == ["2000"]
    resident_js = Path(__file__).parents[2] / "src/chaincut/web/static/resident.js"
    found = re.search(r"const WARNINGS_PAGE = (\d+);", resident_js.read_text(encoding="utf-8"))
    assert found is not None and int(found.group(1)) == PAGE_LIMIT
