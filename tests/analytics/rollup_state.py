"""Every row of every rollup table, comparable across two ways of writing
them (ids and write times left out). Also a script: ``python -m
tests.analytics.rollup_state`` synthesizes a ledger in the database of
DATABASE_URL, snapshots the rollups, rebuilds them with the request path's
code and prints whether the two agree (the PostgreSQL test runs it)."""

from __future__ import annotations

import json
import os
import sys
from typing import Any


def rollup_state() -> dict[str, list[tuple[Any, ...]]]:
    from apps.analytics.management.commands.analytics_rebuild import ROLLUPS

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


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hybridhub.settings")
    os.environ.setdefault("SECRET_KEY", "tests-only-not-secret")
    import django

    django.setup()
    from django.core.management import call_command

    rows, days = int(sys.argv[1]), int(sys.argv[2])
    call_command("migrate", verbosity=0)
    call_command("ledger_synthesize", rows=rows, days=days, batch=rows // 3 + 1, stdout=sys.stderr)
    folded = rollup_state()
    call_command("analytics_rebuild", stdout=sys.stderr)
    rebuilt = rollup_state()
    sizes = {table: len(rows) for table, rows in folded.items()}
    print(json.dumps({"differences": differences(folded, rebuilt), "sizes": sizes}))


if __name__ == "__main__":
    main()
