"""``chaincut proxy-config``: the nginx site that puts ``chaincut serve`` on the internet.

What the site does, and why:

- **TLS** on the public address (``CHAINCUT_PUBLIC_URL``): phones open it from posters, and the
  residents' pages need a secure origin (WebCrypto, the camera). Plain HTTP is redirected to the
  public address, never to a host the client names (chaincut sends HSTS itself).
- **The public, identical-for-everyone answers are cached** (the published warnings' pages, the
  presence config, the vendored scripts and styles), for as long as chaincut's ``Cache-Control``
  says, keyed on only the parameters chaincut reads; a page nobody has asked for yet is made once
  however many phones ask at the same moment (``proxy_cache_lock``). Everything else goes to
  chaincut every time: nothing personal is ever cached (nginx also never caches an answer with
  ``Set-Cookie``).
- **The resident's address reaches chaincut** for its rate limits, and only that: the site
  *replaces* any ``X-Forwarded-For`` a client sends, so a client cannot pick the address it is
  counted under (uvicorn trusts the header only from the machine itself, where nginx runs). Behind
  a load balancer that ends TLS (``--no-tls``), the balancers named with ``--trusted-proxy`` are
  the only ones believed about the client's address.
- **No access log, nothing on disk.** chaincut keeps its own audit of who read what; a proxy log
  of every resident's address and path would be a second, unaudited record of people's
  whereabouts. nginx logs only its own failures, and keeps bodies in memory, not in temporary files.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import typer

from chaincut.cli.console import reported_errors
from chaincut.errors import ConfigurationError
from chaincut.settings import Settings

__all__ = ["NginxSite", "nginx_site", "proxy_config"]

# The answers that are the same for everyone and say so in their Cache-Control: the warnings' pages
# and the presence config (exact paths), and the vendored scripts and styles.
CACHED_PREFIX = "/static/"
# The largest request chaincut takes: a policy file or a checkpoint's photo in a form, a day of a
# checkpoint's offline clearances; nginx's default (1 MB) would refuse some of them before chaincut.
MAX_BODY = "16m"


@dataclass(frozen=True)
class NginxSite:
    """Where the site listens and what it proxies to."""

    server_name: str
    upstream: str = "127.0.0.1:8000"
    # Debian's nginx makes only the last directory of a cache path, in a folder it owns.
    cache_dir: str = "/var/lib/nginx/chaincut-cache"
    certificate: str | None = None  # None: plain HTTP, behind another TLS terminator
    certificate_key: str | None = None
    https_port: int = 443
    http_port: int = 80
    # Plain HTTP only: the load balancers in front (CIDR), whose X-Forwarded-For names the client.
    trusted_proxies: tuple[str, ...] = ()
    error_log: str = "/var/log/nginx/chaincut-error.log"


def _cached(path: str, key: str) -> str:
    lines = [
        "proxy_pass http://chaincut;",
        "proxy_cache chaincut_public;",
        # Only what chaincut reads: extra parameters cannot make a page of their own.
        f'proxy_cache_key "{key}";',
        "add_header X-Cache-Status $upstream_cache_status always;",
    ]
    body = "\n".join(f"        {line}" for line in lines)
    return f"    location {path} {{\n{body}\n    }}"


def nginx_site(site: NginxSite) -> str:
    """The site's configuration: a file for nginx's ``conf.d`` (it is read inside ``http { }``)."""
    tls = site.certificate is not None
    if tls != (site.certificate_key is not None):
        raise ConfigurationError("give both the certificate and its key, or neither", field="certificate")
    if tls and site.trusted_proxies:
        raise ConfigurationError(
            "trusted proxies are for plain HTTP behind a load balancer, not with TLS here",
            field="trusted_proxy",
        )
    for network in site.trusted_proxies:
        try:
            ipaddress.ip_network(network)
        except ValueError as exc:
            raise ConfigurationError(
                f"expected an address or network such as 10.0.0.0/8, not {network!r}", field="trusted_proxy"
            ) from exc
    port = "" if site.https_port == 443 else f":{site.https_port}"
    head = f"""# chaincut behind nginx, written by `chaincut proxy-config` for {site.server_name}.
# Install it as /etc/nginx/conf.d/chaincut.conf, then: nginx -t && systemctl reload nginx

proxy_cache_path {site.cache_dir} levels=1:2 keys_zone=chaincut_public:10m max_size=1g
                 inactive=1d use_temp_path=off;

upstream chaincut {{
    server {site.upstream};
    keepalive 64;
    keepalive_timeout 4s;  # uvicorn closes an idle connection after 5 s: nginx lets go first
}}
"""
    if tls:
        listen = f"""
server {{
    listen {site.http_port};
    listen [::]:{site.http_port};
    server_name {site.server_name};
    access_log off;
    return 308 https://{site.server_name}{port}$request_uri;
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
        trusted = "".join(f"    set_real_ip_from {network};\n" for network in site.trusted_proxies)
        listen = f"""
# Plain HTTP: TLS ends at a load balancer in front of this proxy.
server {{
    listen {site.http_port};
    listen [::]:{site.http_port};
    server_name {site.server_name};
    # The client is the address the load balancer names, not the load balancer.
{trusted}    real_ip_header X-Forwarded-For;
    real_ip_recursive on;
"""
    scheme = "$scheme" if tls else "https"  # behind a load balancer, phones still came over TLS
    common = f"""
    # chaincut audits who read what; a log of every resident's address and path would be a
    # second, unaudited record of whereabouts. Errors are logged only when nginx itself fails.
    access_log off;
    error_log {site.error_log} crit;
    client_max_body_size {MAX_BODY};
    # Requests and answers stay in memory, never in nginx's temporary files on disk.
    client_body_buffer_size {MAX_BODY};
    proxy_max_temp_file_size 0;

    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host $host;
    # Replaced, never appended to: a client cannot choose the address its requests count under.
    proxy_set_header X-Forwarded-For $remote_addr;
    proxy_set_header X-Forwarded-Proto {scheme};
    proxy_read_timeout 300s;  # a situation report or an export can take minutes

    # The same answer for everyone, cached as long as chaincut's Cache-Control says. A page not yet
    # cached is asked of chaincut once, however many phones want it at the same moment.
    proxy_cache_lock on;
    proxy_cache_lock_timeout 10s;
    proxy_cache_use_stale updating error timeout http_502 http_503;
    proxy_cache_background_update on;
"""
    cached = [
        _cached("= /presence/warnings", "$uri?since=$arg_since&limit=$arg_limit"),
        _cached("= /presence/config", "$uri"),
        _cached(CACHED_PREFIX, "$uri"),
    ]
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
    trusted_proxy: Annotated[
        list[str] | None,
        typer.Option(
            help="with --no-tls: a load balancer's address or network (repeat for each), whose "
            "X-Forwarded-For names the client"
        ),
    ] = None,
    upstream: Annotated[str, typer.Option(help="where `chaincut serve` listens")] = "127.0.0.1:8000",
    cache_dir: Annotated[str, typer.Option(help="nginx's cache of the public answers")] = (
        "/var/lib/nginx/chaincut-cache"
    ),
    error_log: Annotated[str, typer.Option(help="nginx's own failures (no addresses, no paths)")] = (
        "/var/log/nginx/chaincut-error.log"
    ),
    https_port: Annotated[int, typer.Option(min=1, max=65535)] = 443,
    http_port: Annotated[int, typer.Option(min=1, max=65535)] = 80,
) -> None:
    """Print the nginx site for this server: TLS, public pages cached, no access log."""
    with reported_errors():
        if no_tls == (certificate is not None or certificate_key is not None):
            raise ConfigurationError(
                "give --cert and --key (TLS here), or --no-tls (TLS ends in front)", field="cert"
            )
        if no_tls and not trusted_proxy:
            raise ConfigurationError(
                "with --no-tls, name the load balancers in front with --trusted-proxy: otherwise every "
                "client would count as the load balancer in chaincut's rate limits",
                field="trusted_proxy",
            )
        public = urlsplit(Settings().public_base())
        if not public.hostname:
            raise ConfigurationError(
                f"CHAINCUT_PUBLIC_URL names no host: {public.geturl()!r}", field="public_url"
            )
        if public.path not in ("", "/"):
            raise ConfigurationError(
                f"CHAINCUT_PUBLIC_URL must be the host's root, not {public.path!r}: chaincut is served at /",
                field="public_url",
            )
        text = nginx_site(
            NginxSite(
                server_name=public.hostname,
                upstream=upstream,
                cache_dir=cache_dir,
                certificate=None if certificate is None else str(certificate),
                certificate_key=None if certificate_key is None else str(certificate_key),
                https_port=https_port,
                http_port=http_port,
                trusted_proxies=tuple(trusted_proxy or ()),
                error_log=error_log,
            )
        )
    typer.echo(text, nl=False)
