"""What budgets add to a request: reserve → call → settle, on SQLite and PostgreSQL.

    .venv/bin/python bench/budgets.py [--seconds 10] [--rounds 2] [--vendor-ms 200]
        [--concurrency 10] [--backends sqlite,postgres]

For each database, three figures:

(a) reserve + settle alone against an organisation, a team and a user
    budget, as the gateway calls them: p50 of one pair with nothing else
    running (and its CPU), and p50/p99 and pairs per second with
    ``--concurrency`` threads at once (one connection each).
(b) the added request p50 through HybridHub (one uvicorn worker) at
    ``--concurrency`` when the hub is *not* CPU-saturated: the mock vendor
    answers after ``--vendor-ms`` (a real vendor's latency), so the worker
    is mostly idle and what shows is the time budgets add to a request,
    not queueing behind other requests' CPU.
(c) the same with a vendor that answers at once: the worker is saturated,
    every request waits for the CPU of the nine others, so the added p50
    there is mostly queueing (at c=10, 0.1 ms of CPU shows as ~1 ms); the
    added CPU per request (the server process's CPU time per request, with
    budgets minus without) is the figure that says what budgets cost.

Each load figure is the median over ``--rounds`` rounds that alternate
without/with budgets (the same three budgets, limits too high ever to
refuse). Results also go to bench/results/budgets.json. PostgreSQL runs a
throwaway server from Debian's binaries (tests/support/postgres.py).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.gateway_overhead import (  # noqa: E402
    PY,
    SETUP,
    bench_env,
    cpu_seconds,
    free_port,
    load,
    prepare_database,
    start_hub,
    wait_for_port,
)
from tests.support.postgres import temporary_postgres  # noqa: E402

# A second model on a second mock vendor that answers after --vendor-ms.
SLOW_MODEL = """
from apps.providers.models import Provider, LanguageModel
slow = Provider.objects.create(name="slow", kind="openai_compatible", privacy_zone="vendor",
    base_url="{base_url}", api_key_env="HYBRIDHUB_PROVIDER_KEY_BENCH", max_retries=0)
LanguageModel.objects.create(provider=slow, name="cloud-slow", upstream_id="mock-1",
    input_price_per_mtok=150000, output_price_per_mtok=600000)
print("slow")
"""
BUDGETS_ON = """
from django.contrib.auth.models import User
from apps.accounts.models import Team
from apps.budgets.services import BudgetTarget, budget_set
team, user = Team.objects.get(slug="bench"), User.objects.get(username="bench")
for target in (BudgetTarget("org"), BudgetTarget("team", team=team),
               BudgetTarget("user", team=team, user=user)):
    budget_set(target=target, limit_micros=10**12, period="month")
print("on")
"""
BUDGETS_OFF = "from apps.budgets.models import Budget; Budget.objects.all().delete(); print('off')"

# reserve + settle alone, as the gateway calls them: CONCURRENCY threads, each
# request's pair timed; one connection per thread, like the server's workers.
MICRO = """
import json, statistics, threading, time
from django.contrib.auth.models import User
from django.db import connection
from apps.accounts.models import Team
from apps.budgets.selectors import Who
from apps.budgets.services import budget_reserve, budget_settle
team, user = Team.objects.get(slug="bench"), User.objects.get(username="bench")
who = Who(team.pk, user.pk)
def pair():
    started = time.perf_counter()
    hold = budget_reserve(who=who, amount_micros=50, local=False)
    budget_settle(hold=hold, cost_micros=40, flushed_by_next=True)
    return (time.perf_counter() - started) * 1000
times, lock = [], threading.Lock()
def worker():
    for _ in range(ITERATIONS):
        took = pair()
        with lock:
            times.append(took)
    connection.close()
for _ in range(50): pair()
cpu = time.process_time()
single = sorted(pair() for _ in range(500))
cpu_ms = (time.process_time() - cpu) / 500 * 1000
threads = [threading.Thread(target=worker) for _ in range(CONCURRENCY)]
began = time.perf_counter()
for t in threads: t.start()
for t in threads: t.join()
wall = time.perf_counter() - began
times.sort()
print(json.dumps({"p50_ms": statistics.median(times), "p99_ms": times[int(len(times) * .99)],
                  "pairs_per_s": len(times) / wall, "alone_p50_ms": statistics.median(single),
                  "alone_cpu_ms": cpu_ms}))
"""


def shell(env: dict[str, str], code: str) -> str:
    done = subprocess.run([PY, "manage.py", "shell", "-c", code], cwd=ROOT, env=env, check=True,
                          capture_output=True, text=True)  # fmt: skip
    return done.stdout.strip().splitlines()[-1]


def measure(hub: subprocess.Popen[bytes], port: int, key: str, model: str, concurrency: int,
            seconds: float) -> dict[str, float]:  # fmt: skip
    """One closed-loop run: latency figures and the server's CPU per request."""
    body = {"model": model, "messages": [{"role": "user", "content": "Hi."}], "max_tokens": 16}
    load(port, body, key, 2, 1)  # warm: this phase's budgets, connections
    before = cpu_seconds(hub.pid)
    summary = load(port, body, key, concurrency, seconds).summary()
    summary["cpu_ms"] = (cpu_seconds(hub.pid) - before) / max(summary["requests"], 1) * 1000
    return summary


def median_of(runs: list[dict[str, float]]) -> dict[str, float]:
    return {name: statistics.median(run[name] for run in runs) for name in runs[0]}


def run_backend(name: str, database_url: str, args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="hybridhub-bench-"))
    mock_port, slow_port, hub_port = free_port(), free_port(), free_port()
    env = bench_env(
        workdir,
        HYBRIDHUB_PROVIDER_KEY_BENCH="sk-bench",
        HYBRIDHUB_PROVIDER_ALLOW_LOOPBACK="true",  # the mock vendors are on 127.0.0.1
        HYBRIDHUB_PRELOAD_LOCAL_MODELS="false",
    )
    if database_url:
        env["DATABASE_URL"] = database_url
    key = prepare_database(env, SETUP.replace("{base_url}", f"http://127.0.0.1:{mock_port}/v1"))
    shell(env, SLOW_MODEL.replace("{base_url}", f"http://127.0.0.1:{slow_port}/v1"))
    mock = [PY, "-m", "tests.support.openai_mock", "--tokens", "16", "--port"]
    vendors = [
        subprocess.Popen([*mock, str(mock_port)], cwd=ROOT, env=env),
        subprocess.Popen([*mock, str(slow_port), "--delay", str(args.vendor_ms / 1000)],
                         cwd=ROOT, env=env),
    ]  # fmt: skip
    hub = start_hub(env, hub_port)
    phases = {"unsaturated": "cloud-slow", "saturated": "cloud"}
    runs: dict[tuple[str, str], list[dict[str, float]]] = {}
    try:
        for port in (mock_port, slow_port, hub_port):
            wait_for_port(port)
        for _ in range(args.rounds):
            for budgets, code in (("without", BUDGETS_OFF), ("with", BUDGETS_ON)):
                shell(env, code)
                for phase, model in phases.items():
                    run = measure(hub, hub_port, key, model, args.concurrency, args.seconds)
                    runs.setdefault((phase, budgets), []).append(run)
    finally:
        for proc in (hub, *vendors):
            proc.terminate()
            proc.wait(timeout=15)
    micro = MICRO.replace("ITERATIONS", "200").replace("CONCURRENCY", str(args.concurrency))
    row: dict[str, Any] = {"database": name, "concurrency": args.concurrency,
                           "vendor_ms": args.vendor_ms, "rounds": args.rounds,
                           "reserve_settle": json.loads(shell(env, micro))}  # fmt: skip
    for phase in phases:
        off, on = median_of(runs[(phase, "without")]), median_of(runs[(phase, "with")])
        added = {f"added_{k}": on[k] - off[k] for k in ("p50_ms", "p99_ms", "cpu_ms")}
        # Each round's with-minus-without (the two runs next to each other):
        # their spread says how far the added figures can be trusted.
        paired = [
            {k: with_[k] - without[k] for k in ("p50_ms", "cpu_ms")}
            for without, with_ in zip(runs[(phase, "without")], runs[(phase, "with")], strict=True)
        ]
        row[phase] = {"without": off, "with": on, **added, "rounds_added": paired}
    _print(row)
    return row


def _print(row: dict[str, Any]) -> None:
    pairs, c = row["reserve_settle"], row["concurrency"]
    print(
        f"{row['database']}: (a) reserve+settle, 3 budgets: alone p50"
        f" {pairs['alone_p50_ms']:.3f} ms ({pairs['alone_cpu_ms']:.3f} ms CPU);"
        f" {c} threads p50 {pairs['p50_ms']:.2f} ms,"
        f" p99 {pairs['p99_ms']:.2f} ms, {pairs['pairs_per_s']:.0f} pairs/s",
        flush=True,
    )
    for label, phase in (("(b) vendor answers in "
                          f"{row['vendor_ms']:.0f} ms", "unsaturated"),
                         ("(c) vendor answers at once (saturated)", "saturated")):  # fmt: skip
        fig = row[phase]
        off, on = fig["without"], fig["with"]
        print(
            f"  {label}, c={c}: p50 {off['p50_ms']:.2f} -> {on['p50_ms']:.2f} ms"
            f" (added {fig['added_p50_ms']:+.2f} ms), p99 {off['p99_ms']:.1f} -> {on['p99_ms']:.1f}"
            f" ms, rps {off['rps']:.0f} -> {on['rps']:.0f}, CPU per request {off['cpu_ms']:.2f} ->"
            f" {on['cpu_ms']:.2f} ms (added {fig['added_cpu_ms']:+.2f} ms),"
            f" errors {on['errors']:.0f}",
            flush=True,
        )
        p50s = sorted(r["p50_ms"] for r in fig["rounds_added"])
        cpus = sorted(r["cpu_ms"] for r in fig["rounds_added"])
        print(
            f"    rounds, with minus without: p50 {' '.join(f'{v:+.2f}' for v in p50s)} ms;"
            f" CPU {' '.join(f'{v:+.2f}' for v in cpus)} ms",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--vendor-ms", type=float, default=200)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--backends", default="sqlite,postgres")
    args = parser.parse_args()
    results = []
    for backend in args.backends.split(","):
        with ExitStack() as stack:
            url = stack.enter_context(temporary_postgres()) if backend == "postgres" else ""
            results.append(run_backend(backend, url, args))
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "budgets.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
