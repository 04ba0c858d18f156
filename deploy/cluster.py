"""``make cluster``: the multi-process setup of docs/deploy.md, on this machine.

Several uvicorn worker processes on one port, sharing PostgreSQL and Redis,
and llama.cpp's own OpenAI-compatible server as an on-prem model server.
``DATABASE_URL`` / ``REDIS_URL`` from the environment (or .env) are used if
set; otherwise a throwaway PostgreSQL and Redis are started from Debian's
binaries (the same helpers the tests use) and deleted on Ctrl-C.

    python deploy/cluster.py [--workers 2] [--port 8000] [--no-model-server]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from contextlib import ExitStack, suppress
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dotenv import load_dotenv  # noqa: E402

from tests.support.llama_server import llama_server, server_missing  # noqa: E402
from tests.support.postgres import temporary_postgres  # noqa: E402
from tests.support.redis import temporary_redis  # noqa: E402


def _manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True)


def _register_model_server(env: dict[str, str], url: str, alias: str) -> None:
    code = f"""
from apps.providers.models import LanguageModel, PrivacyZone, Provider
p, _ = Provider.objects.update_or_create(name="gpu-box", defaults=dict(
    kind=Provider.Kind.OPENAI_COMPATIBLE, privacy_zone=PrivacyZone.ON_PREM, base_url={url!r}))
LanguageModel.objects.update_or_create(name="smollm2-server", defaults=dict(
    provider=p, upstream_id={alias!r}, context_window=2048))
print("On-prem model server: smollm2-server at {url}")
"""
    _manage(env, "shell", "-c", code)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--host", default=os.getenv("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.getenv("PORT", "8000")))
    parser.add_argument("--no-model-server", action="store_true")
    options = parser.parse_args()
    load_dotenv(ROOT / ".env")
    # SIGTERM too unwinds the stack below: servers stopped, throwaway data deleted.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    env = dict(os.environ)
    with ExitStack() as stack:
        if not env.get("DATABASE_URL"):
            env["DATABASE_URL"] = stack.enter_context(temporary_postgres())
        if not env.get("REDIS_URL"):
            env["REDIS_URL"] = stack.enter_context(temporary_redis())
        print(f"DATABASE_URL={env['DATABASE_URL']}\nREDIS_URL={env['REDIS_URL']}")
        _manage(env, "migrate", "--noinput")
        _manage(env, "bootstrap_demo")
        # Once, before the workers: each would otherwise derive them itself.
        _manage(env, "ner_derive", "--if-enabled")
        missing = server_missing()
        if not options.no_model_server and missing is None:
            env["HYBRIDHUB_PROVIDER_ALLOW_LOOPBACK"] = "true"  # the model server is on loopback
            server = stack.enter_context(llama_server(alias="smollm2"))
            _register_model_server(env, server.url, server.alias)
        elif not options.no_model_server:
            print(f"No on-prem model server: {missing}")
        print(
            f"HybridHub: {options.workers} worker processes on "
            f"http://{options.host}:{options.port}/ (Ctrl-C stops everything)"
        )
        command = [
            sys.executable, "-m", "uvicorn", "hybridhub.asgi:application",
            "--host", options.host, "--port", str(options.port),
            "--workers", str(options.workers), "--timeout-graceful-shutdown", "10",
            "--no-proxy-headers", "--timeout-keep-alive", "5",
        ]  # fmt: skip
        with suppress(KeyboardInterrupt):
            subprocess.run(command, cwd=ROOT, env=env, check=False)


if __name__ == "__main__":
    main()
