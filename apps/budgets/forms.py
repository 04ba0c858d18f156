"""Budget forms for the console page: input → a BudgetTarget and amounts."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib.auth.models import User

from apps.accounts.models import ApiKey, Team

from .models import Budget
from .services import BudgetTarget


def to_micros(amount: Decimal) -> int:
    return int(amount * 1_000_000)


class BudgetForm(forms.Form):
    scope = forms.ChoiceField(choices=Budget.Scope.choices)
    team = forms.ModelChoiceField(queryset=Team.objects.none(), required=False)
    username = forms.CharField(required=False, max_length=150, help_text="For a user's budget.")
    key_prefix = forms.CharField(required=False, max_length=16, help_text="For a key's budget.")
    limit_usd = forms.DecimalField(
        min_value=Decimal(0), max_value=Decimal(10**9), decimal_places=6, label="Limit (USD)"
    )
    period = forms.ChoiceField(choices=Budget.Period.choices, initial=Budget.Period.MONTH)
    on_limit = forms.ChoiceField(choices=Budget.OnLimit.choices, label="At the limit")
    warn_percent = forms.IntegerField(min_value=1, max_value=100, initial=80, label="Warn at %")
    local_open = forms.BooleanField(
        required=False, initial=True, label="On-prem models stay open when used up"
    )
    reason = forms.CharField(required=False, max_length=300)

    def __init__(self, *args: Any, teams: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = teams  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        scope, team = data.get("scope"), data.get("team")
        if scope and scope != Budget.Scope.ORG and team is None:
            raise forms.ValidationError("Choose the team.")
        if scope == Budget.Scope.USER:
            user = User.objects.filter(
                username=data.get("username", ""), memberships__team=team
            ).first()
            if user is None:
                raise forms.ValidationError("No such user in that team.")
            data["user"] = user
        if scope == Budget.Scope.KEY:
            key = ApiKey.objects.filter(prefix=data.get("key_prefix", ""), team=team).first()
            if key is None:
                raise forms.ValidationError("No API key with that prefix in that team.")
            data["api_key"] = key
        return data

    def target(self) -> BudgetTarget:
        data = self.cleaned_data
        scope = data["scope"]
        return BudgetTarget(
            scope=scope,
            team=data["team"] if scope != Budget.Scope.ORG else None,
            user=data.get("user"),
            api_key=data.get("api_key"),
        )

    @classmethod
    def initial_from(cls, budget: Budget) -> dict[str, Any]:
        return {
            "scope": budget.scope,
            "team": budget.team_id,
            "username": budget.user.username if budget.user else "",
            "key_prefix": budget.api_key.prefix if budget.api_key else "",
            "limit_usd": Decimal(budget.limit_micros) / 1_000_000,
            "period": budget.period,
            "on_limit": budget.on_limit,
            "warn_percent": budget.warn_percent,
            "local_open": budget.local_open,
        }


class TopUpForm(forms.Form):
    amount_usd = forms.DecimalField(
        min_value=Decimal("0.000001"), max_value=Decimal(10**9), decimal_places=6,
        label="Top-up (USD)",
    )  # fmt: skip
    reason = forms.CharField(max_length=300)


class OverrideForm(forms.Form):
    until = forms.DateTimeField(
        required=False,
        label="Let requests past the limit until",
        help_text="In the organisation's time zone; empty ends an override.",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    reason = forms.CharField(max_length=300)
