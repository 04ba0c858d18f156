"""Analytics pages. Each serves the whole page, or for htmx the results
fragment, or with ``?format=csv&table=<name>`` one of its tables as CSV.

Members see their own numbers (/analytics/me/); team admins their teams';
org admins (staff) everyone's. The scope is decided here, once per request,
and every selector filters by it.
"""

from __future__ import annotations

import csv
import hmac
from typing import Any, cast

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from apps.accounts.models import Team
from apps.budgets.selectors import BudgetState, Who, budgets_for_sidebar

from . import reports, review
from . import selectors as s
from .forms import FilterForm
from .metrics import metrics_registry
from .selectors import Scope, Table, usd


def _admin_scope(request: HttpRequest) -> Scope:
    scope = s.scope_for(cast(User, request.user))
    if scope is None:
        raise PermissionDenied("Analytics for teams are for team and org admins; see My usage.")
    return scope


def _page(
    request: HttpRequest,
    template: str,
    tables: dict[str, Table],
    context: dict[str, Any],
) -> HttpResponse:
    if request.GET.get("format") == "csv":
        return csv_response(tables, request.GET.get("table", ""))
    context |= {"tables": list(tables.values()), "freshness": s.freshness()}
    if request.htmx:  # type: ignore[attr-defined]
        template = "analytics/_results.html"
    return render(request, template, context)


@require_GET
@login_required
def me(request: HttpRequest) -> HttpResponse:
    scope = s.scope_own(cast(User, request.user))
    form = FilterForm(request.GET, scope=Scope(team_ids=frozenset()))
    f = form.filters()
    tables = reports.me_tables(scope, f)
    context = {
        "form": form,
        "f": f,
        "charts": reports.me_charts(tables),
        "mine": True,
        "can_admin": s.scope_for(cast(User, request.user)) is not None,
        "my_budgets": _my_budgets(cast(User, request.user)),
    }
    return _page(request, "analytics/me.html", tables, context)


def _my_budgets(user: User) -> list[tuple[Team, list[BudgetState]]]:
    """For each of my teams, the budgets my requests fall under (as the chat
    sidebar shows them): what is left, and when it resets."""
    teams = Team.objects.filter(memberships__user=user).order_by("name")
    return [(team, budgets_for_sidebar(Who(team.pk, user.pk))) for team in teams]


@require_GET
@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    scope = _admin_scope(request)
    form = FilterForm(request.GET, scope=scope)
    f = form.filters()
    reference = form.reference_model() or next(iter(s.reference_models()), None)
    if request.GET.get("format") == "csv":  # one table: run only its queries
        name = request.GET.get("table", "")
        only = name if name in reports.DASHBOARD_TABLES else None  # else the 404 lists them
        return csv_response(reports.dashboard_tables(scope, f, reference, only=only), name)
    c = s.cube(scope, f)
    tables = reports.dashboard_tables(scope, f, reference, c)
    context = {
        "form": form,
        "f": f,
        "charts": reports.dashboard_charts(tables),
        "reference": reference,
        "summary": s.totals(c),
        "scope": scope,
        "can_admin": True,
    }
    return _page(request, "analytics/dashboard.html", tables, context)


@require_GET
@login_required
def review_page(request: HttpRequest) -> HttpResponse:
    scope = _admin_scope(request)
    week = review.week_of(request.GET.get("week", ""))
    tables = review.review_tables(scope, week)
    context = {
        "week": week,
        "charts": review.review_charts(tables),
        "link_kind": "signals",
        "can_admin": True,
        **review.review_context(week),
    }
    return _page(request, "analytics/review.html", tables, context)


@require_GET
@login_required
def signals(request: HttpRequest, code: str) -> HttpResponse:
    """One recorded request's signals run through the published and the draft
    policy: the simulator, fed by what the ledger kept instead of text."""
    scope = _admin_scope(request)
    result = review.signals_simulate(scope, code)
    if result is None:
        raise Http404("No such request in your teams.")
    return render(request, "analytics/signals.html", result)


def csv_response(tables: dict[str, Table], name: str) -> HttpResponse:
    table = tables.get(name)
    if table is None:
        raise Http404(f"No table {name!r} here; pick one of: {', '.join(tables)}.")
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{table.name}.csv"'
    writer = csv.writer(response)
    writer.writerow(table.columns)
    for row in [*table.rows, table.totals]:
        writer.writerow(_csv_cells(table, row))
    return response


def _csv_cells(table: Table, row: list[Any]) -> list[Any]:
    return [
        usd(cell) if i in table.money and isinstance(cell, int) else ("" if cell is None else cell)
        for i, cell in enumerate(row)
    ]


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus exposition, for ``Authorization: Bearer $HYBRIDHUB_METRICS_TOKEN``;
    absent (404) while no token is configured."""
    token = settings.HYBRIDHUB_METRICS_TOKEN
    if not token:
        raise Http404("Metrics are off: set HYBRIDHUB_METRICS_TOKEN.")
    given = request.headers.get("Authorization", "").encode()
    if not hmac.compare_digest(given, f"Bearer {token}".encode()):
        response = HttpResponse("Send 'Authorization: Bearer <metrics token>'.\n", status=401)
        response["WWW-Authenticate"] = "Bearer"
        return response
    return HttpResponse(generate_latest(metrics_registry()), content_type=CONTENT_TYPE_LATEST)
