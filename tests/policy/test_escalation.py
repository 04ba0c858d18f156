"""Escalation narrows the policy's own decision to stronger models; it never
widens what the policy permits."""

from datetime import datetime

from apps.policy.complexity import Complexity
from apps.policy.document import default_document
from apps.policy.engine import CompiledPolicy, Facts, Signals, route
from apps.policy.escalation import escalated
from apps.providers.specs import Catalog
from tests.policy.test_capability import CLOUD, FRONTIER, MID, SMALL, spec

CHEAP_FRONTIER = spec(4, "gpt-mini", CLOUD, price=20)
POLICY = CompiledPolicy(1, default_document())


def catalog(*models):
    return Catalog(models={m.name: m for m in models}, loaded_at=1)


def decision(models, *, level=0, score=0.05):
    facts = Facts(1, 1, None, "chat", "auto", 50, None, datetime(2026, 11, 23, 12))
    return route(POLICY, catalog(*models), Signals(level, 0, Complexity(score, {}, {}), facts))


def test_an_easy_public_prompt_goes_up_to_the_cheapest_stronger_model():
    models = (SMALL, MID, FRONTIER, CHEAP_FRONTIER)
    plain = decision(models)
    assert plain.candidates[0] == SMALL  # the policy's own choice: local first
    up = escalated(plain, catalog(*models), above_tier=1)
    assert up.action == "route"
    assert up.candidates == (MID, CHEAP_FRONTIER, FRONTIER)  # tier > 1, cheapest first
    assert any(r.startswith("escalation: asked for a model above tier 1") for r in up.reasons)
    from_mid = escalated(plain, catalog(*models), above_tier=2)
    assert from_mid.candidates == (CHEAP_FRONTIER, FRONTIER)


def test_confidential_data_is_never_escalated_to_the_cloud():
    models = (SMALL, FRONTIER)
    up = escalated(decision(models, level=2), catalog(*models), above_tier=1)
    assert up.action == "block" and not up.candidates
    assert "confidential" in up.block_message and "gpt" in up.block_message
    assert "on-prem" in up.block_message


def test_a_stronger_on_prem_model_may_take_confidential_data():
    models = (SMALL, MID, FRONTIER)
    up = escalated(decision(models, level=2), catalog(*models), above_tier=1)
    assert up.candidates == (MID,)


def test_nothing_stronger_in_the_catalogue_says_so():
    up = escalated(decision((SMALL,)), catalog(SMALL), above_tier=1)
    assert up.action == "block"
    assert up.block_message == "No model stronger than tier 1 (small) is available to your team."


def test_a_block_stays_a_block():
    blocked = decision((SMALL, FRONTIER))
    blocked = blocked.__class__(**{**blocked.__dict__, "action": "block", "block_message": "no"})
    assert escalated(blocked, catalog(SMALL, FRONTIER), above_tier=1) is blocked
