"""The tables and charts of each analytics page, assembled in one place so
the page, its CSV exports and the management API show the same numbers."""

from __future__ import annotations

from typing import Any

from apps.providers.models import LanguageModel

from . import charts
from . import selectors as s
from .selectors import Cube, Filters, Scope, Table


def _by_name(*tables: Table) -> dict[str, Table]:
    return {table.name: table for table in tables}


def dashboard_tables(
    scope: Scope, f: Filters, reference: LanguageModel | None, c: Cube | None = None
) -> dict[str, Table]:
    c = s.cube(scope, f) if c is None else c
    return _by_name(
        s.spend_by_route(c, f.bucket),
        s.spend_by_model(c, f.bucket),
        s.requests_tokens(c, f.bucket),
        s.routing_mix(c),
        s.top_rules(scope, f),
        s.latency(c, f.bucket),
        s.local_speed(c),
        s.errors_by_type(scope, f),
        s.top_users(scope, f, order="cost"),
        s.top_users(scope, f, order="n"),
        s.savings(c, reference),
        s.feedback(scope, f),
    )


def dashboard_charts(t: dict[str, Table]) -> list[dict[str, Any]]:
    return [
        charts.series(t["spend_route"]),
        charts.series(t["spend_model"]),
        charts.columns(t["requests"], [1, 2, 3], kind="line"),
        charts.doughnut(t["routing"], 1),
        charts.columns(t["rules"], [1], horizontal=True),
        charts.latency_lines(t["latency"], 3, "Latency p50/p95/p99 (ms) by model"),
        charts.latency_lines(t["latency"], 6, "Time to first token p50/p95/p99 (ms) by model"),
        charts.columns(t["speed"], [4]),
        charts.columns(t["errors"], [2], horizontal=True),
        charts.columns(t["users_spend"], [3], horizontal=True),
        charts.columns(t["savings"], [3, 4], label_columns=2),
        charts.columns(t["feedback"], [2, 3], label_columns=2, stacked=True),
    ]


def me_tables(scope: Scope, f: Filters) -> dict[str, Table]:
    c = s.cube(scope, f)
    return _by_name(
        s.spend_by_route(c, f.bucket),
        s.spend_by_model(c, f.bucket),
        s.requests_tokens(c, f.bucket),
        s.routing_mix(c),
        s.latency(c, f.bucket),
    )


def me_charts(t: dict[str, Table]) -> list[dict[str, Any]]:
    return [
        charts.series(t["spend_route"]),
        charts.series(t["spend_model"]),
        charts.columns(t["requests"], [1], kind="bar"),
        charts.doughnut(t["routing"], 1),
        charts.latency_lines(t["latency"], 3, "My latency p50/p95/p99 (ms) by model"),
        charts.latency_lines(t["latency"], 6, "My time to first token p50/p95/p99 (ms) by model"),
    ]
