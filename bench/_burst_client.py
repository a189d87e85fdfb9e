"""The client behind bench/border_burst.py: a burst of booking requests, run in its own process.

    python bench/_burst_client.py CONFIG.json      # writes the results to config["out"]

Every request of the burst is known up front (the parent writes them into the
config): ``connections`` keep-alive connections each take the next request not yet
sent as soon as their previous one is answered (a closed loop over a fixed list),
until all are answered. Each latency runs from sending to the end of the answer.
It speaks raw HTTP/1.1 over asyncio (uvloop when installed) through the check-in
benchmark's ``Connection``, so it costs little CPU next to the server; answers'
bodies are kept as bytes and decoded after the burst. The count answered so far is
written to ``config["progress"]`` twice a second for the parent's progress bar.
Only 127.0.0.1 is contacted; everything is bounded by the per-request timeout and a
deadline for the whole burst.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from _loadgen import HOST, Connection, CpuMeter, HttpError, _percentiles_ms

__all__ = ["BurstConfig", "run"]


@dataclass
class BurstConfig:
    port: int
    connections: int
    tokens: list[str]  # residents' app tokens (bearer)
    # one per request: [token index, request_id, id_document, day, checkpoint, slot, companions' documents]
    requests: list[list[Any]]
    out: str
    progress: str
    timeout: float = 30.0
    deadline: float = 3600.0  # seconds for the whole burst
    server_pids: list[int] = field(default_factory=list)
    db_pids: list[int] = field(default_factory=list)


def _encode(config: BurstConfig) -> list[bytes]:
    head = (
        f"POST /border/bookings HTTP/1.1\r\nHost: {HOST}:{config.port}\r\n"
        "Content-Type: application/json\r\nAccept: application/json\r\n"
    )
    encoded = []
    for token, request_id, document, day, checkpoint, slot, companions in config.requests:
        body = json.dumps(
            {
                "request_id": request_id,
                "id_document": document,
                "day": day,
                "checkpoint": checkpoint,
                "slot": slot,
                "companions": companions,
            },
            separators=(",", ":"),
        ).encode()
        auth = f"Authorization: Bearer {config.tokens[token]}\r\nContent-Length: {len(body)}\r\n\r\n"
        encoded.append(head.encode() + auth.encode() + body)
    return encoded


async def run(config: BurstConfig) -> dict[str, Any]:
    """Send every request, ``connections`` at a time; return the raw outcome of each, in order."""
    encoded = _encode(config)
    total = len(encoded)
    status = [0] * total
    latency = [0.0] * total
    bodies: list[bytes] = [b""] * total
    done_at = [0.0] * total  # seconds from the start of the burst to each answer
    next_index = 0
    answered = 0
    started = time.perf_counter()
    meter = CpuMeter(config.server_pids, config.db_pids)

    async def worker() -> None:
        nonlocal next_index, answered
        conn = Connection(config.port)
        try:
            while next_index < total:
                index = next_index
                next_index += 1
                sent = time.perf_counter()
                try:
                    async with asyncio.timeout(config.timeout):
                        status[index], bodies[index] = await conn.exchange(encoded[index])
                except (OSError, EOFError, TimeoutError, asyncio.IncompleteReadError, ValueError, HttpError):
                    await conn.close()
                    status[index] = 0
                done = time.perf_counter()
                latency[index] = done - sent
                done_at[index] = round(done - started, 4)
                answered += 1
        finally:
            await conn.close()

    async def report_progress() -> None:
        path = Path(config.progress)
        while True:
            path.write_text(str(answered), encoding="utf-8")
            await asyncio.sleep(0.5)

    before = meter.sample()
    reporter = asyncio.ensure_future(report_progress())
    tasks = [asyncio.ensure_future(worker()) for _ in range(config.connections)]
    _done, pending = await asyncio.wait(tasks, timeout=config.deadline)
    for task in pending:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    elapsed = time.perf_counter() - started
    reporter.cancel()
    Path(config.progress).write_text(str(answered), encoding="utf-8")
    cpu = CpuMeter.usage(before, meter.sample())
    outcomes: list[str | None] = []
    for code, body in zip(status, bodies, strict=True):
        # 200/201/202: the booking's id; a refusal: its machine-readable code
        try:
            doc = json.loads(body) if body else {}
        except ValueError:
            doc = {}
        outcomes.append(doc.get("id") if 200 <= code < 300 else doc.get("code"))
    return {
        "requests": total,
        "answered": answered,
        "seconds": round(elapsed, 3),
        "rate": round(answered / elapsed, 1) if elapsed > 0 else None,
        "connections": config.connections,
        **_percentiles_ms(np.asarray(latency)),
        **cpu,
        "status": status,
        "outcomes": outcomes,
        "done_at": done_at,
    }


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: _burst_client.py CONFIG.json", file=sys.stderr)
        return 2
    config = BurstConfig(**json.loads(Path(argv[0]).read_text(encoding="utf-8")))
    if not (config.tokens and config.requests) or config.connections < 1:
        raise SystemExit("need residents' tokens, requests and at least one connection")
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvicorn[standard] brings it
        runner = asyncio.run
    else:
        runner = uvloop.run
    result = runner(run(config))
    Path(config.out).write_text(json.dumps(result), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
