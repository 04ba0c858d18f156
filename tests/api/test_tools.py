"""Tool calling, structured output, logprobs and the other OpenAI fields,
driven by the official openai client against a live hub and the mock vendor."""

import json

import httpx
import openai
import pytest

from apps.gateway.models import UsageRecord
from tests.conftest import make_cloud_model, make_local_model

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"text": {"type": "string"}},
            "required": ["text"],
        },
    },
}
ASK = [{"role": "user", "content": "weather in Paris"}]


def test_tool_call_round_trip_non_streamed(client, models, cloud):
    first = client.chat.completions.create(
        model="cloud-mini", messages=ASK, tools=[WEATHER], tool_choice="required"
    )
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    (call,) = choice.message.tool_calls
    assert (call.id, call.type, call.function.name) == ("call_mock1", "function", "get_weather")
    assert json.loads(call.function.arguments) == {"text": "weather in Paris"}
    sent = cloud.requests[-1]
    assert sent["tools"] == [WEATHER] and sent["tool_choice"] == "required"

    conversation = [
        *ASK,
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21C"},
    ]
    answer = client.chat.completions.create(
        model="cloud-mini", messages=conversation, tools=[WEATHER]
    )
    assert answer.choices[0].message.content == "tool call_mock1 said: sunny, 21C"
    assert answer.choices[0].finish_reason == "stop"
    # The assistant turn and the tool turn reached the vendor intact.
    assistant, tool = cloud.requests[-1]["messages"][1:]
    assert assistant == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_mock1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": call.function.arguments},
            }
        ],
    }
    assert tool == {"role": "tool", "content": "sunny, 21C", "tool_call_id": "call_mock1"}
    assert [r.finish_reason for r in UsageRecord.objects.order_by("created_at")] == [
        "tool_calls",
        "stop",
    ]


def tool_calls_joined(chunks) -> dict[int, dict[str, str]]:
    """The streamed ``tool_calls`` deltas of ``chunks`` joined per call index,
    as a client rebuilds them."""
    calls: dict[int, dict[str, str]] = {}
    for chunk in chunks:
        for piece in chunk.choices[0].delta.tool_calls or ():
            call = calls.setdefault(piece.index, {"id": "", "name": "", "arguments": ""})
            call["id"] += piece.id or ""
            call["name"] += (piece.function.name or "") if piece.function else ""
            call["arguments"] += (piece.function.arguments or "") if piece.function else ""
    return calls


def test_tool_calls_stream_as_deltas(client, models, cloud):
    second = {**WEATHER, "function": {**WEATHER["function"], "name": "get_time"}}
    stream = client.chat.completions.create(
        model="cloud-mini", messages=ASK, tools=[WEATHER, second], tool_choice="required",
        stream=True,
    )  # fmt: skip
    chunks = [c for c in stream if c.choices]
    calls = tool_calls_joined(chunks)
    assert calls == {
        0: {"id": "call_mock1", "name": "get_weather", "arguments": '{"text": "weather in Paris"}'},
        1: {"id": "call_mock2", "name": "get_time", "arguments": "{}"},
    }
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    assert UsageRecord.objects.get().status == "ok"


def test_named_tool_choice_and_options_are_forwarded(client, models, cloud):
    client.chat.completions.create(
        model="cloud-mini", messages=ASK, tools=[WEATHER],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        parallel_tool_calls=False, seed=7, presence_penalty=0.5, frequency_penalty=-0.5,
        logit_bias={"50256": -100}, user="u-1", metadata={"app": "wiki"},
        reasoning_effort="low", service_tier="auto", max_completion_tokens=9, top_p=0.5,
    )  # fmt: skip
    sent = cloud.requests[-1]
    expected = {
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "parallel_tool_calls": False, "seed": 7, "presence_penalty": 0.5,
        "frequency_penalty": -0.5, "logit_bias": {"50256": -100}, "user": "u-1",
        "metadata": {"app": "wiki"}, "reasoning_effort": "low", "service_tier": "auto",
        "max_completion_tokens": 9, "top_p": 0.5,
    }  # fmt: skip
    assert {k: sent.get(k) for k in expected} == expected
    assert "max_tokens" not in sent  # reasoning models reject it


@pytest.mark.parametrize("stream", [False, True])
def test_structured_output_on_cloud(client, models, cloud, stream):
    schema = {
        "type": "json_schema",
        "json_schema": {
            "name": "answer",
            "schema": {"type": "object", "properties": {"answer": {"type": "string"}}},
            "strict": True,
        },
    }
    result = client.chat.completions.create(
        model="cloud-mini", messages=ASK, response_format=schema, stream=stream
    )
    if stream:
        text = "".join(c.choices[0].delta.content or "" for c in result if c.choices)
    else:
        text = result.choices[0].message.content
    assert json.loads(text) == {"answer": "8 words"}
    assert cloud.requests[-1]["response_format"] == schema


def test_logprobs_come_back(client, models, cloud):
    completion = client.chat.completions.create(
        model="cloud-mini", messages=ASK, max_tokens=2, logprobs=True, top_logprobs=2
    )
    tokens = [(t.token, t.logprob) for t in completion.choices[0].logprobs.content]
    assert tokens == [("w0 ", -0.25), ("w1 ", -0.25)]
    assert cloud.requests[-1]["top_logprobs"] == 2
    stream = client.chat.completions.create(
        model="cloud-mini", messages=ASK, max_tokens=2, logprobs=True, stream=True
    )
    streamed = [t.token for c in stream if c.choices and c.choices[0].logprobs
                for t in c.choices[0].logprobs.content]  # fmt: skip
    assert streamed == ["w0 ", "w1 "]


def test_a_local_model_that_cannot_call_tools_hands_over_where_policy_allows(client, models):
    raw = client.chat.completions.with_raw_response.create(
        model="tiny", messages=ASK, tools=[WEATHER]
    )
    assert raw.headers["x-hybridhub-route"] == "cloud:cloud-mini"
    assert (
        "requested tiny not used: cannot do tools"
        in raw.parse().model_extra["hybridhub"]["reasons"]
    )
    # Strict model: an error naming the model instead of a substitute.
    with pytest.raises(openai.BadRequestError) as error:
        client.chat.completions.create(
            model="tiny", messages=ASK, tools=[WEATHER],
            extra_headers={"X-HybridHub-Strict-Model": "true"},
        )  # fmt: skip
    assert (error.value.body["code"], error.value.body["param"]) == ("model_not_available", "model")
    assert "cannot do tools" in error.value.body["message"]


def test_a_model_an_admin_says_cannot_call_tools_hands_them_over(client, hub, cloud):
    """Its server forwards every field; the admin knows this model cannot
    call tools or keep to a schema (LanguageModel.can_call_tools…)."""
    make_cloud_model(cloud.url, name="plain", can_call_tools=False, can_structured_output=False)
    make_cloud_model(cloud.url)
    json_mode = {"response_format": {"type": "json_object"}}
    for extra, field in [({"tools": [WEATHER]}, "tools"), (json_mode, "response_format")]:
        raw = client.chat.completions.with_raw_response.create(model="plain", messages=ASK, **extra)
        assert raw.headers["x-hybridhub-route"] == "cloud:cloud-mini"
        assert cloud.requests[-1]["model"] == "up-cloud-mini" and field in cloud.requests[-1]
        reasons = raw.parse().model_extra["hybridhub"]["reasons"]
        assert f"requested plain not used: cannot do {field}" in reasons
    # Without them, it answers as asked.
    raw = client.chat.completions.with_raw_response.create(model="plain", messages=ASK)
    assert raw.headers["x-hybridhub-route"] == "cloud:plain"
    assert not any(r["model"] == "up-plain" and "tools" in r for r in cloud.requests)


def test_no_model_for_a_feature_says_which_field(client, hub, tiny_gguf):
    make_local_model(tiny_gguf, name="tiny")
    with pytest.raises(openai.BadRequestError) as error:
        client.chat.completions.create(model="tiny", messages=ASK, tools=[WEATHER])
    body = error.value.body
    assert (body["code"], body["param"]) == ("unsupported_parameter", "tools")
    with pytest.raises(openai.BadRequestError) as error:
        client.chat.completions.create(model="auto", messages=ASK, logprobs=True)
    assert error.value.body["param"] == "logprobs"
    assert [r.status for r in UsageRecord.objects.all()] == ["rejected", "rejected"]


def test_tool_arguments_are_classified_like_messages(client, models, cloud):
    """An email inside a tool call's arguments keeps the conversation at the
    level of an email in a message: it must not reach the vendor as is."""
    conversation = [
        *ASK,
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"to": "jane.doe@example.com"}'}},
        ]},
        {"role": "tool", "tool_call_id": "c1", "content": "done"},
    ]  # fmt: skip
    raw = client.chat.completions.with_raw_response.create(
        model="auto", messages=conversation, max_tokens=2
    )
    assert raw.headers["x-hybridhub-level"] != "public"
    assert all("jane.doe@example.com" not in json.dumps(r) for r in cloud.requests)


BAD = [
    ({"stream": "yes"}, "stream"),
    ({"max_tokens": "10"}, "max_tokens"),
    ({"seed": "x"}, "seed"),
    ({"max_tokens": 10**400}, "max_tokens"),
    ({"max_tokens": 2**64}, "max_tokens"),
    ({"temperature": 10**400}, "temperature"),
    ({"seed": 2**64}, "seed"),
    ({"user": "a\x00b"}, "user"),
    ({"stop": "\ud800"}, "stop"),
    ({"messages": [{"role": "user", "content": "hi \udc00"}]}, "messages.0.content"),
    ({"tools": [{"type": "function", "function": {"name": "bad name!"}}]}, "tools.0"),
    ({"response_format": {"type": "xml"}}, "response_format.type"),
    ({"messages": [{"role": "tool", "content": "x"}]}, "messages.0"),
    ({"logit_bias": {"12": 500}}, "logit_bias"),
]


@pytest.mark.parametrize(("change", "param"), BAD)
def test_values_the_schema_refuses(hub, member, models, change, param):
    body = {"model": "cloud-mini", "messages": ASK, **change}
    # json.dumps writes lone surrogates as \u escapes, as a hostile client would.
    response = httpx.post(
        f"{hub.api}/chat/completions",
        content=json.dumps(body),
        headers={"Authorization": f"Bearer {member.key}", "Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert (error["param"] or "").startswith(param), error


def test_max_tokens_beyond_every_window_names_max_tokens(client, models):
    with pytest.raises(openai.BadRequestError) as error:
        client.chat.completions.create(model="cloud-mini", messages=ASK, max_tokens=10_000_000)
    assert error.value.body["param"] == "max_tokens"
    assert "max_tokens is too large" in error.value.body["message"]


@pytest.mark.parametrize("number", ["1" + "0" * 5000, "1e400", "NaN", "-Infinity"])
def test_numbers_json_cannot_hold_are_refused(hub, member, models, number):
    """5000 digits is past Python's int-parsing limit; 1e400 parses to inf."""
    body = '{"model": "cloud-mini", "messages": [{"role": "user", "content": "hi"}], '
    body += f'"temperature": {number}}}'
    response = httpx.post(
        f"{hub.api}/chat/completions",
        content=body,
        headers={"Authorization": f"Bearer {member.key}", "Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["type"] == "invalid_request_error"
