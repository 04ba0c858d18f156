"""The tables and charts of each analytics page, assembled in one place so
the page, its CSV exports and the management API show the same numbers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from apps.providers.models import LanguageModel

from . import charts
from . import selectors as s
from .selectors import Cube, Filters, Scope, Table


def _by_name(*tables: Table) -> dict[str, Table]:
    return {table.name: table for table in tables}


DASHBOARD_TABLES = (
    "spend_route", "spend_model", "requests", "routing", "rules", "latency", "speed", "errors",
    "users_spend", "users_requests", "savings", "feedback",
)  # fmt: skip


def dashboard_tables(
    scope: Scope,
    f: Filters,
    reference: LanguageModel | None,
    c: Cube | None = None,
    only: str | None = None,
) -> dict[str, Table]:
    """The dashboard's tables; with ``only`` (a CSV export, an API call) just
    that one, so the queries the others need are not run."""
    wanted = {only} & set(DASHBOARD_TABLES) if only else set(DASHBOARD_TABLES)
    cube_tables = {"spend_route", "spend_model", "requests", "routing", "latency", "speed",
                   "savings"}  # fmt: skip
    if c is None and wanted & cube_tables:
        c = s.cube(scope, f)
    users = s.user_totals(scope, f) if wanted & {"users_spend", "users_requests"} else []
    build: dict[str, Callable[[], Table]] = {
        "spend_route": lambda: s.spend_by_route(c or [], f.bucket),
        "spend_model": lambda: s.spend_by_model(c or [], f.bucket),
        "requests": lambda: s.requests_tokens(c or [], f.bucket),
        "routing": lambda: s.routing_mix(c or []),
        "rules": lambda: s.top_rules(scope, f),
        "latency": lambda: s.latency(c or [], f.bucket),
        "speed": lambda: s.local_speed(c or []),
        "errors": lambda: s.errors_by_type(scope, f),
        "users_spend": lambda: s.top_users(scope, f, order="cost", totals=users),
        "users_requests": lambda: s.top_users(scope, f, order="n", totals=users),
        "savings": lambda: s.savings(c or [], reference),
        "feedback": lambda: s.feedback(scope, f),
    }
    return {name: build[name]() for name in DASHBOARD_TABLES if name in wanted}


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
        s.requests_by_model(c),
        s.latency(c, f.bucket),
    )


def me_charts(t: dict[str, Table]) -> list[dict[str, Any]]:
    return [
        charts.series(t["spend_route"]),
        charts.series(t["spend_model"]),
        charts.columns(t["requests"], [1], kind="bar"),
        charts.doughnut(t["routing"], 1),
        charts.columns(t["models"], [2], horizontal=True),
        charts.latency_lines(t["latency"], 3, "My latency p50/p95/p99 (ms) by model"),
        charts.latency_lines(t["latency"], 6, "My time to first token p50/p95/p99 (ms) by model"),
    ]
