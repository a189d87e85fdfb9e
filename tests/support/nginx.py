"""A real nginx (Debian's binary, run as this user) serving a site ``chaincut proxy-config`` wrote,
until the block ends: for the reverse-proxy tests and ``bench/presence_warnings.py --proxy``."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from support.processes import stop_process

__all__ = ["find_nginx", "running_nginx"]


def find_nginx() -> str | None:
    """The nginx binary (``/usr/sbin`` is often not on a user's PATH)."""
    found = shutil.which("nginx")
    if found is None and Path("/usr/sbin/nginx").exists():
        found = "/usr/sbin/nginx"
    return found


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def running_nginx(site: str, directory: Path, ports: list[int], *, workers: int = 1) -> Iterator[Path]:
    """nginx with ``site`` included in its ``http`` block, its files (pid, logs, temporary and cache
    directories as the site names them) under ``directory``; waits until ``ports`` listen. Yields
    the error log, which fails the start's assertion when nginx exits."""
    binary = find_nginx()
    if binary is None:
        raise RuntimeError("nginx is not installed (scripts/install-system-deps installs it)")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "site.conf").write_text(site, encoding="utf-8")
    temp = directory / "temp"
    temp.mkdir(exist_ok=True)
    error_log = directory / "error.log"
    # As root, nginx's workers would run as nobody, who cannot enter pytest's private directories.
    user = "user root;\n" if os.geteuid() == 0 else ""
    (directory / "nginx.conf").write_text(
        f"""daemon off;
{user}worker_processes {workers};
pid {directory}/nginx.pid;
error_log {error_log} warn;
events {{ worker_connections 4096; }}
http {{
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    access_log off;
    include {directory}/site.conf;
}}
""",
        encoding="utf-8",
    )
    command = [binary, "-p", str(directory), "-c", str(directory / "nginx.conf"), "-e", str(error_log)]
    checked = subprocess.run([*command, "-t"], capture_output=True, text=True, timeout=30)
    if checked.returncode != 0:
        raise RuntimeError(f"nginx -t refused the site:\n{checked.stderr}")
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # to the log
    try:
        deadline = time.monotonic() + 20
        while not all(_listening(port) for port in ports):
            if process.poll() is not None:
                raise RuntimeError(f"nginx exited: {error_log.read_text(errors='replace')}")
            if time.monotonic() > deadline:
                raise RuntimeError("nginx did not listen within 20 s")
            time.sleep(0.05)
        yield error_log
    finally:
        stop_process(process)
