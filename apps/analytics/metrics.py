"""Prometheus metrics, read from the rollups at scrape time.

The counters and histograms come from the database, not from process memory,
so every uvicorn worker and every machine sharing the database reports the
same totals, and a restart does not reset them (no PROMETHEUS_MULTIPROC_DIR
needed). Queue depth and busy models are live state of the process that
answers the scrape: with several workers, each reports its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db.models import Sum
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

from apps.providers.adapters import local_load
from apps.providers.replicas import replica_load

from .models import LATENCY_BOUNDS_MS, LATENCY_FIELDS, TTFT_FIELDS, TeamBreakdownRollup, TeamRollup
from .selectors import error_kind

_STATUSES = {"ok": "ok", "errors": "error", "rejected": "rejected", "cancelled": "cancelled"}
_SUMMED = [
    *_STATUSES, "prompt_tokens", "completion_tokens", "cost_micros", "latency_ms_sum",
    "ttft_count", "ttft_ms_sum", *LATENCY_FIELDS, *TTFT_FIELDS,
]  # fmt: skip


def _histogram(row: dict[str, Any], fields: list[str]) -> list[tuple[str, float]]:
    buckets: list[tuple[str, float]] = []
    seen = 0
    for bound, name in zip([*LATENCY_BOUNDS_MS, None], fields, strict=True):
        seen += row[f"sum_{name}"] or 0
        buckets.append(("+Inf" if bound is None else str(bound / 1000), seen))
    return buckets


class RollupCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        labels = ["route", "model", "level"]
        requests = CounterMetricFamily(
            "hybridhub_requests", "Requests by route, model, level and status.",
            labels=[*labels, "status"],
        )  # fmt: skip
        tokens = CounterMetricFamily(
            "hybridhub_tokens", "Prompt and completion tokens.", labels=[*labels, "kind"]
        )
        cost = CounterMetricFamily("hybridhub_cost_usd", "Spend in US dollars.", labels=labels)
        latency = HistogramMetricFamily(
            "hybridhub_request_latency_seconds", "Whole-request latency.", labels=labels
        )
        ttft = HistogramMetricFamily(
            "hybridhub_time_to_first_token_seconds", "Time to the first token.", labels=labels
        )
        rows: Any = TeamRollup.objects.values("route", "model_name", "level_name").annotate(
            **{f"sum_{name}": Sum(name) for name in _SUMMED}
        )
        for row in rows.order_by("route", "model_name", "level_name"):
            values = [row["route"], row["model_name"], row["level_name"]]
            for column, status in _STATUSES.items():
                requests.add_metric([*values, status], row[f"sum_{column}"] or 0)
            tokens.add_metric([*values, "prompt"], row["sum_prompt_tokens"] or 0)
            tokens.add_metric([*values, "completion"], row["sum_completion_tokens"] or 0)
            cost.add_metric(values, (row["sum_cost_micros"] or 0) / 1_000_000)
            latency.add_metric(
                values, _histogram(row, LATENCY_FIELDS), (row["sum_latency_ms_sum"] or 0) / 1000
            )
            ttft.add_metric(
                values, _histogram(row, TTFT_FIELDS), (row["sum_ttft_ms_sum"] or 0) / 1000
            )
        yield from (requests, tokens, cost, latency, ttft, self._failures(), *self._local())

    def _failures(self) -> Metric:
        failures = CounterMetricFamily(
            "hybridhub_failures",
            "Errors and rejections by reason (policy blocks, queue full, egress, providers…).",
            labels=["reason", "kind"],
        )
        rows = (
            TeamBreakdownRollup.objects.filter(kind=TeamBreakdownRollup.Kind.ERROR)
            .values("name")
            .annotate(n=Sum("requests"))
            .order_by("name")
        )
        for row in rows:
            failures.add_metric([row["name"], error_kind(row["name"])], row["n"])
        return failures

    def _local(self) -> list[Metric]:
        depth = GaugeMetricFamily(
            "hybridhub_local_queue_depth",
            "Requests running or waiting per loaded local model (this process).",
            labels=["model"],
        )
        busy = GaugeMetricFamily(
            "hybridhub_local_model_busy", "1 while a local model is generating.", labels=["model"]
        )
        for model, in_flight in sorted(local_load().items()):
            depth.add_metric([model], in_flight)
            busy.add_metric([model], 1 if in_flight else 0)
        return [depth, busy, *self._replicas()]

    def _replicas(self) -> list[Metric]:
        outstanding = GaugeMetricFamily(
            "hybridhub_replica_outstanding",
            "Requests outstanding per model server replica (this process).",
            labels=["provider", "url"],
        )
        up = GaugeMetricFamily(
            "hybridhub_replica_up", "1 while a replica is in rotation.", labels=["provider", "url"]
        )
        for provider, replicas in replica_load().items():
            for url, (count, in_rotation) in replicas.items():
                outstanding.add_metric([provider, url], count)
                up.add_metric([provider, url], 1 if in_rotation else 0)
        return [outstanding, up]


def metrics_registry() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RollupCollector())
    return registry
