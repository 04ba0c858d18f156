"""Routing calibration page: the trade-off curve from recent traffic, the
operating point the admin picks, and what the learning job proposed.

Choosing a point writes the hard-request threshold into the draft (never
the published policy); the admin replays and publishes as usual.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

from django import forms
from django.contrib import messages
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone

from apps.gateway.models import UsageRecord
from apps.policy import calibration
from apps.policy.models import LearningRun
from apps.policy.services import policy_draft_edit, policy_working_get

from .views import _org_admin_only, console_access

DAYS = 30


class CalibrationForm(forms.Form):
    target = forms.ChoiceField(
        choices=[
            ("share", "Target cloud share (%)"),
            ("spend", "Monthly cloud spend (USD)"),
            ("quality", "Quality first"),
        ]
    )
    value = forms.FloatField(min_value=0, required=False, initial=20)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("target") in ("share", "spend") and data.get("value") is None:
            raise ValidationError("Give the target's value.")
        if data.get("target") == "share" and (data.get("value") or 0) > 100:
            raise ValidationError("A share is between 0 and 100%.")
        return data


def _traffic() -> tuple[list[float], float, float]:
    """Recent scores, average cloud cost per request (USD), requests per month."""
    since = timezone.now() - timedelta(days=DAYS)
    rows = UsageRecord.objects.filter(created_at__gte=since, complexity__isnull=False)
    scores = [s for s in rows.values_list("complexity", flat=True)[:50_000] if s is not None]
    cloud = rows.exclude(privacy_zone="on_prem").exclude(cost_micros=0)
    costs = list(cloud.values_list("cost_micros", flat=True)[:50_000])
    per_request = sum(costs) / len(costs) / 1e6 if costs else 0.0
    return scores, per_request, len(scores) * 30 / DAYS


def _threshold_rule(doc: dict[str, Any]) -> dict[str, Any] | None:
    return next((r for r in doc["rules"] if r["when"].get("min_complexity") is not None), None)


def _svg(points: list[calibration.Point], current: float | None) -> str:
    """The curve as inline SVG: x cloud share, y hard prompts kept local."""
    w, h, pad = 360, 220, 30

    def xy(p: calibration.Point) -> tuple[float, float]:
        return pad + p.cloud_share * (w - 2 * pad), h - pad - p.hard_kept_local * (h - 2 * pad)

    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in map(xy, points))
    marker = ""
    if current is not None:
        near = min(points, key=lambda p: abs(p.threshold - current))
        x, y = xy(near)
        marker = f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" class="now"><title>now</title></circle>'
    return (
        f'<svg viewBox="0 0 {w} {h}" role="img" aria-label="Cloud share against hard prompts '
        f'kept local" class="chart"><polyline fill="none" stroke="currentColor" points="{path}"/>'
        f'{marker}<text x="{w // 2}" y="{h - 5}" text-anchor="middle">cloud share →</text>'
        f'<text x="5" y="15">hard kept local ↑</text></svg>'
    )


@console_access
def calibration_page(request: HttpRequest) -> HttpResponse:
    scores, per_request, monthly = _traffic()
    version, document = policy_working_get()
    doc = document.model_dump(mode="json")
    rule = _threshold_rule(doc)
    current = rule["when"]["min_complexity"] if rule else None
    form = CalibrationForm(request.POST or None)
    if request.method == "POST":
        _org_admin_only(request)
        if rule is None:
            messages.error(request, "No rule has a minimum difficulty to calibrate.")
        elif not scores:
            messages.error(request, "No recent traffic to calibrate on yet.")
        elif form.is_valid():
            target, value = form.cleaned_data["target"], form.cleaned_data["value"] or 0.0
            if target == "share":
                value /= 100
            threshold = calibration.threshold_for(
                scores,
                target,
                value,
                cloud_cost_per_request=per_request,
                requests_per_month=monthly,
            )
            rule_id = rule["id"]

            def change(d: dict[str, Any]) -> dict[str, Any]:
                for r in d["rules"]:
                    if r["id"] == rule_id:
                        r["when"]["min_complexity"] = round(threshold, 2)
                return d

            policy_draft_edit(
                actor=cast(User, request.user),
                summary=f"Calibrated to {target}: difficulty threshold {threshold:.2f}",
                change=change,
            )
            messages.success(
                request, f"Draft: threshold set to {threshold:.2f}. Replay it, then publish."
            )
            return redirect("console:calibration")
    points = calibration.curve(scores) if scores else []
    at_now = next((p for p in points if current is not None and p.threshold >= current), None)
    return render(
        request,
        "console/routing_calibration.html",
        {
            "form": form,
            "svg": _svg(points, current) if points else "",
            "points": points[::5],
            "requests": len(scores),
            "days": DAYS,
            "current": current,
            "at_now": at_now,
            "per_request": per_request,
            "version": version,
            "runs": LearningRun.objects.all()[:10],
        },
    )
