"""/metrics: bearer-protected, parsed with prometheus_client's own parser,
and its counters agree with the ledger."""

from __future__ import annotations

from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

TOKEN = "metrics-test-token"


def _families(body: str) -> dict[str, object]:
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
