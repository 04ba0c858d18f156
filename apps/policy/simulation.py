"""The policy simulator as a service: what the published policy or the
draft would do with a conversation. Nothing is sent and nothing is stored;
the console renders the result."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils import timezone

from apps.providers.catalog import catalog_load
from apps.providers.tokens import estimate_tokens

from .edits import policy_warnings
from .engine import Decision, Facts, decide
from .models import PolicyVersion
from .services import document_parse, policy_compiled, policy_published_get


@dataclass(frozen=True)
class Simulation:
    decision: Decision
    against: str  # "draft" or "published"
    estimated_tokens: int
    cost_micros: int  # with the first model on the route
    warnings: list[str]  # shadowed rules, unknown models in the simulated version


def policy_simulate(
    *,
    texts: list[str],
    against: str,
    team_id: int | None,
    user_id: int | None = None,
    api_key_id: int | None = None,
    source: str = "api",
    requested_model: str = "auto",
    max_tokens: int | None = None,
    raised_level: int = 0,
    budget_used: float = 0.0,
) -> Simulation:
    draft = PolicyVersion.objects.filter(status="draft").first() if against == "draft" else None
    version = draft or policy_published_get()
    catalog = catalog_load()
    estimated = sum(estimate_tokens(t) + 4 for t in texts)
    facts = Facts(
        team_id=team_id,
        user_id=user_id,
        api_key_id=api_key_id,
        source=source,
        requested_model=requested_model,
        estimated_tokens=estimated,
        max_tokens=max_tokens,
        now=timezone.localtime(),
        raised_level=raised_level,
        budget_used=budget_used,
    )
    decision = decide(policy_compiled(version), catalog, texts, facts)
    first = decision.candidates[0] if decision.candidates else None
    return Simulation(
        decision=decision,
        against="draft" if draft else "published",
        estimated_tokens=estimated,
        cost_micros=first.cost_micros(estimated, max_tokens or 256) if first else 0,
        warnings=policy_warnings(document_parse(version.document), catalog.models),
    )
