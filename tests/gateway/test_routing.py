"""route_decide is pure: catalogues are built by hand, no database."""

import pytest

from apps.gateway.errors import GatewayError
from apps.gateway.routing import route_decide
from apps.providers.catalog import Catalog, ModelSpec, ProviderSpec

LOCAL = ProviderSpec(1, "local", "local_ctransformers", "on_prem", "", "", 60, 0, "v")
CLOUD = ProviderSpec(2, "vendor", "openai_compatible", "vendor", "http://x", "", 60, 2, "v")


def model(id, name, provider, *, window=4096, teams=(), fallbacks=()):
    return ModelSpec(
        id,
        name,
        provider,
        name,
        window,
        1_000_000,
        2_000_000,
        frozenset(teams),
        tuple(fallbacks),
        None,
        "v",
    )


CATALOG = Catalog(
    models={
        m.name: m
        for m in [
            model(1, "fast", LOCAL, window=2048, fallbacks=["deep", "gpt"]),
            model(2, "deep", LOCAL, window=8192),
            model(3, "gpt", CLOUD, window=128000, fallbacks=["fast"]),
            model(4, "legal-only", CLOUD, teams=[7]),
        ]
    },
    loaded_at=1,
)


def decide(requested, team_id=1, auto="", tokens=10):
    return route_decide(
        catalog=CATALOG,
        requested_model=requested,
        team_id=team_id,
        auto_model=auto,
        estimated_tokens=tokens,
    )


def names(decision):
    return [m.name for m in decision.candidates]


def test_requested_model_then_its_fallbacks_in_order():
    decision = decide("fast")
    assert names(decision) == ["fast", "deep", "gpt"]
    assert decision.reasons == ("requested model fast", "fallbacks: deep, gpt")


def test_auto_uses_the_configured_default_or_the_first_on_prem_model():
    assert names(decide("auto", auto="gpt")) == ["gpt", "fast"]
    assert decide("auto", auto="gpt").reasons[0] == "auto: default model gpt"
    assert names(decide("auto"))[0] in ("fast", "deep")
    assert "first on-prem model" in decide("auto").reasons[0]


def test_models_of_other_teams_do_not_exist_for_you():
    assert names(decide("legal-only", team_id=7)) == ["legal-only"]
    with pytest.raises(GatewayError) as caught:
        decide("legal-only", team_id=1)
    assert (caught.value.status, caught.value.code) == (404, "model_not_found")


def test_context_window_is_a_hard_constraint():
    decision = decide("fast", tokens=3000)
    assert names(decision) == ["deep", "gpt"]
    assert any("skipped fast" in r and "2048" in r for r in decision.reasons)
    with pytest.raises(GatewayError) as caught:
        decide("deep", tokens=9000)
    assert caught.value.code == "context_length_exceeded"


def test_unknown_model():
    with pytest.raises(GatewayError) as caught:
        decide("gpt-17")
    assert caught.value.status == 404


def test_cost_is_integer_micro_dollars_rounded_up():
    gpt = CATALOG.get("gpt")
    assert gpt.cost_micros(1_000_000, 0) == 1_000_000
    assert gpt.cost_micros(1, 1) == 3  # 1 + 2 micro-dollars per token
    assert gpt.cost_micros(1, 0) == 1
    cheap = model(9, "c", CLOUD)
    assert ModelSpec.cost_micros(cheap, 0, 0) == 0
