"""Management API: the analytics tables as JSON, for internal dashboards.

The same tables as the pages and their CSV exports (apps/analytics/reports.py),
with money in integer micro-dollars. Authorised by a browser session or by a
personal API key (``Authorization: Bearer hh_…``); what the key's user may
see follows their role, as on the pages: members their own numbers (``me``),
team admins their teams', org admins everyone's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.http import HttpRequest
from ninja import Router, Schema
from ninja.errors import HttpError
from ninja.security import HttpBearer, django_auth

from apps.accounts.services import api_key_authenticate

from . import reports, review
from . import selectors as s
from .forms import FilterForm
from .selectors import Scope, Table


class UserApiKeyAuth(HttpBearer):
    """A personal API key; request.auth becomes its user."""

    def authenticate(self, request: HttpRequest, token: str) -> User | None:
        key = api_key_authenticate(secret=token)
        return key.user if key is not None else None


router = Router(auth=[django_auth, UserApiKeyAuth()], tags=["analytics"])


class TableOut(Schema):
    name: str
    title: str
    columns: list[str]
    money_columns: list[int]  # these hold integer micro-dollars
    rows: list[list[Any]]
    totals: list[Any]
    freshness: datetime | None


def _out(tables: dict[str, Table], name: str) -> TableOut:
    table = tables.get(name)
    if table is None:
        raise HttpError(404, f"No table {name!r}; one of: {', '.join(tables)}.")
    return TableOut(
        name=table.name,
        title=table.title,
        columns=table.columns,
        money_columns=sorted(table.money),
        rows=table.rows,
        totals=table.totals,
        freshness=s.freshness(),
    )


def _user(request: HttpRequest) -> User:
    return request.auth  # type: ignore[attr-defined,no-any-return]


def _admin_scope(request: HttpRequest) -> Scope:
    scope = s.scope_for(_user(request))
    if scope is None:
        raise HttpError(403, "Team analytics are for team and org admins; use /analytics/me/.")
    return scope


@router.get("/me/{name}", response=TableOut)
def me_table(request: HttpRequest, name: str) -> TableOut:
    """One of the tables of /analytics/me/: spend_route, spend_model, requests,
    routing, models, latency. Query: start, end (YYYY-MM-DD), bucket, model, source."""
    f = FilterForm(request.GET, scope=Scope(team_ids=frozenset())).filters()
    return _out(reports.me_tables(s.scope_own(_user(request)), f), name)


@router.get("/review/{name}", response=TableOut)
def review_table(request: HttpRequest, name: str) -> TableOut:
    """One of the weekly review's tables; query ``week`` (a day of that week)."""
    scope = _admin_scope(request)
    week = review.week_of(request.GET.get("week", ""))
    return _out(review.review_tables(scope, week), name)


@router.get("/{name}", response=TableOut)
def dashboard_table(request: HttpRequest, name: str) -> TableOut:
    """One of the tables of /analytics/, with its filters as query parameters:
    start, end, bucket (day/week/month), team, user (ids), model, provider,
    level, source (api/chat), reference (a cloud model id, for savings)."""
    scope = _admin_scope(request)
    form = FilterForm(request.GET, scope=scope)
    reference = form.reference_model() or next(iter(s.reference_models()), None)
    if name not in reports.DASHBOARD_TABLES:
        raise HttpError(404, f"No table {name!r}; one of: {', '.join(reports.DASHBOARD_TABLES)}.")
    return _out(reports.dashboard_tables(scope, form.filters(), reference, only=name), name)
