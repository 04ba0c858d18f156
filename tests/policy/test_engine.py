"""The routing decision, table-tested on hand-built catalogues: no database."""

from dataclasses import replace
from datetime import datetime

import pytest
from pydantic import ValidationError

from apps.policy.document import (
    CLOUD,
    LOCAL,
    REQUESTED,
    Conditions,
    CustomDetectorPolicy,
    LevelPolicy,
    RulePolicy,
    TeamPolicy,
    default_document,
)
from apps.policy.engine import CompiledPolicy, Facts, decide, rescore, route, signals_of
from apps.providers.catalog import Catalog, ModelSpec, ProviderSpec

LOCAL_P = ProviderSpec(1, "local", "local_ctransformers", "on_prem", "", "", 60, 0, "v")
ZDR = ProviderSpec(
    2, "zdr", "openai_compatible", "vendor_zero_retention", "http://z", "", 60, 2, "v"
)
VENDOR = ProviderSpec(3, "vendor", "openai_compatible", "vendor", "http://v", "", 60, 2, "v")


def model(id, name, provider, *, window=8192, price=0, fallbacks=()):
    return ModelSpec(
        id, name, provider, name, window, price, price, frozenset(), tuple(fallbacks), None, "v"
    )


CATALOG = Catalog(
    models={
        m.name: m
        for m in [
            model(1, "fast", LOCAL_P, window=2048),
            model(2, "deep", LOCAL_P, price=1),
            model(3, "zdr-large", ZDR, window=128000, price=500),
            model(4, "gpt", VENDOR, window=128000, price=300, fallbacks=["zdr-large"]),
        ]
    },
    loaded_at=1,
)
MONDAY_NOON = datetime(2026, 11, 23, 12, 0)
HARD = (
    "Analyze the trade-offs of these designs, compare them step by step and recommend one.\n"
    "1. It must scale\n2. It should be cheap\n3. Ensure durability\n"
    "```python\ndef f():\n    return 1\n```\nWrite a detailed report."
)


def facts(
    requested="auto", team=1, user=1, key=1, source="api", tokens=50, now=MONDAY_NOON, **more
):
    return Facts(team, user, key, source, requested, tokens, None, now, **more)


def policy(doc=None, version=1):
    return CompiledPolicy(version, doc or default_document())


def decided(text, doc=None, **fact_args):
    return decide(policy(doc), CATALOG, [text], facts(**fact_args))


def names(decision):
    return [m.name for m in decision.candidates]


def test_simple_public_work_stays_local_cheapest_first():
    d = decided("What's the capital of France?")
    assert (d.level_name, d.rule_id, d.action) == ("public", "default", "route")
    assert names(d) == ["fast", "deep", "gpt", "zdr-large"]
    assert d.reasons[0] == "no sensitive data found → public"
    assert "rule: Everything else runs locally" in d.reasons


def test_sensitive_data_stays_on_prem_with_the_reason():
    d = decided("Mail the contract to jane.doe@example.org please")
    assert (d.level_name, d.rule_id) == ("confidential", "sensitive")
    assert names(d) == ["fast", "deep"]
    assert d.reasons[0] == "contains email → confidential"
    assert [f.finding.label for f in d.findings] == ["EMAIL"]


def test_complex_public_work_goes_to_the_cloud():
    d = decided(HARD)
    threshold = default_document().rules[1].when.min_complexity
    assert d.rule_id == "complex" and d.signals.complexity.score >= threshold
    assert names(d)[:2] == ["gpt", "zdr-large"]
    assert any(r.startswith("needs tier") for r in d.reasons)


def test_privacy_is_a_hard_constraint_even_for_an_explicit_model():
    d = decided("card 4111 1111 1111 1111, " + HARD, requested="gpt")
    assert d.level_name == "restricted"
    assert set(names(d)) == {"fast", "deep"}
    assert "requested gpt not used: vendor zone not allowed at this level" in d.reasons


def test_internal_data_may_use_zero_retention_but_not_plain_vendors():
    d = decided("server 10.1.2.3 is slow. " + HARD)
    assert d.level_name == "internal"
    assert names(d)[0] == "zdr-large"
    assert any(r.startswith("skipped gpt: vendor zone") for r in d.reasons)


def test_team_floor_raised_level_and_conversation_history_only_raise():
    doc = default_document().model_copy(update={"teams": {"7": TeamPolicy(floor=2)}})
    assert decided("hello", doc=doc, team=7).level_name == "confidential"
    assert decided("hello", raised_level=3).level_name == "restricted"
    assert decided("hello", sticky_level=2).level_name == "confidential"
    # a raise to 'public' cannot lower what the detectors found
    assert decided("write to a@b.io", raised_level=0).level_name == "confidential"


def test_team_custom_keywords_apply_to_that_team_only():
    secret_project = CustomDetectorPolicy(
        name="codenames", kind="keywords", patterns=("bluebird",), level=2
    )
    doc = default_document().model_copy(
        update={"teams": {"7": TeamPolicy(detectors=(secret_project,))}}
    )
    assert decided("status of Bluebird?", doc=doc, team=7).level_name == "confidential"
    assert decided("status of Bluebird?", doc=doc, team=8).level_name == "public"


def _doc_with(rules, levels=None):
    doc = default_document()
    update = {"rules": tuple(rules)}
    if levels:
        update["levels"] = levels
    return doc.model_copy(update=update)


def test_redact_then_send_when_no_allowed_model_remains():
    levels = list(default_document().levels)
    levels[2] = LevelPolicy(name="confidential", allowed_zones=("on_prem",), when_no_model="redact")
    doc = _doc_with([RulePolicy(id="cloudonly", name="Cloud only", models=(CLOUD,))], tuple(levels))
    d = decided("email jane@corp.example about it", doc=doc)
    assert d.redact and names(d) == ["gpt", "zdr-large"]
    assert d.egress_zones == {"on_prem", "vendor", "vendor_zero_retention"}
    assert "confidential: findings replaced by placeholders before sending" in d.reasons


def test_block_when_the_level_says_so():
    levels = list(default_document().levels)
    levels[3] = LevelPolicy(name="restricted", when_no_model="block", block_message="Not here.")
    doc = _doc_with([RulePolicy(id="cloudonly", name="Cloud only", models=(CLOUD,))], tuple(levels))
    d = decided("AKIAIOSFODNN7EXAMPLE is my key", doc=doc)
    assert (d.action, d.block_message) == ("block", "Not here.")


def test_rules_match_in_order_and_explain_the_skips():
    rules = [
        RulePolicy(id="off", name="Off", enabled=False, models=("gpt",)),
        RulePolicy(id="legal", name="Legal team", when=Conditions(teams=(9,)), models=("deep",)),
        RulePolicy(
            id="nights",
            name="Night shift",
            when=Conditions(start_hour=22, end_hour=6),
            models=("gpt",),
        ),
        RulePolicy(id="weekend", name="Weekend", when=Conditions(days=(5, 6)), models=("gpt",)),
        RulePolicy(
            id="blk",
            name="No chat",
            action="block",
            message="Use the API.",
            when=Conditions(sources=("chat",)),
        ),
        RulePolicy(id="default", name="Default", models=(REQUESTED, LOCAL)),
    ]
    doc = _doc_with(rules)
    d = decided("hello", doc=doc)
    assert d.rule_id == "default"
    assert dict(d.skipped_rules) == {
        "Off": "disabled",
        "Legal team": "another team",
        "Night shift": "outside its hours",
        "Weekend": "another day",
        "No chat": "not from chat",
    }
    assert decided("hello", doc=doc, team=9).rule_id == "legal"
    assert decided("hello", doc=doc, now=datetime(2026, 11, 23, 23, 30)).rule_id == "nights"
    assert decided("hello", doc=doc, now=datetime(2026, 11, 28, 12)).rule_id == "weekend"
    assert decided("hello", doc=doc, source="chat").action == "block"


@pytest.mark.parametrize(
    ("when", "matches"),
    [
        (Conditions(users=(1,)), True),
        (Conditions(users=(2,)), False),
        (Conditions(api_keys=(1,)), True),
        (Conditions(min_tokens=100), False),
        (Conditions(max_tokens=100), True),
        (Conditions(requested_models=("gpt",)), False),
        (Conditions(max_complexity=0.5), True),
        (Conditions(min_level=1), False),
    ],
)
def test_each_condition(when, matches):
    doc = _doc_with([RulePolicy(id="r", name="R", when=when, models=("deep",)),
                     RulePolicy(id="default", name="D", models=(LOCAL,))])  # fmt: skip
    assert (decided("hello", doc=doc).rule_id == "r") is matches


def test_named_models_bring_their_fallbacks_and_selectors_dedupe():
    doc = _doc_with([RulePolicy(id="default", name="D", models=("gpt", CLOUD, LOCAL, "fast"))])
    assert names(decided("hi", doc=doc)) == ["gpt", "zdr-large", "fast", "deep"]


def test_context_window_is_hard_and_reported():
    d = decided("hello", tokens=3000, requested="fast")
    assert "fast" not in names(d)
    d = decided("hello", tokens=500_000)
    assert d.candidates == () and d.problem == "context_length_exceeded"


def test_rescore_uses_the_new_weights_for_replay():
    p = policy()
    signals = signals_of(p, [HARD], facts(), [])
    assert signals.complexity.features["has_code"] > 0
    heavy_code = default_document().model_copy(
        update={"complexity_weights": {"bias": -10.0, "has_code": 12.0}}
    )
    again = rescore(policy(heavy_code), signals)
    assert again.complexity.features == signals.complexity.features
    no_code = rescore(
        policy(heavy_code),
        replace(
            signals,
            complexity=replace(
                signals.complexity, features={**signals.complexity.features, "has_code": 0.0}
            ),
        ),
    )
    assert again.complexity.score > 0.5 > no_code.complexity.score
    assert route(policy(heavy_code), CATALOG, again).policy_version == 1


def test_document_validation_is_readable():
    doc = default_document()
    with pytest.raises(ValidationError, match="last rule is the default"):
        doc.model_validate(
            {
                **doc.model_dump(),
                "rules": [
                    {"id": "x1x1", "name": "X", "models": ["fast"], "when": {"min_level": 1}}
                ],
            }
        )
    levels = [lvl.model_dump() for lvl in doc.levels]
    levels[3]["allowed_zones"] = ["on_prem", "vendor"]
    with pytest.raises(ValidationError, match="may not allow a zone"):
        doc.model_validate({**doc.model_dump(), "levels": levels})
    with pytest.raises(ValidationError):
        CustomDetectorPolicy(name="bad", kind="regex", patterns=(r"(\w)\1",), level=2)
    with pytest.raises(ValidationError, match="needs a message"):
        RulePolicy(name="b", action="block")


def test_phone_regions_and_national_packs_reach_the_classifier():
    """The deployment's phone regions come in through CompiledPolicy (the
    engine stays pure); a pack switched on in the document is used."""
    text = "Büro 0221 1234567, NI AB 12 34 56 C"
    german = CompiledPolicy(1, default_document(), phone_regions=("DE",))
    american = CompiledPolicy(1, default_document(), phone_regions=("US",))
    assert [f.label for f in german.classifier(None).scan(text)] == ["PHONE"]
    assert american.classifier(None).scan(text) == []

    doc = default_document()
    detectors = {**doc.detectors, "uk_nino": doc.detectors["uk_nino"].model_copy(
        update={"enabled": True})}  # fmt: skip
    uk = CompiledPolicy(1, doc.model_copy(update={"detectors": detectors}), phone_regions=())
    assert [(f.label, f.level) for f in uk.classifier(None).scan(text)] == [("UK_NINO", 3)]
