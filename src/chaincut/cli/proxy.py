"""``chaincut proxy-config``: the nginx site that puts ``chaincut serve`` on the internet.

What the site does, and why:

- **TLS** on the public address (``CHAINCUT_PUBLIC_URL``): phones open it from posters, and the
  residents' pages need a secure origin (WebCrypto, the camera). Plain HTTP is redirected
  (chaincut sends HSTS itself).
- **The public, identical-for-everyone answers are cached** (the published warnings' pages, the
  presence config, the vendored scripts and styles), for as long as chaincut's ``Cache-Control``
  says, and a page nobody has asked for yet is made once however many phones ask at the same moment
  (``proxy_cache_lock``). Everything else goes to chaincut every time: nothing personal is ever
  cached (nginx also never caches an answer with ``Set-Cookie``).
- **The resident's address reaches chaincut** for its rate limits, and only that: the site
  *replaces* any ``X-Forwarded-For`` a client sends, so a client cannot pick the address it is
  counted under (uvicorn trusts the header only from 127.0.0.1, where nginx runs).
- **No access log.** chaincut keeps its own audit of who read what; a proxy log of every resident's
  address and path would be a second, unaudited record of people's whereabouts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import typer

from chaincut.cli.console import err
from chaincut.errors import ConfigurationError
from chaincut.settings import Settings

__all__ = ["NginxSite", "nginx_site", "proxy_config"]

# The answers that are the same for everyone and say so in their Cache-Control.
CACHED_EXACT = ("/presence/warnings", "/presence/config")
CACHED_PREFIX = "/static/"
# The largest request chaincut takes: a policy file or a checkpoint's photo in a form, a day of a
# checkpoint's offline clearances; nginx's default (1 MB) would refuse some of them before chaincut.
MAX_BODY = "16m"


@dataclass(frozen=True)
class NginxSite:
    """Where the site listens and what it proxies to."""

    server_name: str
    upstream: str = "127.0.0.1:8000"
    cache_dir: str = "/var/cache/nginx/chaincut"
    certificate: str | None = None  # None: plain HTTP, behind another TLS terminator
    certificate_key: str | None = None
    https_port: int = 443
    http_port: int = 80


def _cached(path: str) -> str:
    lines = [
        "proxy_pass http://chaincut;",
        "proxy_cache chaincut_public;",
        "add_header X-Cache-Status $upstream_cache_status always;",
    ]
    body = "\n".join(f"        {line}" for line in lines)
    return f"    location {path} {{\n{body}\n    }}"


def nginx_site(site: NginxSite) -> str:
    """The site's configuration: a file for nginx's ``conf.d`` (it is read inside ``http { }``)."""
    tls = site.certificate is not None
    if tls != (site.certificate_key is not None):
        raise ConfigurationError("give both the certificate and its key, or neither", field="certificate")
    head = f"""# chaincut behind nginx, written by `chaincut proxy-config` for {site.server_name}.
# Install it as /etc/nginx/conf.d/chaincut.conf, then: nginx -t && systemctl reload nginx

proxy_cache_path {site.cache_dir} levels=1:2 keys_zone=chaincut_public:10m max_size=1g
                 inactive=1d use_temp_path=off;

upstream chaincut {{
    server {site.upstream};
    keepalive 64;
}}
"""
    if tls:
        listen = f"""
server {{
    listen {site.http_port};
    listen [::]:{site.http_port};
    server_name {site.server_name};
    access_log off;
    return 301 https://$host$request_uri;
}}

server {{
    listen {site.https_port} ssl http2;
    listen [::]:{site.https_port} ssl http2;
    server_name {site.server_name};
    ssl_certificate {site.certificate};
    ssl_certificate_key {site.certificate_key};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:chaincut_tls:10m;
    ssl_session_timeout 1d;
    # chaincut sends Strict-Transport-Security itself in production.
"""
    else:
        listen = f"""
# Plain HTTP: TLS ends at a load balancer in front of this proxy.
server {{
    listen {site.http_port};
    listen [::]:{site.http_port};
    server_name {site.server_name};
"""
    common = f"""
    # chaincut audits who read what; a log of every resident's address and path would be a
    # second, unaudited record of whereabouts.
    access_log off;
    client_max_body_size {MAX_BODY};

    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host $host;
    # Replaced, never appended to: a client cannot choose the address its requests count under.
    proxy_set_header X-Forwarded-For $remote_addr;
    proxy_set_header X-Forwarded-Proto $scheme;
    proxy_read_timeout 300s;  # a situation report or an export can take minutes

    # The same answer for everyone, cached as long as chaincut's Cache-Control says. A page not yet
    # cached is asked of chaincut once, however many phones want it at the same moment.
    proxy_cache_lock on;
    proxy_cache_lock_timeout 10s;
    proxy_cache_use_stale updating error timeout http_502 http_503;
    proxy_cache_background_update on;
"""
    cached = [_cached(f"= {path}") for path in CACHED_EXACT] + [_cached(CACHED_PREFIX)]
    rest = "    # Everything else, personal or not, goes to chaincut every time.\n"
    rest += "    location / {\n        proxy_pass http://chaincut;\n    }\n}\n"
    return head + listen + common + "\n" + "\n\n".join(cached) + "\n\n" + rest


def proxy_config(
    certificate: Annotated[
        Path | None, typer.Option("--cert", help="the TLS certificate (chain) for the public address")
    ] = None,
    certificate_key: Annotated[Path | None, typer.Option("--key", help="its private key")] = None,
    no_tls: Annotated[
        bool, typer.Option("--no-tls", help="plain HTTP: TLS ends at a load balancer in front")
    ] = False,
    upstream: Annotated[str, typer.Option(help="where `chaincut serve` listens")] = "127.0.0.1:8000",
    cache_dir: Annotated[str, typer.Option(help="nginx's cache of the public answers")] = (
        "/var/cache/nginx/chaincut"
    ),
    https_port: Annotated[int, typer.Option(min=1, max=65535)] = 443,
    http_port: Annotated[int, typer.Option(min=1, max=65535)] = 80,
) -> None:
    """Print the nginx site for this server: TLS, public pages cached, no access log."""
    try:
        if no_tls == (certificate is not None or certificate_key is not None):
            raise ConfigurationError(
                "give --cert and --key (TLS here), or --no-tls (TLS ends in front)", field="cert"
            )
        public = Settings().public_base()
        host = urlsplit(public).hostname
        if not host:
            raise ConfigurationError(f"CHAINCUT_PUBLIC_URL names no host: {public!r}", field="public_url")
        text = nginx_site(
            NginxSite(
                server_name=host,
                upstream=upstream,
                cache_dir=cache_dir,
                certificate=None if certificate is None else str(certificate),
                certificate_key=None if certificate_key is None else str(certificate_key),
                https_port=https_port,
                http_port=http_port,
            )
        )
    except ConfigurationError as exc:
        field = f" ({exc.field})" if exc.field else ""
        err.print(f"[red]error:[/red] {exc.message}{field}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from exc
    typer.echo(text, nl=False)
