"""/metrics: bearer-protected, parsed with prometheus_client's own parser,
and its counters agree with the ledger."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import CollectorRegistry

from apps.analytics.metrics import LATE_WRITE_MARGIN, ClosedDays, RollupCollector
from apps.analytics.models import TeamBreakdownRollup, TeamRollup
from apps.gateway.models import UsageRecord
from tests.analytics.conftest import NOW, cloud, local, record

TOKEN = "metrics-test-token"


def _families(body: str) -> dict[str, Any]:
    return {family.name: family for family in text_string_to_metric_families(body)}


def test_metrics_need_the_token(known, settings):
    settings.HYBRIDHUB_METRICS_TOKEN = ""
    assert Client().get("/metrics").status_code == 404
    settings.HYBRIDHUB_METRICS_TOKEN = TOKEN
    assert Client().get("/metrics").status_code == 401
    wrong = Client(HTTP_AUTHORIZATION="Bearer nope").get("/metrics")
    assert wrong.status_code == 401 and TOKEN.encode() not in wrong.content


def test_metrics_parse_and_match_the_ledger(known, settings):
    settings.HYBRIDHUB_METRICS_TOKEN = TOKEN
    response = Client(HTTP_AUTHORIZATION=f"Bearer {TOKEN}").get("/metrics")
    assert response.status_code == 200
    families = _families(response.content.decode())

    requests = families["hybridhub_requests"]
    total = sum(s.value for s in requests.samples if s.name == "hybridhub_requests_total")
    assert total == len(known.rows)
    by_status = {}
    for sample in requests.samples:
        by_status[sample.labels["status"]] = (
            by_status.get(sample.labels["status"], 0) + sample.value
        )
    assert by_status == {"ok": 4, "error": 1, "rejected": 1, "cancelled": 0}

    cost = sum(s.value for s in families["hybridhub_cost_usd"].samples)
    assert round(cost * 1_000_000) == sum(r.cost_micros for r in known.rows)

    latency = families["hybridhub_request_latency_seconds"]
    counts = [s for s in latency.samples if s.name.endswith("_count")]
    assert sum(s.value for s in counts) == len(known.rows)
    infinite = [s for s in latency.samples if s.labels.get("le") == "+Inf"]
    assert sum(s.value for s in infinite) == len(known.rows)

    failures = {
        s.labels["reason"]: s.value for s in families["hybridhub_failures"].samples
        if s.name == "hybridhub_failures_total"
    }  # fmt: skip
    assert failures == {"blocked_by_policy": 1, "model_busy": 1}
    assert "hybridhub_local_queue_depth" in families
    assert "hybridhub_time_to_first_token_seconds" in families


# --- a scrape's cost is bounded; counters stay right across days and processes ---


def _scrape(collector: RollupCollector) -> dict[str, float]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    families = _families(generate_latest(registry).decode())
    requests = families["hybridhub_requests"].samples
    latency = families["hybridhub_request_latency_seconds"].samples
    return {
        "requests": sum(s.value for s in requests if s.name == "hybridhub_requests_total"),
        "ok": sum(s.value for s in requests if s.labels.get("status") == "ok"),
        "cost": round(sum(s.value for s in families["hybridhub_cost_usd"].samples) * 10**6),
        "prompt": sum(
            s.value for s in families["hybridhub_tokens"].samples if s.labels["kind"] == "prompt"
        ),
        "latency_count": sum(s.value for s in latency if s.name.endswith("_count")),
        "failures": sum(
            s.value for s in families["hybridhub_failures"].samples
            if s.name == "hybridhub_failures_total"
        ),
    }  # fmt: skip


def _ledger() -> dict[str, float]:
    rows = list(UsageRecord.objects.all())
    return {
        "requests": len(rows),
        "ok": sum(r.status == "ok" for r in rows),
        "cost": sum(r.cost_micros for r in rows),
        "prompt": sum(r.prompt_tokens for r in rows),
        "latency_count": len(rows),
        "failures": sum(r.status in ("error", "rejected") for r in rows),
    }


def _history(member, days: int) -> None:
    """Three requests a day for ``days`` days, ending today: one local, one
    cloud, one failure."""
    who = {"user": member.user, "team_id": member.team.pk}
    for n in range(days):
        at = NOW - timedelta(days=n)
        record(created_at=at, prompt_tokens=10 + n, completion_tokens=5, latency_ms=300 + n,
               ttft_ms=90, level_name="public", **who, **local())  # fmt: skip
        record(created_at=at, prompt_tokens=100, completion_tokens=40, cost_micros=70 + n,
               latency_ms=1200, ttft_ms=400, level_name="internal", **who, **cloud())  # fmt: skip
        record(created_at=at, status="error", error_type="upstream_timeout",
               latency_ms=30_000, **who, **cloud())  # fmt: skip


def test_counters_equal_the_ledger_over_many_days(member):
    _history(member, 12)
    collector = RollupCollector(closed=ClosedDays())
    cold, warm = _scrape(collector), _scrape(collector)
    assert cold == warm == _ledger()
    assert _ledger()["requests"] == 36


def _warm_scrape_queries(member, days: int) -> list[str]:
    _history(member, days)
    # a scrape taken over a minute after the writes: they are not late ones
    later = timezone.now() + LATE_WRITE_MARGIN + timedelta(seconds=1)
    collector = RollupCollector(closed=ClosedDays(), now=lambda: later)
    _scrape(collector)  # sums the closed days once
    with CaptureQueriesContext(connection) as queries:
        scraped = _scrape(collector)
    assert scraped == _ledger()
    return [q["sql"] for q in queries.captured_queries]


def test_a_warm_scrape_reads_only_recent_days(member):
    short = _warm_scrape_queries(member, 3)
    UsageRecord.objects.all().delete()
    TeamRollup.objects.all().delete()
    TeamBreakdownRollup.objects.all().delete()
    long = _warm_scrape_queries(member, 40)
    # nothing to fold (one look at the unfolded rows' index), late writes,
    # live counters, live failures
    assert len(short) == len(long) == 4
    # each reads a bounded slice: the live days, rows written since the last
    # scrape, or the ledger rows not folded yet (a partial index of them)
    assert all('"day" >=' in sql or '"updated_at" >=' in sql for sql in long[1:])
    assert 'NOT "gateway_usagerecord"."folded"' in long[0]


def test_a_cold_scrape_also_runs_a_fixed_number_of_queries(member, django_assert_num_queries):
    _history(member, 30)
    _scrape(RollupCollector(closed=ClosedDays()))  # folds the history once
    # nothing to fold, closed counters and failures, live ones
    with django_assert_num_queries(5):
        _scrape(RollupCollector(closed=ClosedDays()))


def test_late_writes_to_closed_days_reach_every_process(member):
    """Two processes' caches, one database: a request recorded late for a
    closed day shows up in both on their next scrape, counters only grow."""
    _history(member, 6)
    first, second = RollupCollector(closed=ClosedDays()), RollupCollector(closed=ClosedDays())
    before = _scrape(first)
    assert _scrape(second) == before
    record(created_at=NOW - timedelta(days=4), cost_micros=1000, prompt_tokens=7,
           user=member.user, team_id=member.team.pk, **cloud())  # fmt: skip
    after_first, after_second = _scrape(first), _scrape(second)
    assert after_first == after_second == _ledger()
    assert after_first["cost"] == before["cost"] + 1000
    assert all(after_first[k] >= before[k] for k in before)


def test_counters_carry_over_when_the_day_turns(member):
    """Yesterday's rows move from the live read into the closed sums at
    midnight; the totals neither drop nor count twice, and a request recorded
    after midnight for the day before (it began before midnight) counts."""
    _history(member, 5)
    now = [timezone.now() - timedelta(days=1)]
    collector = RollupCollector(closed=ClosedDays(), now=lambda: now[0])
    before = _scrape(collector)
    assert before == _ledger()
    now[0] += timedelta(days=1)
    record(created_at=NOW - timedelta(days=1), cost_micros=5, user=member.user,
           team_id=member.team.pk, **cloud())  # fmt: skip
    after = _scrape(collector)
    assert after == _ledger()
    assert after["requests"] == before["requests"] + 1
