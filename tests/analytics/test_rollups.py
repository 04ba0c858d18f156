"""Rollups: folded from the ledger (in the background and before every
read), additive under concurrent folders, and the histogram percentiles
read back from them."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from datetime import date

import openai
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.db.models import Count, Sum
from django.test import Client

from apps.analytics.fold import ledger_fold, rollups_refresh
from apps.analytics.models import COUNT_FIELDS, BreakdownRollup, ModelRollup, UsageRollup
from apps.analytics.selectors import Filters, Scope, cube, percentile
from apps.analytics.services import bucket_index, rollups_add
from apps.gateway.models import UsageRecord
from tests.analytics.conftest import cloud, record
from tests.conftest import make_cloud_model


@pytest.mark.parametrize(
    ("ms", "index"), [(0, 0), (50, 0), (51, 1), (100, 1), (999, 6), (60000, 15), (60001, 16)]
)
def test_bucket_index(ms, index):
    assert bucket_index(ms) == index


def test_percentile_interpolates_inside_buckets():
    counts = [0] * 17
    counts[4] = 100  # 350..500 ms
    assert percentile(counts, 0.5) == 425
    assert percentile(counts, 0.99) == 498
    counts[16] = 100  # beyond 60 s reads as 60 s
    assert percentile(counts, 0.99) == 60000
    assert percentile([0] * 17, 0.5) is None


def _ledger_totals():
    return UsageRecord.objects.aggregate(
        n=Count("pk"), cost=Sum("cost_micros"), p=Sum("prompt_tokens"), c=Sum("completion_tokens")
    )


def _rollup_totals():
    rollups_refresh()
    return UsageRollup.objects.aggregate(
        n=Sum("requests"), cost=Sum("cost_micros"), p=Sum("prompt_tokens"),
        c=Sum("completion_tokens"),
    )  # fmt: skip


def test_rollups_match_the_ledger_per_dimension(known):
    assert UsageRecord.objects.filter(folded=False).count() == len(known.rows)
    assert not UsageRollup.objects.exists()  # recorded, not folded yet
    assert _rollup_totals() == _ledger_totals()  # a reader folds them first
    assert not UsageRecord.objects.filter(folded=False).exists()
    rejected = UsageRollup.objects.get(route="none")
    assert (rejected.requests, rejected.rejected, rejected.level_name) == (1, 1, "restricted")
    errors = BreakdownRollup.objects.filter(kind="error").order_by("name")
    assert [(e.name, e.requests) for e in errors] == [("blocked_by_policy", 1), ("model_busy", 1)]
    rules = BreakdownRollup.objects.filter(kind="rule").aggregate(n=Sum("requests"))
    assert rules["n"] == len(known.rows)


def test_rollups_are_additive(known):
    rollups_refresh()
    before = UsageRollup.objects.count()
    rows = list(UsageRecord.objects.all())
    rollups_add(records=rows)  # the same rows again: every counter doubles
    assert UsageRollup.objects.count() == before
    assert _rollup_totals()["n"] == 2 * len(rows)
    assert _rollup_totals()["cost"] == 2 * _ledger_totals()["cost"]


@pytest.mark.django_db(transaction=True)
def test_concurrent_folders_lose_no_increment(member):
    """Several threads, each with its own database connection, record and
    fold into the same rollup row at once: every row counted exactly once."""
    per_thread, threads = 25, 4
    errors: list[BaseException] = []

    def write() -> None:
        try:
            for _ in range(per_thread):
                record(user=member.user, team_id=member.team.pk, cost_micros=7, **cloud())
                ledger_fold()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    workers = [threading.Thread(target=write) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    assert not UsageRecord.objects.filter(folded=False).exists()
    row = UsageRollup.objects.get()
    assert row.requests == per_thread * threads == UsageRecord.objects.count()
    assert row.cost_micros == 7 * per_thread * threads


def test_rebuild_recomputes_the_same_rollups(known):
    rollups_refresh()
    before = sorted(UsageRollup.objects.values_list("day", "team_id", "requests", "cost_micros"))
    with transaction.atomic():
        UsageRollup.objects.all().delete()
    call_command("analytics_rebuild")
    after = sorted(UsageRollup.objects.values_list("day", "team_id", "requests", "cost_micros"))
    assert after == before
    rollups_refresh()  # the rebuild marked every row it counted: nothing is counted twice
    assert sorted(UsageRollup.objects.values_list("day", "team_id", "requests", "cost_micros")) == (
        before
    )


def test_synthesize_writes_rows_and_matching_rollups(db):
    call_command("ledger_synthesize", rows=3000, days=10, batch=700)
    assert UsageRecord.objects.count() == 3000
    assert _rollup_totals() == _ledger_totals()
    statuses = set(UsageRecord.objects.values_list("status", flat=True))
    assert statuses == {"ok", "error", "rejected", "cancelled"}
    zones = set(UsageRecord.objects.values_list("privacy_zone", flat=True))
    assert {"on_prem", "vendor", "vendor_zero_retention"} <= zones
    call_command("analytics_rebuild", check=True)  # raises if they disagree


def test_a_request_through_the_gateway_is_folded_into_the_rollups_in_the_background(
    hub, cloud, member
):
    make_cloud_model(cloud.url, name="cloud-mini")
    client = openai.OpenAI(base_url=hub.api, api_key=member.key, max_retries=0, timeout=30)
    client.chat.completions.create(
        model="cloud-mini", messages=[{"role": "user", "content": "What is 2 + 2?"}]
    )
    # no reader here: the ledger writer's own fold, a second or so later
    deadline = time.monotonic() + 10
    while not UsageRecord.objects.filter(folded=True).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    row = UsageRecord.objects.get()
    assert row.folded
    rollup = UsageRollup.objects.get()
    assert (rollup.route, rollup.model_name, rollup.team_id) == ("cloud", "cloud-mini", row.team_id)
    assert (rollup.requests, rollup.ok, rollup.cost_micros) == (1, 1, row.cost_micros)
    assert rollup.prompt_tokens == row.prompt_tokens > 0
    assert BreakdownRollup.objects.get(kind="rule").name == row.rule_name


def _by_model_from_ledger():
    sums: dict[tuple, list[int]] = {}
    for row in UsageRecord.objects.all():
        route = "local" if row.privacy_zone == "on_prem" else "cloud"
        route = route if row.model_name else "none"
        key = (row.created_at.date(), row.team_id or 0, row.model_name, route)
        into = sums.setdefault(key, [0, 0, 0])
        into[0] += 1
        into[1] += row.cost_micros
        into[2] += row.completion_tokens
    return sums


def test_model_rollup_matches_the_ledger_per_day_team_model_and_route(known):
    rollups_refresh()
    got = {
        (r.day, r.team_id, r.model_name, r.route): [r.requests, r.cost_micros, r.completion_tokens]
        for r in ModelRollup.objects.all()
    }
    assert got == _by_model_from_ledger()


def test_the_cube_reads_the_same_from_model_and_team_rollups(known):
    """Unfiltered views read the model rollup; a level filter falls back to
    the team rollup. Every level at once must give the same cube."""
    f = Filters(start=date(2000, 1, 1), end=date(2100, 1, 1))
    coarse = cube(Scope(team_ids=None), f)
    fine: dict[tuple, dict] = {}
    for level in set(UsageRecord.objects.values_list("level_name", flat=True)):
        for row in cube(Scope(team_ids=None), replace(f, level=level)):
            key = (row["day"], row["team_id"], row["model_name"], row["route"])
            into = fine.setdefault(key, dict.fromkeys(COUNT_FIELDS, 0))
            for name in COUNT_FIELDS:
                into[name] += row[name]
    assert {
        (r["day"], r["team_id"], r["model_name"], r["route"]): {n: r[n] for n in COUNT_FIELDS}
        for r in coarse
    } == fine
    assert all(isinstance(r["cost_micros"], int) and isinstance(r["day"], date) for r in coarse)


def test_rebuild_recomputes_the_model_rollup_too(known):
    rollups_refresh()
    before = sorted(ModelRollup.objects.values_list("day", "team_id", "model_name", "requests"))
    with transaction.atomic():
        ModelRollup.objects.all().delete()
    with pytest.raises(CommandError, match="disagree"):
        call_command("analytics_rebuild", check=True)
    call_command("analytics_rebuild")
    after = sorted(ModelRollup.objects.values_list("day", "team_id", "model_name", "requests"))
    assert after == before


def test_a_reader_right_after_a_request_sees_it_counted(hub, cloud, member, settings):
    """Before the background fold has run: /metrics, the dashboard's CSV and
    the API's table fold the row first, so the request is in their totals."""
    settings.HYBRIDHUB_METRICS_TOKEN = "t"
    make_cloud_model(cloud.url, name="cloud-mini")
    client = openai.OpenAI(base_url=hub.api, api_key=member.key, max_retries=0, timeout=30)
    for _ in range(2):
        client.chat.completions.create(
            model="cloud-mini", messages=[{"role": "user", "content": "What is 2 + 2?"}]
        )
    assert UsageRecord.objects.filter(folded=False).count() == 2  # the writer waits a second
    scrape = Client(HTTP_AUTHORIZATION="Bearer t").get("/metrics").content.decode()
    ok = [line for line in scrape.splitlines() if line.startswith("hybridhub_requests_total{")]
    assert sum(float(line.rsplit(" ", 1)[1]) for line in ok) == 2, ok
    assert not UsageRecord.objects.filter(folded=False).exists()
    assert UsageRollup.objects.get().requests == 2
