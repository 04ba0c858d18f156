"""Gateway overhead: the same load straight to the loopback mock vendor and
through HybridHub (one uvicorn worker), in one run.

    .venv/bin/python bench/gateway_overhead.py [--seconds 10] [--concurrency 1,10,50]

Reports, per mode (plain / 64-token stream) and concurrency: added p50/p99
latency, added time to first token, requests per second both ways, and the
HybridHub process's CPU time per request. Results also go to
bench/results/gateway_overhead.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.loadgen import Result, run_load  # noqa: E402

PY = sys.executable
TOKENS = 64


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listening on {port}")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_env(workdir: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "SECRET_KEY": "bench-only",
        "DEBUG": "false",
        "DATABASE_URL": f"sqlite:///{workdir / 'bench.sqlite3'}",
        "LOG_LEVEL": "WARNING",
        **extra,
    }


def prepare_database(env: dict[str, str], setup: str) -> str:
    """Migrate a fresh database, run the setup code; returns what it printed last (a key)."""
    subprocess.run([PY, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    done = subprocess.run(
        [PY, "manage.py", "shell", "-c", setup],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip().splitlines()[-1]


def start_hub(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    """HybridHub on one uvicorn worker, access log off."""
    command = [PY, "-m", "uvicorn", "hybridhub.asgi:application", "--port", str(port)]
    command += ["--no-access-log", "--log-level", "warning", "--workers", "1"]
    return subprocess.Popen(command, cwd=ROOT, env=env)


def load(port: int, body: dict, auth: str | None, concurrency: int, seconds: float) -> Result:  # type: ignore[type-arg]
    """One closed-loop run against 127.0.0.1:port."""
    return asyncio.run(
        run_load(host="127.0.0.1", port=port, path="/v1/chat/completions", body=body, key=auth,
                 concurrency=concurrency, seconds=seconds)
    )  # fmt: skip


SETUP = """
from django.contrib.auth.models import User
from apps.accounts.models import Team, Membership
from apps.accounts.services import api_key_create
from apps.providers.models import Provider, LanguageModel
team = Team.objects.create(name="Bench", slug="bench")
user = User.objects.create_user("bench")
Membership.objects.create(user=user, team=team)
vendor = Provider.objects.create(name="mock", kind="openai_compatible", privacy_zone="vendor",
    base_url="{base_url}", api_key_env="HYBRIDHUB_PROVIDER_KEY_BENCH", max_retries=0)
LanguageModel.objects.create(provider=vendor, name="cloud", upstream_id="mock-1",
    input_price_per_mtok=150000, output_price_per_mtok=600000)
print(api_key_create(user=user, team=team, name="bench").secret)
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", default="1,10,50")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]

    workdir = Path(tempfile.mkdtemp(prefix="hybridhub-bench-"))
    mock_port, hub_port = free_port(), free_port()
    env = bench_env(
        workdir,
        HYBRIDHUB_PROVIDER_KEY_BENCH="sk-bench",
        HYBRIDHUB_PROVIDER_ALLOW_LOOPBACK="true",  # the mock vendor is on 127.0.0.1
        HYBRIDHUB_PRELOAD_LOCAL_MODELS="false",
    )
    key = prepare_database(env, SETUP.replace("{base_url}", f"http://127.0.0.1:{mock_port}/v1"))

    mock = subprocess.Popen(
        [PY, "-m", "tests.support.openai_mock", "--port", str(mock_port), "--tokens", str(TOKENS)],
        cwd=ROOT,
        env=env,
    )
    hub = start_hub(env, hub_port)
    results = []
    try:
        wait_for_port(mock_port)
        wait_for_port(hub_port)
        for stream in (False, True):
            body = {
                "messages": [{"role": "user", "content": "Say something."}],
                "max_tokens": TOKENS,
            }
            if stream:
                body |= {"stream": True, "stream_options": {"include_usage": True}}
            mode = f"stream {TOKENS} tokens" if stream else "non-streaming"

            via_body, direct_body = {**body, "model": "cloud"}, {**body, "model": "mock-1"}
            load(hub_port, via_body, key, 2, 1)  # warm: imports, connection pools, the SQLite file
            for concurrency in levels:
                direct = load(mock_port, direct_body, None, concurrency, args.seconds)
                cpu_before = cpu_seconds(hub.pid)
                via = load(hub_port, via_body, key, concurrency, args.seconds)
                cpu = cpu_seconds(hub.pid) - cpu_before
                d, v = direct.summary(), via.summary()
                row = {
                    "mode": mode,
                    "concurrency": concurrency,
                    "direct": d,
                    "hybridhub": v,
                    "added_p50_ms": v["p50_ms"] - d["p50_ms"],
                    "added_p99_ms": v["p99_ms"] - d["p99_ms"],
                    "added_ttft_p50_ms": v["ttft_p50_ms"] - d["ttft_p50_ms"],
                    "hub_cpu_ms_per_request": cpu / max(1, via.count) * 1000,
                }  # fmt: skip
                results.append(row)
                print(
                    f"{mode:>18} c={concurrency:<3} direct p50 {d['p50_ms']:7.2f} ms"
                    f"  via p50 {v['p50_ms']:7.2f} ms"
                    f"  added p50 {row['added_p50_ms']:6.2f} p99 {row['added_p99_ms']:6.2f} ms"
                    + (f"  added TTFT {row['added_ttft_p50_ms']:6.2f} ms" if stream else "")
                    + f"  rps {d['rps']:7.1f} -> {v['rps']:6.1f}"
                    f"  hub CPU {row['hub_cpu_ms_per_request']:.2f} ms/req  errors {v['errors']}",
                    flush=True,
                )
    finally:
        for proc in (hub, mock):
            proc.terminate()
            proc.wait(timeout=15)
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "gateway_overhead.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
