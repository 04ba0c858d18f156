"""The budgets page (console) and the chat sidebar's budget box.

Thin: check who may see or edit, call one budgets service, render. Org admins
see and set every budget; team admins see their teams' budgets and set the
user and key budgets inside them.
"""

from __future__ import annotations

from typing import Any, cast

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from apps.accounts.models import Team

from .forms import BudgetForm, OverrideForm, TopUpForm, to_micros
from .models import Budget, BudgetEvent
from .selectors import (
    Who,
    admin_team_ids,
    budget_may_edit,
    budget_state,
    budgets_for_sidebar,
    budgets_visible,
    org_tz,
    reservations_stale,
)
from .services import budget_delete, budget_override, budget_set, budget_top_up


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _require_admin(user: User) -> None:
    if not user.is_staff and not admin_team_ids(user):
        raise PermissionDenied("Budgets are for org and team admins.")


def _teams(user: User) -> Any:
    return Team.objects.all() if user.is_staff else Team.objects.filter(pk__in=admin_team_ids(user))


def _budget(user: User, code: str) -> Budget:
    budget = budgets_visible(user).filter(code=code).first()
    if budget is None:
        raise Http404("No such budget.")
    return budget


def _page(request: HttpRequest, form: BudgetForm | None = None, **extra: Any) -> HttpResponse:
    user = _user(request)
    budgets = list(budgets_visible(user))
    context = {
        "states": [budget_state(b) for b in budgets],
        "editable": {
            b.pk for b in budgets if budget_may_edit(user, scope=b.scope, team_id=b.team_id)
        },
        "form": form or BudgetForm(teams=_teams(user)),
        "top_up_form": TopUpForm(),
        "now": timezone.now(),
        "events": BudgetEvent.objects.filter(budget__in=budgets).select_related("actor")[:30]
        if not user.is_staff
        else BudgetEvent.objects.select_related("actor")[:30],
        "stale": reservations_stale().count() if user.is_staff else 0,
        **extra,
    }
    return render(request, "budgets/page.html", context)


@require_GET
@login_required
def budgets_page(request: HttpRequest) -> HttpResponse:
    _require_admin(_user(request))
    editing = request.GET.get("edit")
    if editing:
        budget = _budget(_user(request), editing)
        form = BudgetForm(initial=BudgetForm.initial_from(budget), teams=_teams(_user(request)))
        return _page(request, form, editing=budget)
    return _page(request)


@require_POST
@login_required
def budget_save(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    _require_admin(user)
    form = BudgetForm(request.POST, teams=_teams(user))
    if not form.is_valid():
        return _page(request, form)
    target = form.target()
    if not budget_may_edit(
        user, scope=target.scope, team_id=target.team.pk if target.team else None
    ):
        raise PermissionDenied("Team admins set user and key budgets in their own teams.")
    data = form.cleaned_data
    try:
        budget_set(
            target=target, limit_micros=to_micros(data["limit_usd"]), period=data["period"],
            on_limit=data["on_limit"], warn_percent=data["warn_percent"],
            local_open=data["local_open"], actor=user, reason=data["reason"],
        )  # fmt: skip
    except ValidationError as exc:
        form.add_error(None, exc)
        return _page(request, form)
    return redirect("budgets:page")


def _editable(request: HttpRequest, code: str) -> Budget:
    user = _user(request)
    budget = _budget(user, code)
    if not budget_may_edit(user, scope=budget.scope, team_id=budget.team_id):
        raise PermissionDenied("You may not change this budget.")
    return budget


@require_POST
@login_required
def budget_remove(request: HttpRequest, code: str) -> HttpResponse:
    budget = _editable(request, code)
    budget_delete(budget=budget, actor=_user(request), reason=request.POST.get("reason", ""))
    return redirect("budgets:page")


@require_POST
@login_required
def budget_add_money(request: HttpRequest, code: str) -> HttpResponse:
    budget = _editable(request, code)
    form = TopUpForm(request.POST)
    if form.is_valid():
        try:
            budget_top_up(
                budget=budget, amount_micros=to_micros(form.cleaned_data["amount_usd"]),
                actor=_user(request), reason=form.cleaned_data["reason"],
            )  # fmt: skip
            return redirect("budgets:page")
        except ValidationError as exc:
            form.add_error(None, exc)
    return _page(request, top_up_form=form, top_up_for=budget.code)


@require_POST
@login_required
def budget_override_set(request: HttpRequest, code: str) -> HttpResponse:
    """A one-off override: requests pass the limit until a moment (or stop)."""
    budget = _editable(request, code)
    form = OverrideForm(request.POST)
    if form.is_valid():
        until = form.cleaned_data["until"]
        if until is not None and timezone.is_naive(until):
            until = timezone.make_aware(until, org_tz())
        try:
            budget_override(
                budget=budget, until=until, actor=_user(request),
                reason=form.cleaned_data["reason"],
            )  # fmt: skip
            return redirect("budgets:page")
        except ValidationError as exc:
            form.add_error(None, exc)
    return _page(request, top_up_form=form, top_up_for=budget.code)


@require_GET
@login_required
def sidebar(request: HttpRequest) -> HttpResponse:
    """The chat sidebar's budget box for one of my teams (htmx fragment)."""
    user = _user(request)
    team = Team.objects.filter(
        pk=_int(request.GET.get("team")) or 0, memberships__user=user
    ).first()
    return render(request, "budgets/_sidebar.html", sidebar_context(user, team))


def sidebar_context(user: User, team: Team | None) -> dict[str, Any]:
    states = budgets_for_sidebar(Who(team.pk, user.pk)) if team else []
    return {"budgets": states, "team": team}


def _int(raw: object) -> int | None:
    try:
        return int(str(raw))
    except ValueError:
        return None
