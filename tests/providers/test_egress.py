"""The egress guard is structural: an adapter that forgets it still cannot send.

A new kind of cloud adapter is registered that posts straight to the spy
vendor without any check; ``adapter_for`` hands it out only behind the guard.
"""

import asyncio
import dataclasses

import httpx
import pytest

from apps.core.privacy import PrivacyZone
from apps.providers import adapters
from apps.providers.adapters import ChatMessage, GenerationParams, TextDelta, Usage, adapter_for
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
    messages = [ChatMessage("user", "a", name="n"), ChatMessage("assistant", "b")]
    params = GenerationParams(max_tokens=5, stop=("s1", "s2"))
    fields = list(outgoing_fields(messages, params))
    assert fields == [  # roles are a fixed vocabulary, not text
        ("messages[0].content", "a"),
        ("messages[0].name", "n"),
        ("messages[1].content", "b"),
        ("messages[1].name", ""),
        ("stop[0]", "s1"),
        ("stop[1]", "s2"),
    ]
    texts = list(outgoing_texts(messages, params))
    new_messages, new_params = with_texts(messages, params, [t.upper() for t in texts])
    assert new_messages == [ChatMessage("user", "A", name="N"), ChatMessage("assistant", "B")]
    assert new_params == dataclasses.replace(params, stop=("S1", "S2"))


def test_on_prem_adapters_are_not_wrapped(local_model):
    from apps.providers.catalog import catalog_load

    adapter = adapter_for(catalog_load().get(local_model.name))
    assert not isinstance(adapter, GuardedAdapter)
