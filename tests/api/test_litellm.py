"""LiteLLM's SDK against the live hub, as internal tools call it
(``model="openai/<name>"`` with ``api_base``): plain chat, a tool-calling
round trip and structured output, streamed and not, and the vendor's errors
arriving as the matching LiteLLM exceptions.

LiteLLM fetches a model price list at import and can look up other things
on its own; the ``offline`` fixture lets nothing but loopback through and
fails the test if anything tried.
"""

import asyncio
import json
import socket

import pytest
from pydantic import BaseModel

from apps.gateway.models import UsageRecord
from tests.api.test_tools import ASK, WEATHER
from tests.conftest import add_fallbacks, make_cloud_model

# Read by LiteLLM at import and when it first needs its price list.
OFFLINE_ENV = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_OFFLINE_MODE": "true"}
LOOPBACK = {"127.0.0.1", "::1", "localhost"}

# LiteLLM's own types trip a pydantic warning when it builds them.
pytestmark = pytest.mark.filterwarnings("ignore:.*ReadOnly.*:UserWarning")


class Answer(BaseModel):
    answer: str


@pytest.fixture
def offline(monkeypatch):
    """Any DNS lookup or connection beyond loopback, from any thread, is
    refused and recorded; the test fails if there was one."""
    attempts = []
    real_getaddrinfo, real_connect = socket.getaddrinfo, socket.socket.connect

    def getaddrinfo(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else host
        if name not in LOOPBACK:
            attempts.append(name)
            raise socket.gaierror(socket.EAI_NONAME, "tests reach loopback only")
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in LOOPBACK:
            attempts.append(address)
            raise OSError("tests reach loopback only")
        return real_connect(sock, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect)
    yield attempts
    assert attempts == [], f"LiteLLM tried to reach {attempts}"


@pytest.fixture
def litellm(offline, monkeypatch):
    for name, value in OFFLINE_ENV.items():
        monkeypatch.setenv(name, value)
    return pytest.importorskip("litellm")


@pytest.fixture
def complete(litellm, hub, member):
    """litellm.completion against the hub, as the member; no retries of its
    own, so every vendor call the test sees is the hub's."""

    def call(model="cloud-mini", **kwargs):
        return litellm.completion(
            model=f"openai/{model}", api_base=hub.api, api_key=member.key, max_retries=0,
            timeout=30, **kwargs,
        )  # fmt: skip

    return call


def text_of(litellm, result, stream):
    if not stream:
        return result.choices[0].message.content
    return "".join(c.choices[0].delta.content or "" for c in result if c.choices)


def test_plain_chat_streamed_and_not(litellm, complete, models, cloud):
    reply = complete(messages=ASK, max_tokens=3)
    assert reply.choices[0].message.content == "w0 w1 w2 "
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (3, 3)
    assert cloud.requests[-1]["model"] == "up-cloud-mini"

    chunks = list(complete(messages=ASK, max_tokens=4, stream=True))
    pieces = [
        c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content
    ]
    assert pieces == ["w0 ", "w1 ", "w2 ", "w3 "]
    assert chunks[-1].choices[0].finish_reason == "length"

    local = complete(model="tiny", messages=ASK, max_tokens=5, temperature=0)
    assert local.choices[0].finish_reason == "length" and local.usage.completion_tokens == 5
    headers = local._hidden_params["additional_headers"]
    assert headers["llm_provider-x-hybridhub-route"] == "local:tiny"
    rows = UsageRecord.objects.order_by("created_at")
    assert [(r.status, r.model_name, r.stream) for r in rows] == [
        ("ok", "cloud-mini", False),
        ("ok", "cloud-mini", True),
        ("ok", "tiny", False),
    ]


def test_async_streamed_chat(litellm, hub, member, models, cloud):
    """acompletion: LiteLLM's async transport, the one async tools use."""

    async def chat():
        stream = await litellm.acompletion(
            model="openai/cloud-mini", api_base=hub.api, api_key=member.key, max_retries=0,
            timeout=30, messages=ASK, max_tokens=3, stream=True,
        )  # fmt: skip
        return [c.choices[0].delta.content async for c in stream if c.choices]

    assert "".join(filter(None, asyncio.run(chat()))) == "w0 w1 w2 "
    assert UsageRecord.objects.get().stream


@pytest.mark.parametrize("stream", [False, True])
def test_tool_call_round_trip(litellm, complete, models, cloud, stream):
    first = complete(messages=ASK, tools=[WEATHER], tool_choice="required", stream=stream)
    if stream:
        first = litellm.stream_chunk_builder(list(first), messages=ASK)
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls
    assert (call.id, call.function.name) == ("call_mock1", "get_weather")
    assert json.loads(call.function.arguments) == {"text": "weather in Paris"}
    assert cloud.requests[-1]["tool_choice"] == "required"

    conversation = [
        *ASK,
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21C"},
    ]
    answer = complete(messages=conversation, tools=[WEATHER], stream=stream)
    assert text_of(litellm, answer, stream) == "tool call_mock1 said: sunny, 21C"
    # The assistant's call and the tool's result reached the vendor intact.
    assistant, tool = cloud.requests[-1]["messages"][1:]
    assert assistant["tool_calls"][0]["id"] == "call_mock1"
    assert assistant["tool_calls"][0]["function"]["arguments"] == call.function.arguments
    assert tool == {"role": "tool", "content": "sunny, 21C", "tool_call_id": "call_mock1"}
    assert [r.finish_reason for r in UsageRecord.objects.order_by("created_at")] == [
        "tool_calls",
        "stop",
    ]


@pytest.mark.parametrize("stream", [False, True])
def test_structured_output(litellm, complete, models, cloud, stream):
    """A pydantic class, which LiteLLM sends as a json_schema response_format."""
    result = complete(messages=ASK, response_format=Answer, stream=stream)
    assert Answer.model_validate_json(text_of(litellm, result, stream)) == Answer(answer="8 words")
    sent = cloud.requests[-1]["response_format"]
    assert sent["type"] == "json_schema"
    assert sent["json_schema"]["schema"]["properties"] == {
        "answer": {"title": "Answer", "type": "string"}
    }


@pytest.mark.parametrize(
    ("status", "exception"),
    [
        (400, "BadRequestError"),
        (404, "NotFoundError"),
        (409, "APIError"),  # LiteLLM has no class of its own for 409
        (422, "BadRequestError"),  # LiteLLM's mapping of 422
    ],
)
def test_vendor_4xx_arrives_as_the_matching_exception(litellm, complete, cloud, status, exception):
    make_cloud_model(cloud.url, name="cloud-mini")
    cloud.fail_next(3, status=status, message="messages[1]: bad role")
    with pytest.raises(getattr(litellm, exception)) as error:
        complete(messages=ASK, max_tokens=2)
    assert error.value.status_code == status
    assert "messages[1]: bad role" in str(error.value)
    # Only a conflict is worth trying again (as OpenAI's SDK does); the hub
    # tried, not LiteLLM.
    assert len(cloud.requests) == (3 if status == 409 else 1)
    assert UsageRecord.objects.get().status == "error"


def test_every_route_rate_limited_is_a_rate_limit_error_with_retry_after(complete, litellm, cloud):
    model = make_cloud_model(cloud.url, name="limited")
    model.provider.max_retries = 0
    model.provider.save()
    add_fallbacks(model, make_cloud_model(cloud.url, name="limited-backup"))
    cloud.fail_next(1, status=429, retry_after="2")
    cloud.fail_next(1, status=429, retry_after="7")
    with pytest.raises(litellm.RateLimitError) as error:
        complete(model="limited", messages=ASK, max_tokens=2)
    assert error.value.status_code == 429
    assert error.value.response.headers["retry-after"] == "7"  # the largest seen
    assert len(cloud.requests) == 2  # each route once; LiteLLM did not hammer
    assert UsageRecord.objects.get().status == "error"
