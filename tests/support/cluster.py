"""Several HybridHub processes on one PostgreSQL and one Redis (tests/scale).

As a script, with DATABASE_URL and REDIS_URL set (it runs in its own process,
like an operator's shell):

- ``python -m tests.support.cluster seed CLOUD_URL`` migrates, creates an org
  admin, a member with a chat, a team with a budget and a key, two cloud
  models (cloud-a, cloud-b) and two published policies (v2 sends everything
  to cloud-a, v3 to cloud-b: v3 is live), and prints what the tests need as
  JSON (session cookies, keys, the chat's code);
- ``python -m tests.support.cluster message PK`` prints an answer's row;
- ``python -m tests.support.cluster disable MODEL`` switches a model off;
- ``python -m tests.support.cluster budget`` prints the budget's totals.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from .processes import process_stop

ROOT = Path(__file__).resolve().parents[2]
CSRF = "scaletests0123456789abcdefghijkl"  # any 32 characters: cookie and header agree


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cluster_env(database_url: str, redis_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "hybridhub.settings",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": "tests-only-not-secret",
        "DEBUG": "false",
        "HYBRIDHUB_PRELOAD_LOCAL_MODELS": "false",
        # Long enough that only the shared version can explain a quick change.
        "HYBRIDHUB_CATALOG_TTL_SECONDS": "120",
        "HYBRIDHUB_PROVIDER_ALLOW_LOOPBACK": "true",
        "HYBRIDHUB_PROVIDER_KEY_ALLOW": "OPENAI_API_KEY,MOCKAI_API_KEY",
        "MOCKAI_API_KEY": "sk-mock-test",
        "LOG_LEVEL": "WARNING",
    }


def script(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "tests.support.cluster", *args],
        cwd=ROOT, env=env, check=True, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    return done.stdout.strip().splitlines()[-1]


@contextmanager
def hub_process(env: dict[str, str]) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """One uvicorn process (one worker); yields its URL once it answers."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "hybridhub.asgi:application", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            if process.poll() is not None:
                raise RuntimeError(f"the hub exited with {process.returncode}")
            try:
                httpx.get(url + "/v1/models", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        yield url, process
    finally:
        process_stop(process, timeout=20)


def browser(url: str, session: str) -> httpx.Client:
    """A logged-in browser, as htmx would send its requests."""
    return httpx.Client(
        base_url=url,
        cookies={"sessionid": session, "csrftoken": CSRF},
        headers={"X-CSRFToken": CSRF, "HX-Request": "true"},
        timeout=30,
    )


# --- the script ---------------------------------------------------------------------


def _publish_rule(admin: object, model: str) -> int:
    from apps.policy.document import RulePolicy
    from apps.policy.services import (
        document_json,
        document_parse,
        policy_draft_edit,
        policy_publish,
    )

    def change(data: dict) -> dict:  # type: ignore[type-arg]
        doc = document_parse(data)
        rules = (RulePolicy(id="default", name=f"All to {model}", models=(model,)),)
        return document_json(doc.model_copy(update={"rules": rules}))

    policy_draft_edit(actor=admin, summary=model, change=change)  # type: ignore[arg-type]
    return policy_publish(actor=admin).number  # type: ignore[arg-type]


def _session(user: object) -> str:
    from django.test import Client

    client = Client()
    client.force_login(user)  # type: ignore[arg-type]
    return client.cookies["sessionid"].value


def _seed(cloud_url: str) -> None:
    from django.contrib.auth.models import User
    from django.core.management import call_command

    from apps.accounts.models import Membership, Team
    from apps.accounts.services import api_key_create
    from apps.budgets.services import BudgetTarget, budget_set
    from apps.chat.services import conversation_create
    from tests.conftest import make_cloud_model

    call_command("migrate", verbosity=0)
    admin = User.objects.create_superuser("root", "root@example.com", "pw-root")
    team = Team.objects.create(name="Engineering", slug="eng")
    member = User.objects.create_user("mia", "mia@example.com", "pw-mia")
    Membership.objects.create(user=member, team=team)
    ops = Team.objects.create(name="Ops", slug="ops")
    Membership.objects.create(user=member, team=ops)
    make_cloud_model(cloud_url, name="cloud-a")
    make_cloud_model(cloud_url, name="cloud-b")
    to_a = _publish_rule(admin, "cloud-a")
    _publish_rule(admin, "cloud-b")
    budget_set(target=BudgetTarget("team", team=ops), limit_micros=20, period="day")
    chat = conversation_create(user=member, team=team)
    print(
        json.dumps(
            {
                "admin_session": _session(admin),
                "member_session": _session(member),
                "key": api_key_create(user=member, team=team, name="t").secret,
                "ops_key": api_key_create(user=member, team=ops, name="ops").secret,
                "chat": str(chat.code),
                "policy_to_a": to_a,
            }
        )
    )


def _message(pk: int) -> None:
    from apps.chat.models import Message

    m = Message.objects.get(pk=pk)
    print(json.dumps({"status": m.status, "content": m.content, "error": m.error}))


def _disable(name: str) -> None:
    from apps.providers.models import LanguageModel

    model = LanguageModel.objects.get(name=name)
    model.enabled = False
    model.save()  # as the admin form does: every process hears of it
    print("ok")


def _budget() -> None:
    from django.db.models import Sum

    from apps.budgets.models import Budget
    from apps.gateway.models import UsageRecord

    budget = Budget.objects.get(scope="team", team__slug="ops")
    ledger = UsageRecord.objects.filter(team__slug="ops").aggregate(cost=Sum("cost_micros"))
    totals = {"spent": budget.spent_micros, "reserved": budget.reserved_micros}
    print(json.dumps({**totals, "limit": budget.limit_micros, "ledger_cost": ledger["cost"] or 0}))


def main() -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hybridhub.settings")
    django.setup()
    command, *args = sys.argv[1:]
    if command == "seed":
        _seed(args[0])
    elif command == "message":
        _message(int(args[0]))
    elif command == "disable":
        _disable(args[0])
    else:
        _budget()


if __name__ == "__main__":
    main()
