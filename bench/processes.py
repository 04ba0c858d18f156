"""Throughput by process count: HybridHub on 1, 2 and 4 uvicorn workers
sharing one PostgreSQL, under the same closed-loop load.

    .venv/bin/python bench/processes.py [--seconds 8] [--processes 1,2,4]
        [--concurrency 16] [--database-url postgres://…/name]

Without ``--database-url`` a throwaway PostgreSQL from Debian's binaries is
started (tests/support/postgres.py); with it, the database must exist and be
empty (``createdb``): it is migrated and given one team, key and vendor model.
The vendor is the loopback mock (tests/support/openai_mock.py); requests are
non-streamed, a system message and a 600-character prompt, 64-token answers,
access log off. Prints per process count: requests/s, p50/p99 latency, and
CPU per request (the workers' CPU time summed, divided by the requests), and
that CPU against the one-process figure (issue #14's goal: within 1.2 times).
Results also go to bench/results/processes.json. On a machine with fewer
cores than workers + load generator + mock, requests/s stops growing early:
read the CPU per request there, and measure throughput on a larger machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, suppress
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.gateway_overhead import (  # noqa: E402
    PY,
    SETUP,
    bench_env,
    cpu_seconds,
    free_port,
    prepare_database,
    wait_for_port,
)
from bench.loadgen import run_load  # noqa: E402

TOKENS = 64
PROMPT = (
    "Summarise the following customer note in two sentences and list any action items. "
    "The weekly export job finished late again, two rows were duplicated in the report, "
    "and the customer asks whether the retention policy changed last month. "
) * 3


def body() -> dict[str, object]:
    return {
        "model": "cloud",
        "messages": [
            {"role": "system", "content": "You are a concise assistant."},
            {"role": "user", "content": PROMPT[:600]},
        ],
        "max_tokens": TOKENS,
    }


def workers_of(master: int) -> list[int]:
    """The uvicorn master's child processes (its workers)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == master:
            found.append(int(stat.parent.name))
    return found


def cpu_total(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with suppress(OSError):
            total += cpu_seconds(pid)
    return total


def measure(env: dict[str, str], processes: int, concurrency: int, seconds: float) -> dict:  # type: ignore[type-arg]
    port = free_port()
    command = [PY, "-m", "uvicorn", "hybridhub.asgi:application", "--port", str(port)]
    command += ["--no-access-log", "--log-level", "warning", "--workers", str(processes)]
    hub = subprocess.Popen(command, cwd=ROOT, env=env)
    try:
        wait_for_port(port, timeout=120)
        key = env["BENCH_KEY"]

        def run(duration: float):  # type: ignore[no-untyped-def]
            return asyncio.run(
                run_load(host="127.0.0.1", port=port, path="/v1/chat/completions", body=body(),
                         key=key, concurrency=concurrency, seconds=duration)
            )  # fmt: skip

        time.sleep(2.0 + 2 * processes)  # every worker imported and listening
        run(3.0)  # warm-up: every worker has its caches and connections
        workers = workers_of(hub.pid) or [hub.pid]  # one worker: uvicorn serves in-process
        before = cpu_total(workers)
        result = run(seconds)
        used = cpu_total(workers) - before
    finally:
        hub.terminate()
        hub.wait(timeout=30)
    summary = result.summary()
    return {
        "processes": processes,
        "workers_seen": len(workers),
        "concurrency": concurrency,
        "rps": round(summary["rps"], 1),
        "p50_ms": round(result.pct(result.latencies, 0.5), 1),
        "p99_ms": round(result.pct(result.latencies, 0.99), 1),
        "errors": result.errors,
        "cpu_ms_per_request": round(1000 * used / max(result.count, 1), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--processes", default="1,2,4")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    with ExitStack() as stack:
        database_url = args.database_url
        if not database_url:
            from tests.support.postgres import temporary_postgres

            database_url = stack.enter_context(temporary_postgres())
        workdir = Path(tempfile.mkdtemp(prefix="hybridhub-processes-"))
        mock_port = free_port()
        env = bench_env(
            workdir,
            DATABASE_URL=database_url,
            HYBRIDHUB_PROVIDER_KEY_BENCH="sk-bench",
            HYBRIDHUB_PROVIDER_ALLOW_LOOPBACK="true",  # the mock vendor is on 127.0.0.1
            HYBRIDHUB_PRELOAD_LOCAL_MODELS="false",
        )
        setup = SETUP.replace("{base_url}", f"http://127.0.0.1:{mock_port}/v1")
        env["BENCH_KEY"] = prepare_database(env, setup)
        mock = subprocess.Popen(
            [PY, "-m", "tests.support.openai_mock", "--port", str(mock_port),
             "--tokens", str(TOKENS)],
            cwd=ROOT, env=env,
        )  # fmt: skip
        stack.callback(mock.terminate)
        wait_for_port(mock_port)
        rows = [
            measure(env, int(n), args.concurrency, args.seconds) for n in args.processes.split(",")
        ]
    base = rows[0]["cpu_ms_per_request"] or 1.0
    print("| processes | requests/s | p50 | p99 | CPU per request | vs 1 process | errors |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        ratio = row["cpu_ms_per_request"] / base
        print(
            f"| {row['processes']} | {row['rps']} | {row['p50_ms']} ms | {row['p99_ms']} ms "
            f"| {row['cpu_ms_per_request']} ms | {ratio:.2f}x | {row['errors']} |"
        )
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "processes.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
