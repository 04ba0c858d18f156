"""HybridHub in the foreground for the side-by-side harness (../shared/bench).

    .venv/bin/python bench/hub_serve.py [--port 8765] [--access-log]

compare.py starts this with MOCK_UPSTREAM_BASE and MOCK_UPSTREAM_KEY set: a
fresh SQLite database gets one team, one member, a vendor provider on that
upstream and a model ``mock-gpt``, and the API key ``BENCH_KEY`` (printed;
pass it as --gateway-key). Then uvicorn (one worker) replaces this process,
so the harness measures and pins the server itself.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.gateway_overhead import PY, bench_env, prepare_database, setup_script  # noqa: E402

BENCH_KEY = "hh_benchkey_side-by-side-harness-only-0123456789"

SETUP = setup_script(model="mock-gpt", upstream="mock-gpt", secret=BENCH_KEY)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--access-log", action="store_true")
    args = parser.parse_args()
    base_url = os.environ.get("MOCK_UPSTREAM_BASE", "http://127.0.0.1:18080/v1")
    workdir = Path(tempfile.mkdtemp(prefix="hybridhub-compare-"))
    env = bench_env(
        workdir,
        HYBRIDHUB_PROVIDER_KEY_BENCH=os.environ.get("MOCK_UPSTREAM_KEY", "sk-mock-upstream"),
        HYBRIDHUB_PROVIDER_ALLOW_LOOPBACK="true",
        HYBRIDHUB_PRELOAD_LOCAL_MODELS="false",
    )
    print(prepare_database(env, SETUP.replace("{base_url}", base_url)))
    command = [PY, "-m", "uvicorn", "hybridhub.asgi:application", "--port", str(args.port)]
    command += ["--log-level", "warning", "--workers", "1"]
    command += [] if args.access_log else ["--no-access-log"]
    os.chdir(ROOT)
    sys.stdout.flush()
    os.execve(PY, command, env)


if __name__ == "__main__":
    main()
