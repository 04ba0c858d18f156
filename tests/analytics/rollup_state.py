"""Every row of every rollup table, comparable across two ways of writing
them (ids and write times left out).

Also a script for the PostgreSQL tests, on the database of DATABASE_URL:
``python -m tests.analytics.rollup_state synthesize ROWS DAYS`` writes a
synthetic ledger, snapshots its rollups, rebuilds them with the request
path's code and prints whether the two agree; ``record N AT`` records N
requests as the gateway does, starting at the time AT; ``pending N``
writes N unfolded rows; ``fold AT LIMIT`` folds them LIMIT at a time from
the time AT; ``totals [refresh]`` prints the ledger's and the rollups'
totals (as a reader sees them, with ``refresh``)."""

from __future__ import annotations

import json
import os
import sys
from typing import Any


def rollup_state() -> dict[str, list[tuple[Any, ...]]]:
    from apps.analytics.fold import rollups_refresh
    from apps.analytics.management.commands.analytics_rebuild import ROLLUPS

    rollups_refresh()  # a reader: the rows recorded so far, all counted
    state = {}
    for model in ROLLUPS:
        fields = [f.attname for f in model._meta.concrete_fields]
        fields = [f for f in fields if f not in ("id", "updated_at")]
        rows = model.objects.values_list(*fields)
        state[model.__name__] = sorted(tuple(str(v) for v in row) for row in rows)
    return state


def differences(
    one: dict[str, list[tuple[Any, ...]]], other: dict[str, list[tuple[Any, ...]]]
) -> dict[str, int]:
    """Per table, how many rows are in one state and not the other."""
    found = {}
    for table in one:
        a, b = set(one[table]), set(other[table])
        if a != b or len(one[table]) != len(other[table]):
            found[table] = len(a ^ b) or abs(len(one[table]) - len(other[table]))
    return found


def _synthesize(rows: int, days: int) -> dict[str, Any]:
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("ledger_synthesize", rows=rows, days=days, batch=rows // 3 + 1, stdout=sys.stderr)
    folded = rollup_state()
    call_command("analytics_rebuild", stdout=sys.stderr)
    rebuilt = rollup_state()
    sizes = {table: len(rows) for table, rows in folded.items()}
    return {"differences": differences(folded, rebuilt), "sizes": sizes}


def _record(n: int, start_at: float) -> dict[str, Any]:
    """Record ``n`` cloud requests as the gateway does (its ledger writer,
    one row per batch, folding every ten rows like its background fold),
    all into the same rollup rows, from ``start_at`` (a time.time()) so that
    several processes write and fold at once."""
    import time

    from apps.analytics.fold import ledger_fold
    from apps.gateway.budgeting import Spend
    from apps.gateway.ledger import ledger_batch_write

    time.sleep(max(0.0, start_at - time.time()))
    for i in range(n):
        ledger_batch_write([(_cloud_row(), Spend())])
        if i % 10 == 9:
            ledger_fold()
    return {"recorded": n}


def _cloud_row() -> Any:
    from apps.gateway.models import UsageRecord

    return UsageRecord(
        requested_model="auto", status="ok", model_name="cloud-mini", provider_name="mockai",
        privacy_zone="vendor", cost_micros=7, latency_ms=120,
        rule_name="Everything else runs locally",
    )  # fmt: skip


def _pending(n: int) -> dict[str, Any]:
    """Write ``n`` unfolded ledger rows at once, none folded."""
    from django.core.management import call_command

    from apps.gateway.models import UsageRecord

    call_command("migrate", verbosity=0)
    UsageRecord.objects.bulk_create([_cloud_row() for _ in range(n)], batch_size=500)
    return {"written": n}


def _fold(start_at: float, limit: int) -> dict[str, Any]:
    """From ``start_at``, fold ``limit`` rows at a time until none are left,
    as the ledger writer's background fold does (skipping locked rows)."""
    import time

    from apps.analytics.fold import ledger_fold

    time.sleep(max(0.0, start_at - time.time()))
    folded = passes = 0
    while taken := ledger_fold(limit=limit):
        folded, passes = folded + taken, passes + 1
    return {"folded": folded, "passes": passes}


def _totals(refresh: bool) -> dict[str, Any]:
    """The ledger's and the rollups' totals, as a reader sees them
    (``refresh``), or as they are (and how many rows wait to be folded)."""
    from django.core.management import call_command
    from django.db.models import Count, Sum

    from apps.analytics.fold import rollups_refresh
    from apps.analytics.models import ModelRollup, TeamBreakdownRollup, TeamRollup, UsageRollup
    from apps.gateway.models import UsageRecord

    call_command("migrate", verbosity=0)
    if refresh:
        rollups_refresh()
    sums = {
        model.__name__: model.objects.aggregate(n=Sum("requests"), cost=Sum("cost_micros"))
        for model in (UsageRollup, TeamRollup, ModelRollup, TeamBreakdownRollup)
    }
    ledger = UsageRecord.objects.aggregate(n=Count("pk"), cost=Sum("cost_micros"))
    pending = UsageRecord.objects.filter(folded=False).count()
    return {"ledger": ledger, "rollups": sums, "pending": pending}


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hybridhub.settings")
    os.environ.setdefault("SECRET_KEY", "tests-only-not-secret")
    import django

    django.setup()
    command, *args = sys.argv[1:]
    if command == "synthesize":
        result = _synthesize(int(args[0]), int(args[1]))
    elif command == "record":
        result = _record(int(args[0]), float(args[1]))
    elif command == "pending":
        result = _pending(int(args[0]))
    elif command == "fold":
        result = _fold(float(args[0]), int(args[1]))
    else:
        result = _totals(refresh=args == ["refresh"])
    print(json.dumps(result, default=int))


if __name__ == "__main__":
    main()
