"""Budget management API: list, create, update, delete, top up, read state.

Its own router in the project's one NinjaAPI (same OpenAPI docs, same error
body). Authorised by role: a browser session (with CSRF on writes) or an
API key created with the ``admin`` scope, acting as its user. Org admins
manage every budget; team admins the user and key budgets of their teams.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from django.conf import settings
from django.contrib.auth import get_user
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import Router, Schema, Status
from ninja.errors import HttpError
from ninja.security import APIKeyCookie, HttpBearer
from pydantic import Field

from apps.accounts.models import ApiKey, Team
from apps.accounts.services import api_key_authenticate

from .models import Budget
from .selectors import budget_may_edit, budget_state, budgets_visible, org_tz
from .services import (
    BudgetTarget,
    budget_delete,
    budget_override,
    budget_set,
    budget_top_up,
)

# --- auth -------------------------------------------------------------------------


class AdminKeyAuth(HttpBearer):
    """``Authorization: Bearer hh_…`` with a key whose scope is ``admin``."""

    def authenticate(self, request: HttpRequest, token: str) -> User | None:
        key = api_key_authenticate(secret=token)
        if key is None or key.scope != ApiKey.Scope.ADMIN:
            return None
        return key.user


class SessionAuth(APIKeyCookie):
    """The browser's session cookie (this path skips the session middleware)."""

    param_name = settings.SESSION_COOKIE_NAME

    def authenticate(self, request: HttpRequest, key: str | None) -> User | None:
        from importlib import import_module

        engine = import_module(settings.SESSION_ENGINE)
        request.session = engine.SessionStore(key)
        user = get_user(request)  # type: ignore[arg-type]
        return user if user.is_authenticated and isinstance(user, User) else None


router = Router(auth=[AdminKeyAuth(), SessionAuth()], tags=["Budgets"])

# --- schemas -----------------------------------------------------------------------


class BudgetIn(Schema):
    scope: Literal["org", "team", "user", "key"]
    team: str | None = Field(default=None, description="team slug (not for org)")
    user: str | None = Field(default=None, description="username, for a user budget")
    key: str | None = Field(default=None, description="API key prefix, for a key budget")
    limit_usd: Decimal = Field(ge=0, le=10**9, decimal_places=6)
    period: Literal["day", "week", "month", "none"] = "month"
    on_limit: Literal["block", "downgrade"] = "block"
    warn_percent: int = Field(default=80, ge=1, le=100)
    local_open: bool = True
    reason: str = Field(default="", max_length=300)


class BudgetPatch(Schema):
    limit_usd: Decimal | None = Field(default=None, ge=0, le=10**9, decimal_places=6)
    period: Literal["day", "week", "month", "none"] | None = None
    on_limit: Literal["block", "downgrade"] | None = None
    warn_percent: int | None = Field(default=None, ge=1, le=100)
    local_open: bool | None = None
    reason: str = Field(default="", max_length=300)


class TopUpIn(Schema):
    amount_usd: Decimal = Field(gt=0, le=10**9, decimal_places=6)
    reason: str = Field(min_length=1, max_length=300)


class OverrideIn(Schema):
    until: datetime | None = Field(
        description="Requests may pass the limit until then; null ends an override."
    )
    reason: str = Field(min_length=1, max_length=300)


class BudgetOut(Schema):
    id: str
    scope: str
    name: str
    team: str | None
    user: str | None
    key: str | None
    period: str
    on_limit: str
    warn_percent: int
    local_open: bool
    limit_micros: int
    allowance_micros: int
    spent_micros: int
    reserved_micros: int
    remaining_micros: int
    used: float
    resets_at: datetime | None
    runs_out_on: str | None
    override_until: datetime | None


class ErrorBody(Schema):
    error: dict[str, Any]


ERRORS: dict[int, Any] = {code: ErrorBody for code in (400, 401, 403, 404, 409)}

# --- operations ----------------------------------------------------------------------


def _user(request: HttpRequest) -> User:
    return request.auth  # type: ignore[attr-defined,no-any-return]


def _out(budget: Budget) -> dict[str, Any]:
    state = budget_state(budget)
    return {
        "id": str(budget.code),
        "scope": budget.scope,
        "name": budget.label,
        "team": budget.team.slug if budget.team else None,
        "user": budget.user.username if budget.user else None,
        "key": budget.api_key.prefix if budget.api_key else None,
        "period": budget.period,
        "on_limit": budget.on_limit,
        "warn_percent": budget.warn_percent,
        "local_open": budget.local_open,
        "limit_micros": budget.limit_micros,
        "allowance_micros": state.allowance_micros,
        "spent_micros": state.spent_micros,
        "reserved_micros": state.reserved_micros,
        "remaining_micros": state.remaining_micros,
        "used": round(state.used, 4),
        "resets_at": state.resets_at,
        "runs_out_on": state.runs_out_on.isoformat() if state.runs_out_on else None,
        "override_until": budget.override_until,
    }


def _micros(usd: Decimal) -> int:
    return int(usd * 1_000_000)


def _visible(request: HttpRequest, code: str) -> Budget:
    budget = budgets_visible(_user(request)).filter(code=code).first()
    if budget is None:
        raise HttpError(404, f"No budget {code!r} that you may see.")
    return budget


def _editable(request: HttpRequest, code: str) -> Budget:
    budget = _visible(request, code)
    if not budget_may_edit(_user(request), scope=budget.scope, team_id=budget.team_id):
        raise HttpError(403, "Team admins manage user and key budgets in their own teams.")
    return budget


def _target(body: BudgetIn) -> BudgetTarget:
    if body.scope == Budget.Scope.ORG:
        return BudgetTarget(body.scope)
    team = Team.objects.filter(slug=body.team or "").first()
    if team is None:
        raise HttpError(400, f"No team {body.team!r}.")
    user = key = None
    if body.scope == Budget.Scope.USER:
        user = User.objects.filter(username=body.user or "", memberships__team=team).first()
        if user is None:
            raise HttpError(400, f"No user {body.user!r} in team {team.slug!r}.")
    if body.scope == Budget.Scope.KEY:
        key = ApiKey.objects.filter(prefix=body.key or "", team=team).first()
        if key is None:
            raise HttpError(400, f"No API key {body.key!r} in team {team.slug!r}.")
    return BudgetTarget(body.scope, team=team, user=user, api_key=key)


def _set(request: HttpRequest, target: BudgetTarget, **fields: Any) -> Budget:
    try:
        return budget_set(target=target, actor=_user(request), **fields)
    except ValidationError as exc:
        raise HttpError(400, " ".join(exc.messages)) from exc


@router.get("/", response={200: list[BudgetOut], **ERRORS}, summary="List budgets you may see")
def budgets_list(request: HttpRequest) -> list[dict[str, Any]]:
    return [_out(b) for b in budgets_visible(_user(request))]


@router.post("/", response={201: BudgetOut, **ERRORS}, summary="Create a budget")
def budgets_create(request: HttpRequest, body: BudgetIn) -> Status[dict[str, Any]]:
    target = _target(body)
    team_id = target.team.pk if target.team else None
    if not budget_may_edit(_user(request), scope=body.scope, team_id=team_id):
        raise HttpError(403, "Team admins set user and key budgets in their own teams.")
    if Budget.objects.filter(
        scope=target.scope, team=target.team, user=target.user, api_key=target.api_key
    ).exists():
        raise HttpError(409, "That budget exists; update it with PATCH.")
    budget = _set(
        request, target, limit_micros=_micros(body.limit_usd), period=body.period,
        on_limit=body.on_limit, warn_percent=body.warn_percent, local_open=body.local_open,
        reason=body.reason,
    )  # fmt: skip
    return Status(201, _out(budget))


@router.get("/{code}", response={200: BudgetOut, **ERRORS}, summary="A budget and its state")
def budgets_get(request: HttpRequest, code: str) -> dict[str, Any]:
    return _out(_visible(request, code))


@router.patch("/{code}", response={200: BudgetOut, **ERRORS}, summary="Change a budget")
def budgets_update(request: HttpRequest, code: str, body: BudgetPatch) -> dict[str, Any]:
    budget = _editable(request, code)
    target = BudgetTarget(budget.scope, budget.team, budget.user, budget.api_key)
    limit = _micros(body.limit_usd) if body.limit_usd is not None else budget.limit_micros
    budget = _set(
        request, target, limit_micros=limit, period=body.period or budget.period,
        on_limit=body.on_limit or budget.on_limit,
        warn_percent=body.warn_percent or budget.warn_percent,
        local_open=budget.local_open if body.local_open is None else body.local_open,
        reason=body.reason,
    )  # fmt: skip
    return _out(budget)


@router.delete("/{code}", response={204: None, **ERRORS}, summary="Delete a budget")
def budgets_delete(request: HttpRequest, code: str) -> HttpResponse:
    budget_delete(budget=_editable(request, code), actor=_user(request))
    return HttpResponse(status=204)


@router.post("/{code}/top-ups", response={200: BudgetOut, **ERRORS}, summary="Top up a budget")
def budgets_top_up(request: HttpRequest, code: str, body: TopUpIn) -> dict[str, Any]:
    budget = _editable(request, code)
    try:
        budget_top_up(
            budget=budget, amount_micros=_micros(body.amount_usd), actor=_user(request),
            reason=body.reason,
        )  # fmt: skip
    except ValidationError as exc:
        raise HttpError(400, " ".join(exc.messages)) from exc
    budget.refresh_from_db()
    return _out(budget)


@router.post(
    "/{code}/overrides", response={200: BudgetOut, **ERRORS}, summary="Let requests past the limit"
)
def budgets_override(request: HttpRequest, code: str, body: OverrideIn) -> dict[str, Any]:
    """Until ``until``, requests under this budget run even past its limit
    (spend is still counted); ``until: null`` ends an override. Audited with
    who and why."""
    budget = _editable(request, code)
    until = body.until
    if until is not None and timezone.is_naive(until):
        until = timezone.make_aware(until, org_tz())
    try:
        budget_override(budget=budget, until=until, actor=_user(request), reason=body.reason)
    except ValidationError as exc:
        raise HttpError(400, " ".join(exc.messages)) from exc
    budget.refresh_from_db()
    return _out(budget)
