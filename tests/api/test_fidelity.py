"""Details of issue #11 that had no test of their own: what the vendor
receives of a conversation's roles and names, a stream cut before its first
token falling over like any failure, tool definitions classified like
messages, max_tokens beyond every window on ``auto``, the field named in a
refusal of a union-typed field, model_busy's Retry-After after a wait, and
strict mode for a named model too small for the prompt."""

import json

import httpx
import openai
import pytest

from apps.gateway.models import UsageRecord
from tests.conftest import add_fallbacks, make_cloud_model, make_local_model


def test_developer_turns_and_names_reach_the_vendor_as_sent(client, models, cloud):
    messages = [
        {"role": "developer", "content": "Be brief."},
        {"role": "user", "content": "hello", "name": "mia"},
    ]
    client.chat.completions.create(model="cloud-mini", messages=messages, max_tokens=2)
    assert cloud.requests[-1]["messages"] == messages


def test_stream_cut_before_the_first_token_falls_over(client, hub, cloud, tiny_gguf):
    model = make_cloud_model(cloud.url, name="cloud-mini")
    add_fallbacks(model, make_local_model(tiny_gguf, name="tiny"))
    cloud.cut_stream_after = 0
    stream = client.chat.completions.with_raw_response.create(
        model="cloud-mini", messages=[{"role": "user", "content": "hello"}], max_tokens=3,
        stream=True,
    )  # fmt: skip
    assert stream.headers["x-hybridhub-route"] == "local:tiny"
    chunks = list(stream.parse())
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"
    row = UsageRecord.objects.get()
    assert (row.status, row.model_name) == ("ok", "tiny")
    assert row.attempts == [{"model": "cloud-mini", "error": "upstream_stream_truncated"}] * 3


def test_tool_definitions_are_classified_like_messages(client, models, cloud):
    """An email in a tool's description raises the request's level like one in
    a message: under the default policy it stays on-prem."""
    tool = {
        "type": "function",
        "function": {
            "name": "notify",
            "description": "Mail the report to jane.doe@example.com",
            "parameters": {"type": "object", "properties": {}},
        },
    }
    ask = [{"role": "user", "content": "Send the report"}]
    with pytest.raises(openai.BadRequestError) as error:
        # tiny (ctransformers) cannot call tools, and the cloud may not see the email.
        client.chat.completions.create(model="auto", messages=ask, tools=[tool], max_tokens=2)
    assert error.value.body["param"] == "tools"
    assert all("jane.doe@example.com" not in json.dumps(r) for r in cloud.requests)
    assert UsageRecord.objects.get().level_name != "public"


def test_max_tokens_beyond_every_window_on_auto(hub, member, models):
    response = httpx.post(
        f"{hub.api}/chat/completions",
        json={"model": "auto", "messages": [{"role": "user", "content": "hi"}],
              "max_tokens": 10_000_000},
        headers={"Authorization": f"Bearer {member.key}"},
    )  # fmt: skip
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "max_tokens"


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"messages": [{"role": "user", "content": [{"type": "text", "text": "\ud800"}]}]},
         "messages.0.content"),
        ({"tool_choice": "sometimes"}, "tool_choice"),
    ],
)  # fmt: skip
def test_a_refused_union_field_is_named_as_the_caller_sent_it(hub, member, models, change, param):
    """Not "messages.0.content.function-after[_valid_unicode(), str]"."""
    response = httpx.post(
        f"{hub.api}/chat/completions",
        content=json.dumps({"model": "cloud-mini", "messages": [{"role": "user", "content": "hi"}],
                            **change}),
        headers={"Authorization": f"Bearer {member.key}", "Content-Type": "application/json"},
    )  # fmt: skip
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == param and error["message"].startswith(f"{param}: ")


def test_a_wait_past_the_queue_timeout_is_model_busy_with_retry_after(hub, member, slow_gguf):
    """The full-queue refusal has its test (test_failures); this is the other
    way to be busy: admitted, then no turn within queue_timeout_seconds."""
    make_local_model(slow_gguf, name="slow", max_queue=1, queue_timeout_seconds=0.5)
    body = {"model": "slow", "messages": [{"role": "user", "content": "hello"}],
            "max_tokens": 1500, "temperature": 0, "stream": True}  # fmt: skip
    headers = {"Authorization": f"Bearer {member.key}"}
    with httpx.stream(
        "POST", f"{hub.api}/chat/completions", json=body, headers=headers, timeout=30
    ) as busy:
        lines = busy.iter_lines()
        next(lines)  # generating for this one
        response = httpx.post(f"{hub.api}/chat/completions", json=body, headers=headers, timeout=30)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    error = response.json()["error"]
    assert error["code"] == "model_busy" and "no turn within 0.5s" in error["message"]


def test_a_named_model_too_small_for_the_prompt_is_replaced_only_when_not_strict(
    client, hub, cloud, tiny_gguf
):
    """The issue's case: model="smollm2" with a long prompt was answered by a
    cloud model without a word. Now the reasons say so, and strict mode refuses."""
    make_local_model(tiny_gguf, name="tiny", context_window=256)
    make_cloud_model(cloud.url, name="cloud-mini")
    long = [{"role": "user", "content": "word " * 400}]
    raw = client.chat.completions.with_raw_response.create(
        model="tiny", messages=long, max_tokens=2
    )
    assert raw.headers["x-hybridhub-route"] == "cloud:cloud-mini"
    assert "requested tiny not used" in raw.headers["x-hybridhub-reason"]
    with pytest.raises(openai.BadRequestError) as error:
        client.chat.completions.create(
            model="tiny", messages=long, max_tokens=2,
            extra_headers={"X-HybridHub-Strict-Model": "true"},
        )  # fmt: skip
    body = error.value.body
    assert (body["code"], body["param"]) == ("model_not_available", "model")
    assert "exceed its 256-token window" in body["message"]
    assert len(cloud.requests) == 1
