"""Budgets and key limits on the live API: 429s, warnings, settlement, concurrency."""

import time
from datetime import timedelta

import httpx
import openai
import pytest
from django.utils import timezone

from apps.accounts.models import ApiKey
from apps.budgets.models import Budget, BudgetEvent
from apps.gateway.models import UsageRecord
from apps.policy.document import Conditions, RulePolicy
from apps.policy.services import (
    document_json,
    document_parse,
    policy_draft_edit,
    policy_publish,
)
from tests.conftest import add_fallbacks, make_cloud_model, make_local_model
from tests.support.budget_scenario import HI, fire

from .conftest import set_budget


def wait_settled(budget, rows):
    for _ in range(400):
        budget.refresh_from_db()
        if UsageRecord.objects.count() >= rows and budget.reserved_micros == 0:
            return budget
        time.sleep(0.025)
    raise AssertionError(f"not settled: {budget.reserved_micros} reserved")


def test_a_used_up_budget_answers_429_with_what_and_when(api, hub, cloud, team):
    make_cloud_model(cloud.url, name="cloud-mini")
    set_budget(team=team, limit=3, period="day")
    with pytest.raises(openai.RateLimitError) as refused:
        api.chat.completions.create(model="cloud-mini", messages=HI, max_tokens=5)
    error = refused.value.body
    assert error["code"] == "budget_exceeded"
    assert "team eng budget cannot cover this request" in error["message"]
    assert "$0.00 spent of $0.000003" in error["message"] and "resets at" in error["message"]
    retry = int(refused.value.response.headers["retry-after"])
    assert 0 < retry <= 24 * 3600
    row = UsageRecord.objects.get()
    assert (row.status, row.error_type) == ("rejected", "budget_exceeded")
    assert not cloud.requests


def test_an_answer_is_settled_to_its_ledger_cost(api, hub, cloud, team):
    make_cloud_model(cloud.url, name="cloud-mini")
    budget = set_budget(team=team, limit=1_000_000)
    api.chat.completions.create(model="cloud-mini", messages=HI, max_tokens=5)
    stream = api.chat.completions.create(
        model="cloud-mini", messages=HI, max_tokens=5, stream=True,
        stream_options={"include_usage": True},
    )  # fmt: skip
    assert next(c for c in stream if c.usage).usage.completion_tokens == 5
    budget = wait_settled(budget, 2)
    ledger = sum(UsageRecord.objects.values_list("cost_micros", flat=True))
    assert ledger > 0 and budget.spent_micros == ledger


def test_the_warning_threshold_sets_a_header_and_logs_an_event(api, hub, cloud, team):
    make_cloud_model(cloud.url, name="cloud-mini")
    set_budget(team=team, limit=10, warn_percent=40)
    raw = api.chat.completions.with_raw_response.create(
        model="cloud-mini", messages=HI, max_tokens=5
    )
    assert "team eng budget" in raw.headers["x-hybridhub-budget-warning"]
    assert BudgetEvent.objects.filter(kind="warning").count() == 1


def test_a_client_gone_mid_stream_is_charged_for_what_was_produced(hub, member, cloud, team):
    make_cloud_model(cloud.url, name="cloud-mini")
    cloud.token_delay = 0.05
    budget = set_budget(team=team, limit=1_000_000)
    body = {"model": "cloud-mini", "messages": HI, "max_tokens": 400, "stream": True}
    headers = {"Authorization": f"Bearer {member.key}"}
    with (
        httpx.Client(timeout=30) as http,
        http.stream("POST", f"{hub.api}/chat/completions", json=body, headers=headers) as reply,
    ):
        for line in reply.iter_lines():
            if '"content":"w2 "' in line:
                break
    budget = wait_settled(budget, 1)
    row = UsageRecord.objects.get()
    assert row.status == "cancelled"
    assert 0 < row.cost_micros == budget.spent_micros
    assert row.completion_tokens < 400


def test_a_fallback_over_budget_is_skipped(api, hub, cloud, team, tiny_gguf):
    cheap = make_cloud_model(cloud.url, name="cloud-mini")
    pricey = make_cloud_model(
        cloud.url, name="cloud-max", input_price_per_mtok=10**9, output_price_per_mtok=10**9
    )
    add_fallbacks(cheap, pricey)
    set_budget(team=team, limit=1000)
    cloud.fail_next(3, status=500)  # cloud-mini fails every try
    with pytest.raises(openai.RateLimitError) as refused:
        api.chat.completions.create(model="cloud-mini", messages=HI, max_tokens=5)
    assert refused.value.body["code"] == "budget_exceeded"
    assert len(cloud.requests) == 3  # cloud-max never ran
    row = UsageRecord.objects.get()
    assert "skipped cloud-max: over budget" in row.route_reasons


def test_local_models_answer_when_the_budget_is_used_up(api, hub, tiny_gguf, team):
    make_local_model(tiny_gguf, name="tiny", input_price_per_mtok=1000, output_price_per_mtok=1000)
    budget = set_budget(team=team, limit=0)
    answer = api.chat.completions.create(model="tiny", messages=HI, max_tokens=3)
    assert answer.choices[0].finish_reason in ("stop", "length")
    assert wait_settled(budget, 1).spent_micros > 0  # local use is counted


def test_a_downgrade_budget_routes_through_the_policy(api, hub, cloud, team, tiny_gguf, admin_user):
    make_local_model(tiny_gguf, name="tiny")
    make_cloud_model(cloud.url, name="cloud-mini")
    rule = RulePolicy(
        id="budget80", name="Over 80% of budget: on-prem",
        when=Conditions(min_budget_used=0.8), models=("@local",),
    )  # fmt: skip

    def add_rule(data):
        doc = document_parse(data)
        return document_json(doc.model_copy(update={"rules": (rule, *doc.rules)}))

    policy_draft_edit(actor=admin_user, summary="budget rule", change=add_rule)
    policy_publish(actor=admin_user)
    budget = set_budget(team=team, limit=1_000_000, on_limit="downgrade")
    Budget.objects.filter(pk=budget.pk).update(spent_micros=850_000)
    raw = api.chat.completions.with_raw_response.create(
        model="cloud-mini", messages=HI, max_tokens=3
    )
    assert raw.headers["x-hybridhub-route"] == "local:tiny"
    assert "budget80" in raw.headers["x-hybridhub-policy"]
    row = UsageRecord.objects.get()
    assert row.budget_used == 0.85 and row.rule_id == "budget80"
    assert not cloud.requests


def test_rate_limited_keys_get_429_with_retry_after(hub, member, cloud):
    make_cloud_model(cloud.url, name="cloud-mini")
    ApiKey.objects.filter(user=member.user).update(rpm_limit=2)
    client = openai.OpenAI(base_url=hub.api, api_key=member.key, max_retries=0)
    for _ in range(2):
        client.chat.completions.create(model="cloud-mini", messages=HI, max_tokens=1)
    with pytest.raises(openai.RateLimitError) as refused:
        client.chat.completions.create(model="cloud-mini", messages=HI, max_tokens=1)
    assert refused.value.body["code"] == "rate_limited"
    assert 1 <= int(refused.value.response.headers["retry-after"]) <= 60


def test_an_expired_key_is_refused(hub, member, cloud):
    ApiKey.objects.filter(user=member.user).update(expires_at=timezone.now() - timedelta(seconds=1))
    client = openai.OpenAI(base_url=hub.api, api_key=member.key, max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        client.models.list()


def test_concurrent_requests_never_overspend_sqlite(hub, member, cloud, team):
    make_cloud_model(cloud.url, name="cloud-mini")
    cloud.token_delay = 0.01
    # One request's worst case is 5 µ$ and its real cost 4 µ$: room for a few.
    budget = set_budget(team=team, limit=20, period="day")
    outcomes = fire(hub.api, member.key, count=50)
    assert set(outcomes) <= {"ok", "budget_exceeded"}, outcomes
    assert 1 <= outcomes.count("ok") <= 5
    budget = wait_settled(budget, 50)
    ledger = sum(UsageRecord.objects.filter(status="ok").values_list("cost_micros", flat=True))
    assert budget.spent_micros == ledger <= budget.limit_micros
