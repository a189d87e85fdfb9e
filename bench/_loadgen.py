"""The load generator behind bench/checkin.py, run in its own process.

    python bench/_loadgen.py CONFIG.json      # prints one JSON object on stdout

It speaks raw HTTP/1.1 over keep-alive connections with asyncio (uvloop when
installed), so the client costs little CPU next to the server it measures.

Two modes:

* ``rate`` (open loop, like wrk2): request *i* is due at ``start + i / rate``.
  A pool of connections takes the requests in order; each latency is measured
  from the *scheduled* time, not from when a connection became free, so a
  server that falls behind shows up in the tail instead of slowing the clock
  (no coordinated omission). Requests that never complete count as errors.
* ``max`` (closed loop): ``connections`` clients each send the next request as
  soon as the previous response arrives, to find the ceiling.

Both run a warm-up first and report only the measurement window after it.
Everything is bounded: the number of requests, the run time plus a drain
deadline, and a per-request timeout; only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import resource
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

HOST = "127.0.0.1"
_MAX_HEADER_BYTES = 64 * 1024
_MAX_BODY_BYTES = 1024 * 1024


@dataclass
class Config:
    port: int
    mode: str  # "rate" or "max"
    seconds: float
    warmup: float
    connections: int
    residents: list[str]  # one resident app token (bearer) per simulated person
    tokens: list[str]
    run_id: str
    rate: float = 1000.0
    timeout: float = 10.0
    drain: float = 10.0
    seed: int = 1
    server_pids: list[int] = field(default_factory=list)
    db_pids: list[int] = field(default_factory=list)


class HttpError(Exception):
    """The server's reply could not be read as HTTP/1.1."""


class Connection:
    """One keep-alive HTTP/1.1 connection to the server on loopback."""

    def __init__(self, port: int) -> None:
        self._port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(self, data: bytes) -> int:
        """Send one request (already encoded) and return the response's status code."""
        status, _body = await self.exchange(data)
        return status

    async def exchange(self, data: bytes) -> tuple[int, bytes]:
        """Send one request (already encoded) and return the response's status code and body."""
        if self._writer is None or self._writer.is_closing():
            self._reader, self._writer = await asyncio.open_connection(HOST, self._port)
        reader, writer = self._reader, self._writer
        assert reader is not None
        writer.write(data)
        head = await reader.readuntil(b"\r\n\r\n")
        if len(head) > _MAX_HEADER_BYTES or not head.startswith(b"HTTP/1.1 "):
            raise HttpError("bad status line")
        status = int(head[9:12])
        length: int | None = None
        chunked = close = False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif name == b"connection" and b"close" in value.lower():
                close = True
        if chunked:
            body = await self._read_chunked(reader)
        elif length is not None:
            if length > _MAX_BODY_BYTES:
                raise HttpError("body too large")
            body = await reader.readexactly(length)
        else:
            raise HttpError("no content-length")
        if close:
            await self.close()
        return status, body

    async def _read_chunked(self, reader: asyncio.StreamReader) -> bytes:
        parts: list[bytes] = []
        total = 0
        while total <= _MAX_BODY_BYTES:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                return b"".join(parts)
            parts.append((await reader.readexactly(size + 2))[:-2])
            total += size
        raise HttpError("body too large")

    async def close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


class CheckInRequests:
    """Encodes POST /checkins requests: a unique client_id, a random person's app and a venue token.

    Each request carries that person's resident token (``Authorization: Bearer``), which says
    who checks in: the body names no person, as a resident's app sends it.
    """

    def __init__(self, config: Config) -> None:
        self._residents = config.residents
        self._tokens = config.tokens
        self._rng = random.Random(config.seed)
        self._run_id = config.run_id
        self._head = (
            f"POST /checkins HTTP/1.1\r\nHost: {HOST}:{config.port}\r\n"
            "Content-Type: application/json\r\nAccept: application/json\r\n"
        )

    def encode(self, n: int) -> bytes:
        resident = self._rng.choice(self._residents)
        body = json.dumps(
            {"client_id": f"{self._run_id}-{n}", "token": self._rng.choice(self._tokens)},
            separators=(",", ":"),
        ).encode()
        head = f"{self._head}Authorization: Bearer {resident}\r\nContent-Length: {len(body)}\r\n\r\n"
        return head.encode() + body


class CpuMeter:
    """CPU seconds used by this process, the server, the database, and the whole machine."""

    def __init__(self, server_pids: list[int], db_pids: list[int]) -> None:
        self._server_pids = server_pids
        self._db_pids = db_pids
        self._tick = os.sysconf("SC_CLK_TCK")

    def sample(self) -> dict[str, float]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        stats = _proc_stats()
        return {
            "wall": time.perf_counter(),
            "loadgen": usage.ru_utime + usage.ru_stime,
            "server": self._tree_seconds(stats, self._server_pids),
            "db": self._tree_seconds(stats, self._db_pids),
            "machine_busy": _machine_busy_seconds(self._tick),
        }

    def _tree_seconds(self, stats: dict[int, tuple[int, int]], roots: list[int]) -> float:
        """utime + stime of ``roots`` and all their descendants (PostgreSQL forks a backend each)."""
        children: dict[int, list[int]] = {}
        for pid, (ppid, _ticks) in stats.items():
            children.setdefault(ppid, []).append(pid)
        seen: set[int] = set()
        todo = [pid for pid in roots if pid in stats]
        while todo and len(seen) < 10_000:
            pid = todo.pop()
            if pid not in seen:
                seen.add(pid)
                todo.extend(children.get(pid, []))
        return sum(stats[pid][1] for pid in seen) / self._tick

    @staticmethod
    def usage(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        """Average cores busy between two samples, for each part."""
        wall = max(after["wall"] - before["wall"], 1e-9)
        out = {
            f"{name}_cpu": round((after[name] - before[name]) / wall, 3)
            for name in ("loadgen", "server", "db", "machine_busy")
        }
        # Whatever else ran on the machine meanwhile: a busy neighbour spoils the measurement.
        ours = out["loadgen_cpu"] + out["server_cpu"] + out["db_cpu"]
        out["other_cpu"] = round(max(0.0, out["machine_busy_cpu"] - ours), 3)
        return out


def _proc_stats() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, utime + stime in clock ticks) for every process we can read."""
    out: dict[int, tuple[int, int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            text = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        fields = text.rpartition(")")[2].split()
        out[int(entry.name)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    return out


def _machine_busy_seconds(tick: int) -> float:
    """CPU seconds not idle or waiting for I/O, summed over every core, since boot."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    values = [int(v) for v in fields[:8]]
    idle = values[3] + values[4]
    return (sum(values) - idle) / tick


@dataclass
class Record:
    """Raw measurements: (scheduled or sent time, latency seconds, status; 0 for a failure)."""

    started: list[float] = field(default_factory=list)
    latency: list[float] = field(default_factory=list)
    status: list[int] = field(default_factory=list)
    finished: list[float] = field(default_factory=list)
    lateness: list[float] = field(default_factory=list)  # rate mode: send time - scheduled time


async def _send(conn: Connection, data: bytes, timeout: float) -> int:
    try:
        async with asyncio.timeout(timeout):
            return await conn.request(data)
    except (
        OSError,
        EOFError,
        TimeoutError,
        asyncio.IncompleteReadError,
        asyncio.LimitOverrunError,
        ValueError,
        HttpError,
    ):
        await conn.close()
        return 0


async def _run_rate(config: Config, record: Record, requests: CheckInRequests, t0: float) -> None:
    """Open loop: request i is due at t0 + i / rate."""
    total = round(config.rate * (config.warmup + config.seconds))
    interval = 1.0 / config.rate
    next_index = 0

    async def worker() -> None:
        nonlocal next_index
        conn = Connection(config.port)
        try:
            while next_index < total:
                index = next_index
                next_index += 1
                due = t0 + index * interval
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                data = requests.encode(index)
                sent = time.perf_counter()
                status = await _send(conn, data, config.timeout)
                done = time.perf_counter()
                record.started.append(due)
                record.latency.append(done - due)
                record.status.append(status)
                record.finished.append(done)
                record.lateness.append(sent - due)
        finally:
            await conn.close()

    await _gather_bounded(
        [worker() for _ in range(config.connections)],
        deadline=t0 + config.warmup + config.seconds + config.drain,
    )


async def _run_max(config: Config, record: Record, requests: CheckInRequests, t0: float) -> None:
    """Closed loop: each connection sends its next request as soon as the last one is answered."""
    end = t0 + config.warmup + config.seconds
    counter = 0

    async def worker() -> None:
        nonlocal counter
        conn = Connection(config.port)
        await asyncio.sleep(max(0.0, t0 - time.perf_counter()))
        try:
            while time.perf_counter() < end:
                counter += 1
                data = requests.encode(counter)
                sent = time.perf_counter()
                status = await _send(conn, data, config.timeout)
                done = time.perf_counter()
                record.started.append(sent)
                record.latency.append(done - sent)
                record.status.append(status)
                record.finished.append(done)
        finally:
            await conn.close()

    await _gather_bounded([worker() for _ in range(config.connections)], deadline=end + config.drain)


async def _gather_bounded(coroutines: list[Any], *, deadline: float) -> None:
    tasks = [asyncio.ensure_future(c) for c in coroutines]
    _done, pending = await asyncio.wait(tasks, timeout=max(0.0, deadline - time.perf_counter()))
    for task in pending:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _measure_window(meter: CpuMeter, start: float, end: float, out: dict[str, float]) -> None:
    await asyncio.sleep(max(0.0, start - time.perf_counter()))
    before = meter.sample()
    await asyncio.sleep(max(0.0, end - time.perf_counter()))
    out.update(CpuMeter.usage(before, meter.sample()))


def _percentiles_ms(values: np.ndarray[Any, Any]) -> dict[str, float | None]:
    if values.size == 0:
        return {k: None for k in ("p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms", "mean_ms")}
    p50, p90, p99, p999 = np.percentile(values, [50, 90, 99, 99.9]) * 1000
    return {
        "p50_ms": round(float(p50), 2),
        "p90_ms": round(float(p90), 2),
        "p99_ms": round(float(p99), 2),
        "p999_ms": round(float(p999), 2),
        "max_ms": round(float(values.max() * 1000), 2),
        "mean_ms": round(float(values.mean() * 1000), 2),
    }


async def run(config: Config) -> dict[str, Any]:
    """Run one measurement and summarise the window after the warm-up."""
    record = Record()
    requests = CheckInRequests(config)
    meter = CpuMeter(config.server_pids, config.db_pids)
    cpu: dict[str, float] = {}
    t0 = time.perf_counter() + 0.2
    window_start = t0 + config.warmup
    window_end = window_start + config.seconds
    cpu_task = asyncio.ensure_future(_measure_window(meter, window_start, window_end, cpu))
    result: dict[str, Any] = {"mode": config.mode, "connections": config.connections}
    if config.mode == "rate":
        await _run_rate(config, record, requests, t0)
        await cpu_task
        scheduled = round(config.rate * (config.warmup + config.seconds)) - round(config.rate * config.warmup)
        in_window = np.asarray(record.started) >= window_start - 1e-9
        status = np.asarray(record.status, dtype=np.int64)[in_window]
        latency = np.asarray(record.latency)[in_window]
        finished = np.asarray(record.finished)[in_window]
        lateness = np.asarray(record.lateness)[in_window]
        ok = int(np.count_nonzero(status == 201))
        # A server that falls behind answers the window's last requests late: that stretches the span.
        span = max(config.seconds, float(finished.max() - window_start) if finished.size else 0.0)
        result.update(
            target_rate=config.rate,
            requests=scheduled,
            completed=int(status.size),
            ok=ok,
            errors=scheduled - ok,
            achieved_rate=round(ok / span, 1),
            send_lateness_p99_ms=(
                round(float(np.percentile(lateness, 99) * 1000), 2) if lateness.size else None
            ),
        )
    else:
        await _run_max(config, record, requests, t0)
        await cpu_task
        finished = np.asarray(record.finished)
        in_window = (finished >= window_start) & (finished < window_end)
        status = np.asarray(record.status, dtype=np.int64)[in_window]
        latency = np.asarray(record.latency)[in_window]
        ok = int(np.count_nonzero(status == 201))
        result.update(
            target_rate=None,
            requests=int(status.size),
            completed=int(status.size),
            ok=ok,
            errors=int(status.size) - ok,
            achieved_rate=round(ok / config.seconds, 1),
        )
    result.update(_percentiles_ms(latency))
    result["status_counts"] = {str(k): v for k, v in sorted(Counter(status.tolist()).items())}
    result.update(cpu)
    result["seconds"] = config.seconds
    result["warmup"] = config.warmup
    return result


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: _loadgen.py CONFIG.json", file=sys.stderr)
        return 2
    config = Config(**json.loads(Path(argv[0]).read_text(encoding="utf-8")))
    if config.mode not in {"rate", "max"}:
        raise SystemExit(f"unknown mode {config.mode!r}")
    if not (config.residents and config.tokens) or config.connections < 1:
        raise SystemExit("need residents' tokens, venue tokens and at least one connection")
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvicorn[standard] brings it
        runner = asyncio.run
    else:
        runner = uvloop.run
    result = runner(run(config))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
