"""Providers and models in the browser, for org admins.

The page lists providers (with a warning where a key variable is unset: its
value is never read out, only whether it is set), models with prices in
dollars per million tokens, and local model files found on disk or in
installed packages. Edits are validated forms (the models' own ``clean``
runs), saved with POST/redirect/GET; provider edits are audited like the
admin's, and every save invalidates the catalogue through the providers
app's signals.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.views.decorators.http import require_POST

from apps.policy.capability import TIERS, tier_of
from apps.providers.catalog import model_spec
from apps.providers.connection import provider_connection_test
from apps.providers.discovery import RUNTIME_NAMES, model_files_discover
from apps.providers.guards import provider_key_read
from apps.providers.models import LanguageModel, Provider
from apps.providers.services import provider_change_record, provider_values
from apps.providers.specs import capabilities

from .views import _org_admin_only, console_access

MICROS = Decimal(1_000_000)


class ProviderForm(forms.ModelForm):
    base_url = forms.URLField(
        label="Base URL", required=False, assume_scheme="https",
        help_text="For OpenAI-compatible providers, e.g. https://api.openai.com/v1.",
    )  # fmt: skip

    class Meta:
        model = Provider
        fields = [
            "name", "kind", "privacy_zone", "base_url", "replica_urls", "api_key_env",
            "timeout_seconds", "max_retries", "enabled",
        ]  # fmt: skip
        widgets = {"replica_urls": forms.Textarea(attrs={"rows": 2})}


class ModelForm(forms.ModelForm):
    """Prices are typed in dollars per million tokens and stored as integer
    micro-dollars (``$0.15`` is ``150000``)."""

    input_price = forms.DecimalField(
        label="Input price ($ per million tokens)", min_value=0, max_digits=12, decimal_places=6,
        initial=0,
    )  # fmt: skip
    output_price = forms.DecimalField(
        label="Output price ($ per million tokens)", min_value=0, max_digits=12, decimal_places=6,
        initial=0,
    )  # fmt: skip

    class Meta:
        model = LanguageModel
        fields = [
            "provider", "name", "upstream_id", "context_window", "tier",
            "can_call_tools", "can_structured_output", "enabled",
            "model_file", "model_type", "chat_template", "threads", "gpu_layers",
        ]  # fmt: skip

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["input_price"] = Decimal(self.instance.input_price_per_mtok) / MICROS
            self.initial["output_price"] = Decimal(self.instance.output_price_per_mtok) / MICROS

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for field in ("input_price", "output_price"):  # before the model's own checks run
            if data.get(field) is not None:
                setattr(self.instance, f"{field}_per_mtok", int(data[field] * MICROS))
        return data


def dollars(micros: int) -> str:
    """150000 micro-dollars -> '0.15'."""
    text = f"{Decimal(micros) / MICROS:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _can(model: LanguageModel) -> dict[str, str]:
    """The tier routing uses (and whether an admin set it or it follows from
    what the model is) and what the model can do, as routing sees them."""
    spec = model_spec(model)
    tier = tier_of(spec)
    how = "set" if model.tier else "from what it is"
    return {"tier": f"{tier} {TIERS[tier]} ({how})", **capabilities(spec)}


def _key_state(provider: Provider) -> str:
    """'set', 'unset', 'refused' or '' (no key needed); never the value."""
    if not provider.api_key_env:
        return ""
    try:
        return "set" if provider_key_read(name=provider.api_key_env) else "unset"
    except ValueError:
        return "refused"


@console_access
def models_page(request: HttpRequest) -> HttpResponse:
    _org_admin_only(request)
    providers = list(Provider.objects.prefetch_related("models", "models__teams"))
    for provider in providers:
        provider.key_state = _key_state(provider)  # type: ignore[attr-defined]
        for model in provider.models.all():
            model.input_usd = dollars(model.input_price_per_mtok)  # type: ignore[attr-defined]
            model.output_usd = dollars(model.output_price_per_mtok)  # type: ignore[attr-defined]
            model.can = _can(model)  # type: ignore[attr-defined]
    local = {p.kind: p for p in providers if p.in_process and p.enabled}
    discovered = [
        {"file": f, "runtimes": [RUNTIME_NAMES[r] for r in f.runtimes],
         "provider": next((local[r] for r in f.candidate_runtimes if r in local), None)}
        for f in model_files_discover()
    ]  # fmt: skip
    in_use = set(LanguageModel.objects.values_list("model_file", flat=True))
    context = {"providers": providers, "discovered": discovered, "in_use": in_use,
               "models_dir": settings.HYBRIDHUB_MODELS_DIR}  # fmt: skip
    return render(request, "console/models.html", context)


def _edit(request: HttpRequest, form: forms.ModelForm, what: str) -> HttpResponse:
    return render(request, "console/models_form.html", {"form": form, "what": what})


@console_access
def provider_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    _org_admin_only(request)
    provider = get_object_or_404(Provider, pk=pk) if pk is not None else None
    initial = None if provider else {"kind": request.GET.get("kind"), "privacy_zone": "on_prem"}
    form = ProviderForm(request.POST or None, instance=provider, initial=initial)
    if request.method == "POST" and form.is_valid():
        before = provider_values(Provider.objects.get(pk=provider.pk)) if provider else None
        saved = form.save()
        action = "changed" if provider else "added"
        provider_change_record(actor=request.user, provider=saved, action=action, before=before)
        messages.success(request, f"Provider {saved.name} {action}.")
        return redirect("console:models")
    return _edit(request, form, f"provider {provider.name}" if provider else "a provider")


@console_access
def model_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    _org_admin_only(request)
    model = get_object_or_404(LanguageModel, pk=pk) if pk is not None else None
    prefill = {k: request.GET[k] for k in ("provider", "name", "model_file") if k in request.GET}
    form = ModelForm(request.POST or None, instance=model, initial=prefill or None)
    if request.method == "POST" and form.is_valid():
        saved = form.save()
        messages.success(request, f"Model {saved.name} {'changed' if model else 'added'}.")
        return redirect("console:models")
    return _edit(request, form, f"model {model.name}" if model else "a model")


@require_POST
@console_access
def provider_test(request: HttpRequest, pk: int) -> HttpResponse:
    _org_admin_only(request)
    provider = get_object_or_404(Provider, pk=pk)
    result = provider_connection_test(provider=provider)
    level = messages.success if result.ok else messages.error
    level(request, f"{provider.name}: {result.detail}")
    return redirect("console:models")


urlpatterns = [
    path("models/", models_page, name="models"),
    path("models/providers/new/", provider_edit, name="provider_add"),
    path("models/providers/<int:pk>/", provider_edit, name="provider_edit"),
    path("models/providers/<int:pk>/test/", provider_test, name="provider_test"),
    path("models/new/", model_edit, name="model_add"),
    path("models/<int:pk>/", model_edit, name="model_edit"),
]
