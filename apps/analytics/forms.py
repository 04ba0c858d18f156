from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django import forms
from django.contrib.auth.models import User
from django.utils import timezone

from apps.accounts.models import Team
from apps.gateway.models import UsageRecord
from apps.providers.models import LanguageModel

from .selectors import BUCKETS, Filters, Scope

DEFAULT_DAYS = 30
MAX_DAYS = 3 * 366


class FilterForm(forms.Form):
    """The dashboard's filters (GET). Bad values fall back to defaults and
    say so; they never fail the page."""

    start = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    bucket = forms.ChoiceField(choices=[(b, b) for b in BUCKETS], required=False)
    team = forms.ModelChoiceField(queryset=Team.objects.none(), required=False)
    user = forms.ModelChoiceField(queryset=User.objects.none(), required=False)
    model = forms.CharField(max_length=100, required=False)
    provider = forms.CharField(max_length=100, required=False)
    level = forms.CharField(max_length=30, required=False)
    source = forms.ChoiceField(choices=[("", "any"), *UsageRecord.Source.choices], required=False)
    reference = forms.ModelChoiceField(
        queryset=LanguageModel.objects.exclude(provider__privacy_zone="on_prem"),
        required=False,
        label="Reference cloud model",
    )

    def __init__(self, data: Any, *, scope: Scope) -> None:
        super().__init__(data)
        teams = Team.objects.order_by("name")
        if scope.team_ids is not None:
            teams = teams.filter(pk__in=scope.team_ids)
        users = User.objects.filter(memberships__team__in=teams).distinct().order_by("username")
        self.fields["team"].queryset = teams  # type: ignore[attr-defined]
        self.fields["user"].queryset = users  # type: ignore[attr-defined]

    def filters(self) -> Filters:
        data = self.cleaned_data if self.is_valid() else {}
        end = data.get("end") or timezone.now().date()
        start = data.get("start") or end - timedelta(days=DEFAULT_DAYS - 1)
        if start > end or (end - start).days > MAX_DAYS:
            start = end - timedelta(days=DEFAULT_DAYS - 1)
        team, user = data.get("team"), data.get("user")
        return Filters(
            start=start,
            end=end,
            bucket=data.get("bucket") or "day",
            team_id=team.pk if team else None,
            user_id=user.pk if user else None,
            model=data.get("model", "").strip(),
            provider=data.get("provider", "").strip(),
            level=data.get("level", "").strip(),
            source=data.get("source") or "",
        )

    def reference_model(self) -> LanguageModel | None:
        return self.cleaned_data.get("reference") if self.is_valid() else None


def week_start(value: date | None = None) -> date:
    day = value or timezone.now().date()
    return day - timedelta(days=day.weekday())
