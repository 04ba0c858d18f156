"""One reserve + settle pair against three budgets, in-process, nothing else
running: wall p50 (the pair, and reserve and settle apart), CPU per pair and
the statements it sends through Django's cursors (BEGIN/COMMIT included).
Runs the code of the checkout given (default: this one), so the same command
measures two commits side by side. The settle is timed as the gateway calls
it (``flushed_by_next``) where the checkout has that option.

    .venv/bin/python bench/budgets_pair.py --database-url sqlite:////tmp/pair.sqlite3
    .venv/bin/python bench/budgets_pair.py --database-url postgres://… --root ../other-checkout
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--root", default=str(Path(__file__).resolve().parent.parent))
    parser.add_argument("--pairs", type=int, default=400)
    args = parser.parse_args()
    sys.path.insert(0, args.root)
    os.chdir(args.root)
    os.environ.update(DATABASE_URL=args.database_url, DJANGO_SETTINGS_MODULE="hybridhub.settings")
    os.environ.setdefault("SECRET_KEY", "bench-only")
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from apps.accounts.models import Team
    from apps.budgets.models import Budget
    from apps.budgets.selectors import Who
    from apps.budgets.services import BudgetTarget, budget_reserve, budget_set, budget_settle

    call_command("migrate", verbosity=0)
    team, _ = Team.objects.get_or_create(slug="pair", defaults={"name": "pair"})
    user, _ = User.objects.get_or_create(username="pair")
    Budget.objects.all().delete()
    for target in (BudgetTarget("org"), BudgetTarget("team", team=team),
                   BudgetTarget("user", team=team, user=user)):  # fmt: skip
        budget_set(target=target, limit_micros=10**12, period="month")
    who = Who(team.pk, user.pk)

    settle_options = (
        {"flushed_by_next": True}
        if "flushed_by_next" in inspect.signature(budget_settle).parameters
        else {}
    )
    reserves: list[float] = []
    settles: list[float] = []

    def pair() -> None:
        began = time.perf_counter()
        hold = budget_reserve(who=who, amount_micros=50, local=False)
        middle = time.perf_counter()
        budget_settle(hold=hold, cost_micros=40, **settle_options)
        reserves.append((middle - began) * 1000)
        settles.append((time.perf_counter() - middle) * 1000)

    read = _admit_read(who)
    for _ in range(50):
        pair()
        read()
    reserves.clear()
    settles.clear()
    cpu = time.process_time()
    for _ in range(args.pairs):
        pair()
    cpu_ms = (time.process_time() - cpu) / args.pairs * 1000
    times = [r + s for r, s in zip(reserves, settles, strict=True)]
    reads = []
    cpu = time.process_time()
    for _ in range(args.pairs):
        began = time.perf_counter()
        read()
        reads.append((time.perf_counter() - began) * 1000)
    read_cpu_ms = (time.process_time() - cpu) / args.pairs * 1000
    with CaptureQueriesContext(connection) as queries:
        pair()
    print(json.dumps({
        "root": args.root, "database": connection.vendor,
        "p50_ms": round(statistics.median(times), 3), "cpu_ms": round(cpu_ms, 3),
        "reserve_p50_ms": round(statistics.median(reserves), 3),
        "settle_p50_ms": round(statistics.median(settles), 3),
        # the gateway's read before deciding (which budgets apply, the signal):
        # every request pays it, with budgets or without
        "admit_read_p50_ms": round(statistics.median(reads), 3),
        "admit_read_cpu_ms": round(read_cpu_ms, 3),
        # through Django's cursors (on PostgreSQL this checkout's hot path
        # uses prepared statements on psycopg's own cursor, not counted)
        "django_statements": len(queries.captured_queries),
    }))  # fmt: skip


def _admit_read(who: Any) -> Callable[[], float]:
    """The budget read of the gateway's admission, in this checkout's form."""
    from django.utils import timezone

    from apps.budgets import selectors

    if hasattr(selectors, "budgets_applicable_now"):
        return lambda: selectors.budget_signal(
            who, applicable=selectors.budgets_applicable_now(who, timezone.now())
        )
    old = selectors.budgets_applicable_list  # before this branch: model instances
    return lambda: selectors.budget_signal(who, applicable=old(who))  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
