"""Escalation ("ask a stronger model"): the same decision, narrowed to the
models of a higher capability tier than the one that answered.

It never widens what the policy permits: the candidates are the decision's
own (the matched rule's models that passed the privacy, feature and context
checks, redaction included when the level's policy allows it), keeping
only the stronger ones, cheapest first. When none is left the decision
becomes a block whose message says why, in the user's terms.
"""

from __future__ import annotations

from dataclasses import replace

from apps.providers.specs import Catalog

from .capability import TIERS, tier_of
from .engine import Decision


def escalated(decision: Decision, catalog: Catalog, above_tier: int, why: str = "") -> Decision:
    """``decision`` with only candidates of a tier above ``above_tier``;
    ``why`` is the reason recorded (default: a person asked for it)."""
    if decision.action == "block":
        return decision
    stronger = sorted(
        (m for m in decision.candidates if tier_of(m) > above_tier),
        key=lambda m: m.input_price_per_mtok + m.output_price_per_mtok,
    )
    why = why or f"escalation: asked for a model above tier {_tier(above_tier)}"
    reasons = [*decision.reasons, why]
    if stronger:
        reasons.append(f"→ {stronger[0].name} (stronger model)")
        return replace(decision, candidates=tuple(stronger), reasons=tuple(reasons))
    refused = refusal(decision, catalog, above_tier)
    return replace(
        decision,
        action="block",
        candidates=(),
        reasons=(*reasons, refused),
        block_message=refused,
        problem="",
    )


def refusal(decision: Decision, catalog: Catalog, above_tier: int) -> str:
    """Why no stronger model may answer, most specific first."""
    team_id = decision.signals.facts.team_id
    stronger = [m for m in catalog.for_team(team_id) if tier_of(m) > above_tier]
    if not stronger:
        return f"No model stronger than tier {_tier(above_tier)} is available to your team."
    if all(m.provider.privacy_zone not in decision.allowed_zones for m in stronger):
        return (
            f"This conversation is {decision.level_name}: its data may not go to any stronger "
            f"model ({', '.join(m.name for m in stronger)}), so only the on-prem models may "
            "answer."
        )
    return (
        f"The policy's rule “{decision.rule_name}” does not allow a stronger model "
        "for this message."
    )


def _tier(tier: int) -> str:
    return f"{tier} ({TIERS[tier]})" if tier in TIERS else str(tier)
