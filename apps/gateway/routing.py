"""Where a request goes, and why. Pure: plain data in, a decision out.

Until the policy engine lands, routing is: the requested model, or for
``auto`` the configured default; then that model's fallbacks.
"""

from __future__ import annotations

from dataclasses import dataclass

from apps.providers.catalog import Catalog, ModelSpec

from .errors import GatewayError

AUTO = "auto"


@dataclass(frozen=True)
class RouteDecision:
    candidates: tuple[ModelSpec, ...]  # the first, then fallbacks in order
    reasons: tuple[str, ...]


def route_decide(
    *,
    catalog: Catalog,
    requested_model: str,
    team_id: int | None,
    auto_model: str,
    estimated_tokens: int,
) -> RouteDecision:
    if requested_model == AUTO:
        first, reason = _auto_model(catalog, team_id, auto_model)
    else:
        requested = catalog.get(requested_model)
        if requested is None or not requested.allowed_for(team_id):
            raise GatewayError(
                f"The model {requested_model!r} does not exist or your team may not use it.",
                status=404,
                code="model_not_found",
            )
        first, reason = requested, f"requested model {requested.name}"
    reasons = [reason]
    candidates = []
    for model in (first, *(catalog.get(name) for name in first.fallback_names)):
        if model is None or not model.allowed_for(team_id) or model in candidates:
            continue
        if estimated_tokens >= model.context_window:
            reasons.append(
                f"skipped {model.name}: about {estimated_tokens} tokens exceed its "
                f"{model.context_window}-token window"
            )
            continue
        candidates.append(model)
    if not candidates:
        raise GatewayError(
            f"No model can take this request: about {estimated_tokens} tokens is more "
            "than the context window of every model on its route.",
            status=400,
            code="context_length_exceeded",
        )
    if len(candidates) > 1:
        reasons.append("fallbacks: " + ", ".join(m.name for m in candidates[1:]))
    return RouteDecision(candidates=tuple(candidates), reasons=tuple(reasons))


def _auto_model(catalog: Catalog, team_id: int | None, auto_model: str) -> tuple[ModelSpec, str]:
    configured = catalog.get(auto_model) if auto_model else None
    if configured is not None and configured.allowed_for(team_id):
        return configured, f"auto: default model {configured.name}"
    for model in catalog.for_team(team_id):
        if model.provider.is_local:
            return model, f"auto: first on-prem model {model.name}"
    raise GatewayError(
        "No default model is configured for 'auto'.", status=404, code="model_not_found"
    )
