"""Capability tiers and the @capable selector."""

from datetime import datetime

from apps.policy.capability import capable, default_tier, tier_of
from apps.policy.complexity import Complexity
from apps.policy.document import CAPABLE, REQUESTED, Conditions, RulePolicy, default_document
from apps.policy.engine import CompiledPolicy, Facts, Signals, route
from apps.providers.specs import Catalog, ModelSpec, ProviderSpec

LOCAL = ProviderSpec(1, "local", "local_llama_cpp", "on_prem", "", "", 60, 0, "v")
CLOUD = ProviderSpec(2, "vendor", "openai_compatible", "vendor", "http://v", "", 60, 2, "v")


def spec(id, name, provider, price=0, tier=0):
    return ModelSpec(
        id, name, provider, name, 32000, price, price, frozenset(), (), None, "v", tier=tier
    )


SMALL = spec(1, "smollm2-135m", LOCAL)
MID = spec(2, "qwen2.5-7b", LOCAL, price=1)
FRONTIER = spec(3, "gpt", CLOUD, price=300)


def test_default_tiers_follow_what_the_model_is():
    assert default_tier(True, "SmolLM2-135M-Instruct") == 1
    assert default_tier(True, "qwen2.5-1.5b-instruct") == 1
    assert default_tier(True, "llama-3.1-8B-instruct.gguf") == 2
    assert default_tier(True, "mystery-local") == 1
    assert default_tier(False, "gpt-4o") == 3
    assert [tier_of(m) for m in (SMALL, MID, FRONTIER)] == [1, 2, 3]
    assert tier_of(spec(4, "admin-set", LOCAL, tier=3)) == 3


def test_capable_lists_the_cheapest_covering_model_first_then_the_strongest_others():
    by_cost = [SMALL, MID, FRONTIER]
    assert capable(by_cost, 1) == [SMALL, MID, FRONTIER]
    assert capable(by_cost, 2) == [MID, FRONTIER, SMALL]
    assert capable(by_cost, 3) == [FRONTIER, MID, SMALL]


def signals(score, level=0):
    facts = Facts(1, 1, 1, "api", "auto", 50, None, datetime(2026, 11, 23, 12))
    return Signals(level, 0, Complexity(score, {}, {}), facts)


def capable_policy():
    doc = default_document().model_copy(
        update={
            "rules": (
                default_document().rules[0],
                RulePolicy(id="default", name="By capability", models=(REQUESTED, CAPABLE)),
            )
        }
    )
    return CompiledPolicy(1, doc)


CATALOG = Catalog(models={m.name: m for m in (SMALL, MID, FRONTIER)}, loaded_at=1)


def test_hard_is_relative_to_the_models_the_organisation_has():
    p = capable_policy()
    assert route(p, CATALOG, signals(0.05)).candidates[0] == SMALL
    mid = route(p, CATALOG, signals(0.99)).candidates
    assert (
        mid[0] == FRONTIER and "needs tier 3 or above" in route(p, CATALOG, signals(0.99)).reasons
    )
    only_local = Catalog(models={m.name: m for m in (SMALL, MID)}, loaded_at=1)
    assert route(p, only_local, signals(0.99)).candidates[0] == MID


def test_privacy_still_wins_over_capability():
    d = route(capable_policy(), CATALOG, signals(0.99, level=2))
    assert FRONTIER not in d.candidates and d.candidates


def test_shipped_policy_sends_hard_requests_to_a_cloud_model():
    rule = default_document().rules[1]
    assert CAPABLE in rule.models and rule.when == Conditions(
        min_complexity=rule.when.min_complexity
    )
    d = route(CompiledPolicy(1, default_document()), CATALOG, signals(0.99))
    assert d.rule_id == "complex" and d.candidates[0] == FRONTIER
    easy = route(CompiledPolicy(1, default_document()), CATALOG, signals(0.01))
    assert easy.candidates[0] == SMALL
