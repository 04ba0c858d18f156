"""The official openai client against a live HybridHub, local and cloud routes."""

import httpx
import openai
import pytest

from apps.gateway.models import UsageRecord
from apps.policy.document import default_document
from tests.conftest import make_local_model

HI = [{"role": "user", "content": "hello world"}]


def test_non_streamed_local_completion(client, models):
    raw = client.chat.completions.with_raw_response.create(
        model="tiny", messages=HI, max_tokens=5, temperature=0
    )
    completion = raw.parse()
    assert completion.object == "chat.completion"
    assert completion.model == "tiny"
    assert completion.choices[0].message.content
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage.completion_tokens == 5
    assert raw.headers["x-hybridhub-route"] == "local:tiny"
    assert raw.headers["x-hybridhub-level"] == "public"
    assert "rule: Everything else runs locally" in raw.headers["x-hybridhub-reason"]
    info = completion.model_extra["hybridhub"]
    assert (info["privacy_zone"], info["level"], info["rule"]) == (
        "on_prem",
        "public",
        "Everything else runs locally",
    )

    row = UsageRecord.objects.get()
    assert (row.status, row.model_name, row.privacy_zone) == ("ok", "tiny", "on_prem")
    assert (row.prompt_tokens, row.completion_tokens) == (completion.usage.prompt_tokens, 5)
    assert not row.tokens_estimated and row.ttft_ms is not None and row.latency_ms >= row.ttft_ms


def test_streamed_local_completion(client, models):
    stream = client.chat.completions.create(
        model="tiny", messages=HI, max_tokens=12, temperature=0, stream=True,
        stream_options={"include_usage": True},
    )  # fmt: skip
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 1
    assert chunks[-1].usage.completion_tokens == 12
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"
    non_streamed = client.chat.completions.create(
        model="tiny", messages=HI, max_tokens=12, temperature=0
    )
    assert text == non_streamed.choices[0].message.content
    assert UsageRecord.objects.filter(status="ok", stream=True).count() == 1


def test_cloud_completions_streamed_and_not(client, models, cloud):
    completion = client.chat.completions.create(model="cloud-mini", messages=HI, max_tokens=3)
    assert completion.choices[0].message.content == "w0 w1 w2 "
    assert completion.usage.completion_tokens == 3
    assert cloud.requests[-1]["model"] == "up-cloud-mini"

    stream = client.chat.completions.create(
        model="cloud-mini", messages=HI, max_tokens=4, stream=True
    )
    pieces = [
        c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta.content
    ]
    assert pieces == ["w0 ", "w1 ", "w2 ", "w3 "]
    assert cloud.requests[-1]["stream_options"] == {"include_usage": True}

    rows = UsageRecord.objects.order_by("created_at")
    assert [r.privacy_zone for r in rows] == ["vendor", "vendor"]
    assert rows[1].completion_tokens == 4 and not rows[1].tokens_estimated
    # 2 prompt words at $0.15/M and 4 completion tokens at $0.60/M, rounded up
    assert rows[1].cost_micros == -(-(2 * 150_000 + 4 * 600_000) // 1_000_000)


def test_cloud_without_usage_is_counted_locally_and_flagged(client, models, cloud):
    cloud.include_usage = False
    client.chat.completions.create(
        model="cloud-mini", messages=HI, max_tokens=4, stream=True
    ).close()
    list(client.chat.completions.create(model="cloud-mini", messages=HI, max_tokens=4, stream=True))
    row = UsageRecord.objects.filter(status="ok").latest("created_at")
    assert row.tokens_estimated and row.completion_tokens > 0


def test_models_lists_auto_and_what_the_team_may_use(client, models, hub, tiny_gguf, outsider):
    private = make_local_model(tiny_gguf, name="legal-private")
    private.teams.add(outsider.team)
    listed = [m.id for m in client.models.list()]
    assert listed[0] == "auto"
    assert {"tiny", "cloud-mini"} <= set(listed) and "legal-private" not in listed


def test_auto_follows_the_local_first_policy(client, models, cloud):
    raw = client.chat.completions.with_raw_response.create(model="auto", messages=HI, max_tokens=2)
    assert raw.headers["x-hybridhub-route"] == "local:tiny"
    hard = (
        "Analyze and compare these two designs step by step, explain why, and recommend one.\n"
        "1. It must scale\n2. It should be cheap\n3. Ensure durability\nWrite a detailed report."
    )
    raw = client.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": hard}], max_tokens=2
    )
    assert raw.headers["x-hybridhub-route"] == "cloud:cloud-mini"
    assert "rule: Hard requests go to a model capable of them" in raw.headers["x-hybridhub-reason"]
    rows = UsageRecord.objects.order_by("created_at")
    assert [r.requested_model for r in rows] == ["auto", "auto"]
    threshold = default_document().rules[1].when.min_complexity
    assert rows[1].complexity >= threshold and rows[1].rule_id == "complex"
    assert rows[1].complexity_features["analysis_words"] > 0


def test_errors_are_openai_errors(client, models, hub, member):
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="nope", messages=HI)
    assert caught.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="tiny", messages=[])
    assert caught.value.body["param"] == "messages"
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="tiny", messages=[{"role": "wizard", "content": "x"}])
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="tiny", messages=HI, temperature=5)
    bad_key = openai.OpenAI(base_url=hub.api, api_key="hh_bad_key", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        bad_key.models.list()
    assert caught.value.code == "invalid_api_key"
    rejected = UsageRecord.objects.get(status="rejected")
    assert rejected.error_type == "model_not_found"


def test_bad_json_and_oversize_bodies(hub, member, settings):
    headers = {"Authorization": f"Bearer {member.key}", "Content-Type": "application/json"}
    response = httpx.post(hub.api + "/chat/completions", content=b"{not json", headers=headers)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"

    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    big = {"model": "tiny", "messages": [{"role": "user", "content": "x" * 5000}]}
    response = httpx.post(hub.api + "/chat/completions", json=big, headers=headers)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"


def test_context_window_overflow_is_a_400(client, models):
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="tiny", messages=[{"role": "user", "content": "word " * 130_000}]
        )
    assert caught.value.code == "context_length_exceeded"


def test_openapi_docs_page_works(hub):
    assert httpx.get(hub.api + "/docs").status_code == 200
    schema = httpx.get(hub.api + "/openapi.json").json()
    assert "/v1/chat/completions" in schema["paths"]
