"""Real ctransformers inference on a tiny random-weight llama GGUF."""

import asyncio

import pytest

from apps.providers.adapters import ChatMessage, GenerationParams, ProviderError, TextDelta, Usage
from apps.providers.adapters.local import LocalAdapter
from apps.providers.adapters.local_ctransformers import CTransformersEngine
from apps.providers.catalog import LocalSpec, ModelSpec, ProviderSpec
from apps.providers.egress import Egress

ON_PREM_ONLY = Egress("restricted", frozenset({"on_prem"}))

HELLO = [ChatMessage("user", "hello world")]


def spec(path, **local):
    provider = ProviderSpec(1, "local", "local_ctransformers", "on_prem", "", "", 60, 0, "v1")
    options = dict(
        model_file=str(path), model_type="llama", gpu_layers=0, threads=1, context_length=2048,
        chat_template="llama2", custom_chat_template="", max_queue=1, queue_timeout_seconds=5,
    )  # fmt: skip
    options.update(local)
    return ModelSpec(
        1, "tiny", provider, "", 512, 0, 0, frozenset(), (), LocalSpec(**options), "v1"
    )


@pytest.fixture
def adapter(tiny_gguf):
    made = []

    def make(path=tiny_gguf, **local):
        made.append(LocalAdapter(spec(path, **local), CTransformersEngine))
        return made[-1]

    yield make
    for a in made:
        a.close()


async def collect(adapter, params, messages=HELLO):
    items = [item async for item in adapter.stream_chat(messages, params, ON_PREM_ONLY)]
    text = "".join(i.text for i in items if isinstance(i, TextDelta))
    usage = [i for i in items if isinstance(i, Usage)]
    return text, usage[-1]


def test_counts_are_exact_and_max_tokens_is_honoured(adapter):
    local = adapter()
    # Greedy decoding of this tiny model runs for hundreds of tokens.
    text, usage = asyncio.run(collect(local, GenerationParams(max_tokens=7, temperature=0)))
    prompt = "[INST] hello world [/INST]"
    assert usage.prompt_tokens == asyncio.run(local.count_tokens(prompt))
    assert (usage.completion_tokens, usage.finish_reason) == (7, "length")
    assert not usage.estimated
    assert text


def test_temperature_zero_is_deterministic(adapter):
    local = adapter()
    params = GenerationParams(max_tokens=12, temperature=0)
    first = asyncio.run(collect(local, params))[0]
    assert first and asyncio.run(collect(local, params))[0] == first


def test_stop_sequences_end_the_answer(adapter):
    local = adapter()
    params = GenerationParams(max_tokens=40, temperature=0)
    full = asyncio.run(collect(local, params))[0]
    stop = full[len(full) // 2 : len(full) // 2 + 2]
    text, usage = asyncio.run(
        collect(local, GenerationParams(max_tokens=40, temperature=0, stop=(stop,)))
    )
    assert stop not in text and full.startswith(text)
    assert usage.finish_reason == "stop"


def test_prompt_longer_than_the_context_is_refused(adapter):
    local = adapter()
    long = [ChatMessage("user", "hello " * 2100)]
    with pytest.raises(ProviderError) as caught:
        asyncio.run(collect(local, GenerationParams(max_tokens=4), long))
    assert caught.value.code == "context_length_exceeded"


def test_full_queue_and_queue_timeout_are_refused_cleanly(adapter, slow_gguf):
    local = adapter(slow_gguf, max_queue=1, queue_timeout_seconds=0.3)

    async def scenario():
        await local.warm()
        long = GenerationParams(max_tokens=1000, temperature=0)
        running = asyncio.create_task(collect(local, long))
        await asyncio.sleep(0.2)  # it holds the model now
        waiting = asyncio.create_task(collect(local, GenerationParams(max_tokens=2)))
        await asyncio.sleep(0.05)
        with pytest.raises(ProviderError) as full:
            await collect(local, GenerationParams(max_tokens=2))
        with pytest.raises(ProviderError) as timed_out:
            await waiting
        running.cancel()
        return full.value, timed_out.value

    full, timed_out = asyncio.run(scenario())
    assert (full.code, full.status) == ("model_busy", 503)
    assert "already waiting" in full.message
    assert (timed_out.code, timed_out.status) == ("model_busy", 503)
    assert "no turn within" in timed_out.message


def test_cancelling_the_consumer_stops_the_generation(adapter, slow_gguf):
    local = adapter(slow_gguf, max_queue=0)

    async def in_flight_after_cancel():
        await local.warm()
        task = asyncio.create_task(collect(local, GenerationParams(max_tokens=1500, temperature=0)))
        await asyncio.sleep(0.3)
        assert (await local.health())["in_flight"] == 1
        task.cancel()
        # 1500 tokens take seconds; a stopped generation frees the model at once.
        for _ in range(100):
            if (await local.health())["in_flight"] == 0:
                return await collect(local, GenerationParams(max_tokens=2))
            await asyncio.sleep(0.02)
        raise AssertionError("the generation went on after its consumer left")

    _, usage = asyncio.run(asyncio.wait_for(in_flight_after_cancel(), timeout=10))
    assert usage.completion_tokens <= 2


def test_unloadable_model_file_is_a_clear_error(adapter, tmp_path):
    local = adapter(model_file=str(tmp_path / "missing.gguf"))
    with pytest.raises(ProviderError) as caught:
        asyncio.run(collect(local, GenerationParams(max_tokens=2)))
    assert caught.value.code == "model_unavailable"


def test_tokenizer_buffer_holds_more_tokens_than_characters(tiny_gguf):
    # ctransformers' own tokenize() sizes its buffer by characters; byte
    # fallback gives up to 4 tokens per character and it wrote past the end.
    engine = CTransformersEngine(spec(tiny_gguf).local, tiny_gguf)
    try:
        text = "→ ünïcødé 😀😀 ✓"
        tokens = engine.tokenize(text)
        assert len(tokens) > len(text) + 1
        assert engine.detokenize(tokens).decode().strip() == text
    finally:
        engine.close()
