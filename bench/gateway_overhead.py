"""Gateway overhead: the same load straight to the loopback mock vendor and
through HybridHub (one uvicorn worker), in one run.

    .venv/bin/python bench/gateway_overhead.py [--seconds 10] [--concurrency 1,10,50]
        [--reference-venv /path/to/litellm-venv]

Reports, per mode (plain / 64-token stream) and concurrency: added p50/p99
latency, added time to first token, requests per second both ways, and the
HybridHub process's CPU time per request. Results also go to
bench/results/gateway_overhead.json.

``--reference-venv``: a virtualenv outside this project with the reference
gateway (LiteLLM's proxy: ``pip install 'litellm[proxy]'``; never a project
dependency). It is started on loopback in front of the same mock vendor,
one worker, no database, and measured under the same load in the same run.
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


REFERENCE_CONFIG = """
model_list:
  - model_name: cloud
    litellm_params:
      model: openai/mock-1
      api_base: http://127.0.0.1:{mock_port}/v1
      api_key: sk-bench
general_settings:
  master_key: sk-reference-bench
"""


def start_reference(
    venv: Path, workdir: Path, mock_port: int, port: int
) -> subprocess.Popen[bytes]:
    """LiteLLM's proxy from its own virtualenv: one worker, no database."""
    config = workdir / "reference.yaml"
    config.write_text(REFERENCE_CONFIG.replace("{mock_port}", str(mock_port)))
    command = [str(venv / "bin" / "litellm"), "--config", str(config), "--host", "127.0.0.1"]
    command += ["--port", str(port), "--num_workers", "1"]
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(workdir),
           "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR"}  # fmt: skip
    return subprocess.Popen(command, cwd=workdir, env=env, stdout=subprocess.DEVNULL)


def load(port: int, body: dict, auth: str | None, concurrency: int, seconds: float) -> Result:  # type: ignore[type-arg]
    """One closed-loop run against 127.0.0.1:port."""
    return asyncio.run(
        run_load(host="127.0.0.1", port=port, path="/v1/chat/completions", body=body, key=auth,
                 concurrency=concurrency, seconds=seconds)
    )  # fmt: skip


# A bench database: one team and member, a vendor provider on the mock and one
# model; the script prints the API key. ``{base_url}`` is filled in by the caller.
_SETUP = """
import hashlib
from django.contrib.auth.models import User
from apps.accounts.models import ApiKey, Team, Membership
from apps.accounts.services import api_key_create
from apps.providers.models import Provider, LanguageModel
team = Team.objects.create(name="Bench", slug="bench")
user = User.objects.create_user("bench")
Membership.objects.create(user=user, team=team)
vendor = Provider.objects.create(name="mock", kind="openai_compatible", privacy_zone="vendor",
    base_url="{base_url}", api_key_env="HYBRIDHUB_PROVIDER_KEY_BENCH", max_retries=0)
LanguageModel.objects.create(provider=vendor, name="%(model)s", upstream_id="%(upstream)s",
    input_price_per_mtok=150000, output_price_per_mtok=600000)
secret = "%(secret)s"
if secret:  # a key fixed in advance (a harness that takes it on its command line)
    ApiKey.objects.create(user=user, team=team, name="bench", prefix=secret.split("_")[1],
        secret_hash=hashlib.sha256(secret.encode()).hexdigest())
else:
    secret = api_key_create(user=user, team=team, name="bench").secret
print(secret)
"""


def setup_script(model: str = "cloud", upstream: str = "mock-1", secret: str = "") -> str:
    """The bench database's setup (``_SETUP``) for ``model``; with ``secret``,
    that key instead of a new one."""
    return _SETUP % {"model": model, "upstream": upstream, "secret": secret}


SETUP = setup_script()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", default="1,10,50")
    parser.add_argument("--reference-venv", type=Path, default=None)
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
    gateways = [("hybridhub", hub, hub_port, key)]
    if args.reference_venv:
        ref_port = free_port()
        reference = start_reference(args.reference_venv, workdir, mock_port, ref_port)
        gateways.append(("reference", reference, ref_port, "sk-reference-bench"))
    results = []
    try:
        wait_for_port(mock_port)
        for _, _, port, _ in gateways:
            wait_for_port(port, timeout=180)
        for stream in (False, True):
            body = {
                "messages": [{"role": "user", "content": "Say something."}],
                "max_tokens": TOKENS,
            }
            if stream:
                body |= {"stream": True, "stream_options": {"include_usage": True}}
            mode = f"stream {TOKENS} tokens" if stream else "non-streaming"

            via_body, direct_body = {**body, "model": "cloud"}, {**body, "model": "mock-1"}
            for _, _, port, auth in gateways:  # warm: imports, connection pools, the SQLite file
                load(port, via_body, auth, 2, 1)
            for concurrency in levels:
                direct = load(mock_port, direct_body, None, concurrency, args.seconds)
                for name, proc, port, auth in gateways:
                    cpu_before = cpu_seconds(proc.pid)
                    via = load(port, via_body, auth, concurrency, args.seconds)
                    cpu = cpu_seconds(proc.pid) - cpu_before
                    row = _row(name, mode, concurrency, direct, via, cpu)
                    results.append(row)
                    _print(row, stream)
    finally:
        for _, proc, _, _ in gateways:
            proc.terminate()
            proc.wait(timeout=15)
        mock.terminate()
        mock.wait(timeout=15)
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "gateway_overhead.json").write_text(json.dumps(results, indent=2))


def _row(name: str, mode: str, concurrency: int, direct: Result, via: Result, cpu: float) -> dict:  # type: ignore[type-arg]
    d, v = direct.summary(), via.summary()
    return {
        "gateway": name,
        "mode": mode,
        "concurrency": concurrency,
        "direct": d,
        "via": v,
        "added_p50_ms": v["p50_ms"] - d["p50_ms"],
        "added_p99_ms": v["p99_ms"] - d["p99_ms"],
        "added_ttft_p50_ms": v["ttft_p50_ms"] - d["ttft_p50_ms"],
        "cpu_ms_per_request": cpu / max(1, via.count) * 1000,
        "hub_cpu_ms_per_request": cpu / max(1, via.count) * 1000,
    }


def _print(row: dict, stream: bool) -> None:  # type: ignore[type-arg]
    d, v = row["direct"], row["via"]
    print(
        f"{row['gateway']:>9} {row['mode']:>18} c={row['concurrency']:<3}"
        f" direct p50 {d['p50_ms']:7.2f} ms  via p50 {v['p50_ms']:7.2f} ms"
        f"  added p50 {row['added_p50_ms']:6.2f} p99 {row['added_p99_ms']:6.2f} ms"
        + (f"  added TTFT {row['added_ttft_p50_ms']:6.2f} ms" if stream else "")
        + f"  rps {d['rps']:7.1f} -> {v['rps']:6.1f}"
        f"  CPU {row['cpu_ms_per_request']:.2f} ms/req  errors {v['errors']}",
        flush=True,
    )


if __name__ == "__main__":
    main()
