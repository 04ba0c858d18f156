"""What budgets add to a request: reserve → call → settle, on SQLite and PostgreSQL.

    .venv/bin/python bench/budgets.py [--seconds 10] [--concurrency 10] [--backends sqlite,postgres]

For each database: (1) HybridHub (one uvicorn worker) in front of the
loopback mock vendor, the same closed-loop load twice — without any budget,
then with an organisation, a team and a user budget that every request
reserves against and settles (limits high enough never to refuse); the p50
and p99 of both runs and the difference. (2) reserve + settle alone against
those three budgets: p50 of one pair with nothing else running, and p50/p99
with ``--concurrency`` threads doing it at once. Results also go to
bench/results/budgets.json. PostgreSQL runs a throwaway server from Debian's
binaries (tests/support/postgres.py).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.gateway_overhead import (  # noqa: E402
    PY,
    SETUP,
    bench_env,
    free_port,
    load,
    prepare_database,
    start_hub,
    wait_for_port,
)
from tests.support.postgres import temporary_postgres  # noqa: E402

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
    budget_settle(hold=hold, cost_micros=40)
    return (time.perf_counter() - started) * 1000
times, lock = [], threading.Lock()
def worker():
    for _ in range(ITERATIONS):
        took = pair()
        with lock:
            times.append(took)
    connection.close()
for _ in range(20): pair()
threads = [threading.Thread(target=worker) for _ in range(CONCURRENCY)]
began = time.perf_counter()
for t in threads: t.start()
for t in threads: t.join()
wall = time.perf_counter() - began
times.sort()
cpu = time.process_time()
single = sorted(pair() for _ in range(200))
cpu_ms = (time.process_time() - cpu) / 200 * 1000
print(json.dumps({"p50_ms": statistics.median(times), "p99_ms": times[int(len(times) * .99)],
                  "pairs_per_s": len(times) / wall, "alone_p50_ms": statistics.median(single),
                  "alone_cpu_ms": cpu_ms}))
"""


def shell(env: dict[str, str], code: str) -> None:
    subprocess.run([PY, "manage.py", "shell", "-c", code], cwd=ROOT, env=env, check=True,
                   capture_output=True)  # fmt: skip


def run_backend(name: str, database_url: str, seconds: float, concurrency: int) -> dict:  # type: ignore[type-arg]
    workdir = Path(tempfile.mkdtemp(prefix="hybridhub-bench-"))
    mock_port, hub_port = free_port(), free_port()
    env = bench_env(
        workdir,
        HYBRIDHUB_PROVIDER_KEY_BENCH="sk-bench",
        HYBRIDHUB_PROVIDER_ALLOW_LOOPBACK="true",  # the mock vendor is on 127.0.0.1
        HYBRIDHUB_PRELOAD_LOCAL_MODELS="false",
    )
    if database_url:
        env["DATABASE_URL"] = database_url
    key = prepare_database(env, SETUP.replace("{base_url}", f"http://127.0.0.1:{mock_port}/v1"))
    mock = subprocess.Popen(
        [PY, "-m", "tests.support.openai_mock", "--port", str(mock_port), "--tokens", "16"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    hub = start_hub(env, hub_port)
    body = {"model": "cloud", "messages": [{"role": "user", "content": "Hi."}], "max_tokens": 16}
    runs = {}
    try:
        wait_for_port(mock_port)
        wait_for_port(hub_port)
        for label, code in (("without budgets", BUDGETS_OFF), ("with 3 budgets", BUDGETS_ON)):
            shell(env, code)
            load(hub_port, body, key, 2, 1)  # warm up
            runs[label] = load(hub_port, body, key, concurrency, seconds).summary()
    finally:
        for proc in (hub, mock):
            proc.terminate()
            proc.wait(timeout=15)
    micro = MICRO.replace("ITERATIONS", "100").replace("CONCURRENCY", str(concurrency))
    pairs = json.loads(
        subprocess.run([PY, "manage.py", "shell", "-c", micro], cwd=ROOT, env=env, check=True,
                       capture_output=True, text=True).stdout.strip().splitlines()[-1]
    )  # fmt: skip
    off, on = runs["without budgets"], runs["with 3 budgets"]
    row = {
        "database": name, "concurrency": concurrency, "without": off, "with": on,
        "added_p50_ms": on["p50_ms"] - off["p50_ms"], "added_p99_ms": on["p99_ms"] - off["p99_ms"],
        "reserve_settle": pairs,
    }  # fmt: skip
    print(
        f"{name:>10} c={concurrency}: p50 {off['p50_ms']:.2f} -> {on['p50_ms']:.2f} ms "
        f"(added {row['added_p50_ms']:+.2f} ms), p99 {off['p99_ms']:.2f} -> {on['p99_ms']:.2f} ms, "
        f"rps {off['rps']:.0f} -> {on['rps']:.0f}, errors {on['errors']}\n"
        f"{'':>10} reserve+settle (3 budgets): alone p50 {pairs['alone_p50_ms']:.2f} ms "
        f"({pairs['alone_cpu_ms']:.2f} ms CPU in this process); "
        f"{concurrency} threads p50 {pairs['p50_ms']:.2f} ms, p99 {pairs['p99_ms']:.2f} ms, "
        f"{pairs['pairs_per_s']:.0f} pairs/s",
        flush=True,
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--backends", default="sqlite,postgres")
    args = parser.parse_args()
    results = []
    for backend in args.backends.split(","):
        with ExitStack() as stack:
            url = stack.enter_context(temporary_postgres()) if backend == "postgres" else ""
            results.append(run_backend(backend, url, args.seconds, args.concurrency))
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "budgets.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
