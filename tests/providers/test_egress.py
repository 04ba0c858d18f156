"""The egress guard is structural: an adapter that forgets it still cannot send.

A new kind of cloud adapter is registered that posts straight to the spy
vendor without any check; ``adapter_for`` hands it out only behind the guard.
"""

import asyncio

import httpx
import pytest

from apps.core.privacy import PrivacyZone
from apps.providers import adapters
from apps.providers.adapters import (
    ChatMessage,
    GenerationParams,
    TextDelta,
    Tool,
    ToolCall,
    Usage,
    adapter_for,
)
from apps.providers.egress import (
    Egress,
    EgressRefused,
    GuardedAdapter,
    outgoing_fields,
    outgoing_texts,
    texts_digest,
    with_texts,
)
from apps.providers.specs import ModelSpec, ProviderSpec

SECRET = "card 4111 1111 1111 1111"


class ForgetfulCloudAdapter:
    """A vendor adapter written by someone who never heard of egress_check."""

    def __init__(self, model: ModelSpec) -> None:
        self.model = model

    async def stream_chat(self, messages, params, egress):
        body = {
            "model": self.model.upstream_id,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
        }
        async with httpx.AsyncClient() as http:
            await http.post(self.model.provider.base_url + "/chat/completions", json=body)
        yield TextDelta("sent")
        yield Usage(1, 1)

    async def count_tokens(self, text):
        return 1

    async def health(self):
        return {}

    def close(self):
        pass


@pytest.fixture
def forgetful(cloud, monkeypatch):
    monkeypatch.setitem(adapters.BUILDERS, "forgetful_cloud", ForgetfulCloudAdapter)
    provider = ProviderSpec(
        id=990, name="forgetful", kind="forgetful_cloud", privacy_zone=PrivacyZone.VENDOR,
        base_url=cloud.url, api_key_env="", timeout_seconds=5, max_retries=0, version="1",
    )  # fmt: skip
    model = ModelSpec(
        id=990, name="forgetful-1", provider=provider, upstream_id="f-1", context_window=4096,
        input_price_per_mtok=0, output_price_per_mtok=0, team_ids=frozenset(),
        fallback_names=(), local=None, version="1",
    )  # fmt: skip
    yield adapter_for(model)
    adapters.adapters_close()


def run(adapter, messages, params, egress):
    async def call():
        return [item async for item in adapter.stream_chat(messages, params, egress)]

    return asyncio.run(call())


def ticket(zones, messages, params):
    return Egress("test", frozenset(zones), texts_digest(outgoing_texts(messages, params)))


def test_a_cloud_adapter_that_forgets_the_check_still_cannot_send(forgetful, cloud):
    assert isinstance(forgetful, GuardedAdapter)
    messages, params = [ChatMessage("user", SECRET)], GenerationParams()
    restricted = ticket({PrivacyZone.ON_PREM}, messages, params)
    with pytest.raises(EgressRefused, match="may not be sent to forgetful"):
        run(forgetful, messages, params, restricted)
    assert cloud.requests == []


def test_texts_that_were_not_classified_are_refused(forgetful, cloud):
    classified = [ChatMessage("user", "hello")]
    params = GenerationParams()
    public = ticket(set(PrivacyZone), classified, params)
    for messages, changed in (
        ([ChatMessage("user", SECRET)], params),  # another message
        ([*classified, ChatMessage("system", SECRET)], params),  # one added
        ([ChatMessage("user", "hello", name=SECRET)], params),  # a name
        (classified, GenerationParams(stop=(SECRET,))),  # a stop string
    ):
        with pytest.raises(EgressRefused, match="not what was classified"):
            run(forgetful, messages, changed, public)
    assert cloud.requests == []
    assert [item.text for item in run(forgetful, classified, params, public)[:1]] == ["sent"]
    assert len(cloud.requests) == 1  # the guard let the classified call through


def test_every_text_field_is_outgoing_and_can_be_put_back():
    call = ToolCall("c1", "f", '{"x": "y"}')
    messages = [
        ChatMessage("user", "a", name="n"),
        ChatMessage("assistant", "b", tool_calls=(call,)),
        ChatMessage("tool", "r", tool_call_id="c1"),
    ]
    params = GenerationParams(
        max_tokens=5, stop=("s1", "s2"), tools=(Tool("f", "d", '{"type": "object"}'),),
        response_format='{"type": "json_object"}', user="u", reasoning_effort="low",
    )  # fmt: skip
    fields = [(where, text) for where, text in outgoing_fields(messages, params) if text]
    assert fields == [  # roles and other fixed vocabularies are not text
        ("messages[0].content", "a"),
        ("messages[0].name", "n"),
        ("messages[1].content", "b"),
        ("messages[1].tool_calls[0].id", "c1"),
        ("messages[1].tool_calls[0].name", "f"),
        ("messages[1].tool_calls[0].arguments", '{"x": "y"}'),
        ("messages[2].content", "r"),
        ("messages[2].tool_call_id", "c1"),
        ("stop[0]", "s1"),
        ("stop[1]", "s2"),
        ("tools[0].name", "f"),
        ("tools[0].description", "d"),
        ("tools[0].parameters", '{"type": "object"}'),
        ("response_format", '{"type": "json_object"}'),
        ("user", "u"),
    ]
    texts = list(outgoing_texts(messages, params))
    new_messages, new_params = with_texts(messages, params, [t.upper() for t in texts])
    assert new_messages[0] == ChatMessage("user", "A", name="N")
    assert new_messages[1].tool_calls == (ToolCall("C1", "F", '{"X": "Y"}'),)
    assert new_messages[2].tool_call_id == "C1"
    assert (
        new_params.stop == ("S1", "S2") and new_params.tools[0].parameters == '{"TYPE": "OBJECT"}'
    )
    assert new_params.reasoning_effort == "low"  # vocabulary: left alone


def test_on_prem_adapters_are_not_wrapped(local_model):
    from apps.providers.catalog import catalog_load

    adapter = adapter_for(catalog_load().get(local_model.name))
    assert not isinstance(adapter, GuardedAdapter)


def test_json_fields_broken_by_redaction_fail_cleanly():
    from apps.providers.adapters.base import ProviderError
    from apps.providers.adapters.openai_compatible import OpenAICompatibleAdapter
    from apps.providers.catalog import ModelSpec, ProviderSpec

    provider = ProviderSpec(1, "p", "openai_compatible", "vendor", "http://127.0.0.1:9/v1",
                            "", 1.0, 0, "v")  # fmt: skip
    model = ModelSpec(1, "m", provider, "m", 1000, 0, 0, frozenset(), (), None, "v")
    params = GenerationParams(tools=(Tool("f", "", '{"maxLength": [PHONE_1]}'),))
    adapter = OpenAICompatibleAdapter(model)

    async def first():
        egress = Egress("public", frozenset({"vendor"}))
        return await adapter.stream_chat([ChatMessage("user", "x")], params, egress).__anext__()

    with pytest.raises(ProviderError) as error:
        asyncio.run(first())
    assert (error.value.code, error.value.fallback) == ("unsendable_request", True)
