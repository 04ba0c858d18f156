"""The concurrency scenario of issue 9, shared by the SQLite and PostgreSQL tests.

Fires many chat completions at once (streamed and not) at a live HybridHub
whose team budget covers only a few of them; every answer must be a
complete completion or a 429 ``budget_exceeded``.

As a script (for a hub in a subprocess, with DATABASE_URL set):
``python -m tests.support.budget_scenario setup CLOUD_URL LIMIT`` creates the
team, member, key, cloud model and budget and prints the key;
``python -m tests.support.budget_scenario state`` prints the budget's totals.
"""

from __future__ import annotations

import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

HI = [{"role": "user", "content": "hello world"}]


def one_request(api: str, key: str, index: int, model: str = "cloud-mini") -> str:
    """'ok', 'budget_exceeded', or what went wrong."""
    stream = index % 2 == 0
    body: dict[str, Any] = {"model": model, "messages": HI, "max_tokens": 5, "stream": stream}
    if stream:
        body["stream_options"] = {"include_usage": True}
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(timeout=60) as http:
        if not stream:
            reply = http.post(f"{api}/chat/completions", json=body, headers=headers)
            return _outcome(reply.status_code, reply.json(), reply.headers)
        with http.stream("POST", f"{api}/chat/completions", json=body, headers=headers) as reply:
            if reply.status_code != 200:
                reply.read()
                return _outcome(reply.status_code, reply.json(), reply.headers)
            text = "".join(reply.iter_text())
    return "ok" if text.rstrip().endswith("data: [DONE]") and '"usage":{' in text else text


def _outcome(status: int, body: dict[str, Any], headers: httpx.Headers) -> str:
    if status == 200:
        return "ok" if body["choices"][0]["message"]["content"] else "empty answer"
    error = body.get("error", {})
    if status == 429 and error.get("code") == "budget_exceeded" and headers.get("retry-after"):
        return "budget_exceeded"
    return f"{status} {error}"


def fire(api: str, key: str, count: int = 50) -> list[str]:
    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(lambda i: one_request(api, key, i), range(count)))


# --- a hub in another process ---------------------------------------------------------


def _setup(cloud_url: str, limit: int) -> None:
    from django.contrib.auth.models import User
    from django.core.management import call_command

    from apps.accounts.models import Membership, Team
    from apps.accounts.services import api_key_create
    from apps.budgets.services import BudgetTarget, budget_set
    from tests.conftest import make_cloud_model

    call_command("migrate", verbosity=0)
    team = Team.objects.create(name="Engineering", slug="eng")
    user = User.objects.create_user("mia", "mia@example.com", "pw-mia")
    Membership.objects.create(user=user, team=team)
    make_cloud_model(cloud_url, name="cloud-mini")
    budget_set(target=BudgetTarget("team", team=team), limit_micros=limit, period="day")
    print(api_key_create(user=user, team=team, name="scenario").secret)


def _state() -> None:
    from django.db.models import Count, Sum

    from apps.budgets.models import Budget
    from apps.gateway.models import UsageRecord

    budget = Budget.objects.get(scope="team")
    ledger = UsageRecord.objects.aggregate(cost=Sum("cost_micros"), rows=Count("pk"))
    print(
        json.dumps(
            {
                "spent": budget.spent_micros,
                "reserved": budget.reserved_micros,
                "limit": budget.limit_micros,
                "ledger_cost": ledger["cost"] or 0,
                "ledger_rows": ledger["rows"],
            }
        )
    )


def main() -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hybridhub.settings")
    django.setup()
    if sys.argv[1] == "setup":
        _setup(sys.argv[2], int(sys.argv[3]))
    else:
        _state()


if __name__ == "__main__":
    main()
