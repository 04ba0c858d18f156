"""Analytics page times with a large ledger.

    .venv/bin/python bench/analytics.py --rows 1000000            # SQLite, a fresh file
    .venv/bin/python bench/analytics.py --rows 1000000 \\
        --database-url postgres://bench:bench@127.0.0.1:5432/bench  # PostgreSQL (postgres extra)

Writes the synthetic history with ``manage.py ledger_synthesize`` (timed),
then renders every analytics page, a CSV export, an API table and /metrics
in-process with Django's test client, as an org admin, a team admin and a
member: median and worst of 5 runs after one warm-up. Target: every page
under 500 ms at 1,000,000 rows. ``--reuse`` keeps an existing database.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _setup(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("SECRET_KEY", "bench-only")
    os.environ.setdefault("ALLOWED_HOSTS", "testserver")
    os.environ["HYBRIDHUB_METRICS_TOKEN"] = "bench"
    os.environ["DJANGO_SETTINGS_MODULE"] = "hybridhub.settings"
    import django

    django.setup()


def _time(client: object, url: str, runs: int = 5, **headers: str) -> tuple[float, float, int]:
    client.get(url, **headers)  # type: ignore[attr-defined]  # warm-up
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        response = client.get(url, **headers)  # type: ignore[attr-defined]
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times), max(times), response.status_code


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--reuse", action="store_true")
    args = parser.parse_args()
    url = (
        args.database_url or f"sqlite:///{tempfile.gettempdir()}/hybridhub-bench-analytics.sqlite3"
    )
    if not args.reuse and url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)
    _setup(url)

    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    from apps.accounts.models import Membership
    from apps.gateway.models import UsageRecord

    call_command("migrate", verbosity=0)
    written = 0.0
    if not args.reuse:
        began = time.perf_counter()
        call_command("ledger_synthesize", rows=args.rows, days=args.days)
        written = time.perf_counter()
        print(f"synthesized {args.rows:,} rows in {written - began:.0f} s")
    rows = UsageRecord.objects.count()
    from apps.analytics.models import UsageRollup

    print(f"{connection.vendor}: {rows:,} ledger rows, {UsageRollup.objects.count():,} rollup rows")

    staff, _ = User.objects.get_or_create(username="bench-admin", defaults={"is_staff": True})
    admin = Membership.objects.filter(role="admin").select_related("user").first()
    member = Membership.objects.filter(role="member").select_related("user").first()
    assert admin is not None and member is not None
    today = timezone.now().date()
    quarter = f"start={today - timedelta(days=args.days)}&end={today}"
    pages = [
        ("org admin", staff, "/analytics/"),
        ("org admin", staff, f"/analytics/?{quarter}&bucket=week"),
        ("org admin", staff, f"/analytics/?{quarter}&bucket=day"),
        ("org admin", staff, f"/analytics/?{quarter}&model=synth-gpt-4o&source=chat"),
        ("org admin", staff, "/analytics/review/"),
        ("org admin", staff, f"/analytics/?{quarter}&format=csv&table=latency"),
        ("org admin", staff, f"/api/v1/analytics/spend_model?{quarter}"),
        ("team admin", admin.user, f"/analytics/?{quarter}&bucket=week"),
        ("team admin", admin.user, "/analytics/review/"),
        ("member", member.user, f"/analytics/me/?{quarter}"),
    ]
    print("| who | page | median ms | worst ms | status |\n|---|---|---|---|---|")
    for who, user, page in pages:
        client = Client()
        client.force_login(user)
        median, worst, status = _time(client, page)
        print(f"| {who} | `{page}` | {median:.0f} | {worst:.0f} | {status} |")
    from apps.analytics.metrics import CLOSED_DAYS

    # Rows written in the last minute count as late writes to closed days
    # (metrics.LATE_WRITE_MARGIN): wait, so later scrapes are the usual ones.
    time.sleep(max(0.0, 61 - (time.perf_counter() - written)))
    CLOSED_DAYS.clear()  # the first scrape of a process sums the closed days
    began = time.perf_counter()
    status = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer bench").status_code
    first = (time.perf_counter() - began) * 1000
    print(f"| Prometheus | `/metrics`, a process's first scrape | {first:.0f} | | {status} |")
    median, worst, status = _time(Client(), "/metrics", HTTP_AUTHORIZATION="Bearer bench")
    print(f"| Prometheus | `/metrics`, later scrapes | {median:.0f} | {worst:.0f} | {status} |")


if __name__ == "__main__":
    main()
