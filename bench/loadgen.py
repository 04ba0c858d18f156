"""A small closed-loop HTTP/1.1 load generator on raw asyncio streams.

Deliberately thin (no HTTP library): on a two-core machine the client shares
the CPU with the servers it measures, so it must cost as little as possible.
Each of ``concurrency`` connections sends requests back to back (keep-alive).
"""

from __future__ import annotations

import asyncio
import json
import re
import statistics
import time
from dataclasses import dataclass, field

FIRST_TEXT = re.compile(rb'"content": ?"[^"]')


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)
    ttfts: list[float] = field(default_factory=list)
    errors: int = 0
    elapsed: float = 0.0

    @property
    def count(self) -> int:
        return len(self.latencies)

    def pct(self, values: list[float], q: float) -> float:
        if not values:
            return float("nan")
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    def summary(self) -> dict[str, float]:
        return {
            "requests": self.count,
            "errors": self.errors,
            "rps": self.count / self.elapsed if self.elapsed else 0.0,
            "p50_ms": self.pct(self.latencies, 0.50),
            "p99_ms": self.pct(self.latencies, 0.99),
            "ttft_p50_ms": self.pct(self.ttfts, 0.50),
            "ttft_p99_ms": self.pct(self.ttfts, 0.99),
            "mean_ms": statistics.fmean(self.latencies) * 1000 if self.latencies else float("nan"),
        }


async def _read_response(
    reader: asyncio.StreamReader, started: float, stream: bool
) -> tuple[int, float | None]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    headers = {}
    for line in head.split(b"\r\n")[1:]:
        if b":" in line:
            k, v = line.split(b":", 1)
            headers[k.strip().lower()] = v.strip()
    ttft = None
    if b"content-length" in headers:
        await reader.readexactly(int(headers[b"content-length"]))
        return status, None
    # chunked
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.strip(), 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return status, ttft
        data = await reader.readexactly(size + 2)
        if stream and ttft is None and FIRST_TEXT.search(data):
            ttft = time.perf_counter() - started


async def _worker(
    host: str, port: int, request: bytes, stream: bool, deadline: float, result: Result
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            writer.write(request)
            try:
                status, ttft = await _read_response(reader, started, stream)
            except (asyncio.IncompleteReadError, ConnectionError):
                result.errors += 1
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
                continue
            if status != 200:
                result.errors += 1
                continue
            result.latencies.append(time.perf_counter() - started)
            if ttft is not None:
                result.ttfts.append(ttft)
    finally:
        writer.close()


def build_request(host: str, port: int, path: str, body: dict, key: str | None) -> bytes:
    payload = json.dumps(body).encode()
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Content-Type: application/json",
        f"Content-Length: {len(payload)}",
    ]
    if key:
        lines.append(f"Authorization: Bearer {key}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


async def run_load(
    *,
    host: str,
    port: int,
    path: str,
    body: dict,
    key: str | None,
    concurrency: int,
    seconds: float,
) -> Result:
    result = Result()
    request = build_request(host, port, path, body, key)
    stream = bool(body.get("stream"))
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(
        *(_worker(host, port, request, stream, deadline, result) for _ in range(concurrency))
    )
    result.elapsed = time.perf_counter() - started
    return result
