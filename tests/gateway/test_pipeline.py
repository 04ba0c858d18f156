"""The gateway service called directly, as the chat front door will call it."""

import asyncio

import pytest

from apps.gateway.errors import GatewayError
from apps.gateway.models import UsageRecord
from apps.gateway.services import Caller, ChatRequest, completion_start
from apps.providers.adapters import ChatMessage, GenerationParams, adapter_for
from apps.providers.catalog import catalog_aget
from tests.conftest import make_local_model

pytestmark = pytest.mark.django_db(transaction=True)


def request(model, max_tokens=1500):
    return ChatRequest(
        model=model,
        messages=(ChatMessage("user", "hello world"),),
        params=GenerationParams(max_tokens=max_tokens, temperature=0, stream=True),
    )


def test_a_caller_that_leaves_before_reading_frees_the_model_and_is_recorded(member, slow_gguf):
    make_local_model(slow_gguf, name="slow")
    caller = Caller(user_id=member.user.pk, team_id=member.team.pk, source="chat")

    async def leave_early():
        completion = await completion_start(caller=caller, request=request("slow"))
        await completion.aclose()
        adapter = adapter_for((await catalog_aget()).get("slow"))
        for _ in range(100):
            if (await adapter.health())["in_flight"] == 0:
                return
            await asyncio.sleep(0.02)
        raise AssertionError("the model kept generating for nobody")

    asyncio.run(leave_early())
    row = UsageRecord.objects.get()
    assert (row.status, row.source, row.finish_reason) == ("cancelled", "chat", "cancelled")
    assert row.completion_tokens >= 1 and row.prompt_tokens > 0


def test_collect_returns_the_answer_and_records_it_once(member, tiny_gguf):
    make_local_model(tiny_gguf, name="tiny")
    caller = Caller(user_id=member.user.pk, team_id=member.team.pk)

    async def run():
        completion = await completion_start(caller=caller, request=request("tiny", max_tokens=4))
        text = await completion.collect()
        await completion.aclose()  # harmless after the end
        return completion, text

    completion, text = asyncio.run(run())
    assert text and completion.tally.completion_tokens == 4
    assert completion.route == "local:tiny"
    assert list(UsageRecord.objects.values_list("status", flat=True)) == ["ok"]


def test_refusals_are_recorded_without_prompt_text(member):
    caller = Caller(user_id=member.user.pk, team_id=member.team.pk)
    secret_prompt = "my card is 4111 1111 1111 1111"
    chat = ChatRequest(model="nope", messages=(ChatMessage("user", secret_prompt),))
    with pytest.raises(GatewayError):
        asyncio.run(completion_start(caller=caller, request=chat))
    row = UsageRecord.objects.get()
    assert row.status == "rejected" and row.error_type == "model_not_found"
    stored = " ".join(str(v) for v in UsageRecord.objects.values().get().values())
    assert "4111" not in stored
