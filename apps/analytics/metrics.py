"""Prometheus metrics, read from the rollups at scrape time.

The counters and histograms come from the database, not from process memory,
so every uvicorn worker and every machine sharing the database reports the
same totals, and a restart does not reset them (no PROMETHEUS_MULTIPROC_DIR
needed). Queue depth and busy models are live state of the process that
answers the scrape: with several workers, each reports its own.

A scrape's cost does not grow with history: the closed UTC days (before
yesterday) are summed once per process and kept (``ClosedDays``); a scrape
reads only yesterday's and today's rollup rows, plus one look through the
rollups' ``updated_at`` index for rows of closed days written since the last
scrape (a late write, a rebuild), which makes the process sum the closed
days again. Yesterday stays live because a request that began before
midnight may be recorded after it.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import QuerySet, Sum
from django.utils import timezone
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

from apps.providers.adapters import local_load
from apps.providers.replicas import replica_load

from .fold import rollups_refresh
from .models import LATENCY_BOUNDS_MS, LATENCY_FIELDS, TTFT_FIELDS, TeamBreakdownRollup, TeamRollup
from .selectors import error_kind

_STATUSES = {"ok": "ok", "errors": "error", "rejected": "rejected", "cancelled": "cancelled"}
_SUMMED = [
    *_STATUSES, "prompt_tokens", "completion_tokens", "cost_micros", "latency_ms_sum",
    "ttft_count", "ttft_ms_sum", *LATENCY_FIELDS, *TTFT_FIELDS,
]  # fmt: skip
_AT = {name: i for i, name in enumerate(_SUMMED)}

# Days read on every scrape: today and yesterday (UTC).
LIVE_DAYS = 2
# How far back a scrape looks for late writes to closed days before the
# previous scrape: writers' clocks may lag ours, and a row's updated_at is
# stamped just before its transaction commits. A late write thus makes the
# scrapes of the next minute sum the closed days again; bulk writers
# (analytics_rebuild, ledger_synthesize) stamp their rows when they commit.
LATE_WRITE_MARGIN = timedelta(minutes=1)

Labels = tuple[str, str, str]  # route, model, level


@dataclass
class Sums:
    """Counters per (route, model, level) and failures per reason."""

    usage: dict[Labels, list[int]] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)

    def __add__(self, other: Sums) -> Sums:
        usage: dict[Labels, list[int]] = defaultdict(lambda: [0] * len(_SUMMED))
        failures: dict[str, int] = defaultdict(int)
        for part in (self, other):
            for labels, values in part.usage.items():
                usage[labels] = [a + b for a, b in zip(usage[labels], values, strict=True)]
            for reason, n in part.failures.items():
                failures[reason] += n
        return Sums(dict(usage), dict(failures))


def rollup_sums(*, since: date | None = None, before: date | None = None) -> Sums:
    """The team rollups summed over the days in [since, before): two queries."""
    rows: QuerySet[Any] = TeamRollup.objects.all()
    failures: QuerySet[Any] = TeamBreakdownRollup.objects.filter(
        kind=TeamBreakdownRollup.Kind.ERROR
    )
    if since is not None:
        rows, failures = rows.filter(day__gte=since), failures.filter(day__gte=since)
    if before is not None:
        rows, failures = rows.filter(day__lt=before), failures.filter(day__lt=before)
    sums = Sums()
    grouped = rows.values("route", "model_name", "level_name").order_by()
    for row in grouped.annotate(**{f"sum_{name}": Sum(name) for name in _SUMMED}):
        labels = (row["route"], row["model_name"], row["level_name"])
        sums.usage[labels] = [int(row[f"sum_{name}"] or 0) for name in _SUMMED]
    for row in failures.values("name").annotate(n=Sum("requests")).order_by():
        sums.failures[row["name"]] = int(row["n"] or 0)
    return sums


@dataclass
class _Snapshot:
    cutoff: date  # the first day not in ``sums``
    checked_at: datetime  # the last scrape that found no late writes
    sums: Sums


class ClosedDays:
    """This process's sums of the closed days, summed again when the day
    turns or when a closed day's rollup row was written (a late write,
    ``analytics_rebuild``, ``ledger_synthesize``). Rollup rows deleted by
    hand are not noticed before the day turns."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._snapshot: _Snapshot | None = None

    def sums(self, *, cutoff: date, now: datetime) -> Sums:
        with self._lock:
            snapshot = self._snapshot
            if snapshot is None or not self._still_valid(snapshot, cutoff, now):
                snapshot = _Snapshot(cutoff, now, rollup_sums(before=cutoff))
                self._snapshot = snapshot
            return snapshot.sums

    def clear(self) -> None:
        with self._lock:
            self._snapshot = None

    @staticmethod
    def _still_valid(snapshot: _Snapshot, cutoff: date, now: datetime) -> bool:
        if snapshot.cutoff != cutoff:
            return False
        late = TeamRollup.objects.filter(
            updated_at__gte=snapshot.checked_at - LATE_WRITE_MARGIN, day__lt=cutoff
        )
        if late.exists():
            return False
        snapshot.checked_at = now
        return True


CLOSED_DAYS = ClosedDays()


def _histogram(values: list[int], fields: list[str]) -> list[tuple[str, float]]:
    buckets: list[tuple[str, float]] = []
    seen = 0
    for bound, name in zip([*LATENCY_BOUNDS_MS, None], fields, strict=True):
        seen += values[_AT[name]]
        buckets.append(("+Inf" if bound is None else str(bound / 1000), seen))
    return buckets


class RollupCollector(Collector):
    def __init__(
        self,
        closed: ClosedDays = CLOSED_DAYS,
        now: Callable[[], datetime] = timezone.now,
    ) -> None:
        self.closed, self.now = closed, now

    def collect(self) -> Iterator[Metric]:
        rollups_refresh()  # the requests recorded so far, all counted
        now = self.now()
        cutoff = now.date() - timedelta(days=LIVE_DAYS - 1)
        # Closed days first: a write landing between the two reads is then
        # in the live sums, or seen as late by the next scrape.
        sums = self.closed.sums(cutoff=cutoff, now=now) + rollup_sums(since=cutoff)
        yield from self._usage(sums)
        yield self._failures(sums)
        yield from self._local()

    def _usage(self, sums: Sums) -> list[Metric]:
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
        for key, v in sorted(sums.usage.items()):
            values = list(key)
            for column, status in _STATUSES.items():
                requests.add_metric([*values, status], v[_AT[column]])
            tokens.add_metric([*values, "prompt"], v[_AT["prompt_tokens"]])
            tokens.add_metric([*values, "completion"], v[_AT["completion_tokens"]])
            cost.add_metric(values, v[_AT["cost_micros"]] / 1_000_000)
            latency.add_metric(
                values, _histogram(v, LATENCY_FIELDS), v[_AT["latency_ms_sum"]] / 1000
            )
            ttft.add_metric(values, _histogram(v, TTFT_FIELDS), v[_AT["ttft_ms_sum"]] / 1000)
        return [requests, tokens, cost, latency, ttft]

    def _failures(self, sums: Sums) -> Metric:
        failures = CounterMetricFamily(
            "hybridhub_failures",
            "Errors and rejections by reason (policy blocks, queue full, egress, providers…).",
            labels=["reason", "kind"],
        )
        for reason, n in sorted(sums.failures.items()):
            failures.add_metric([reason, error_kind(reason)], n)
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
