"""Structured output and seed on the local llama.cpp model, through the API;
what a local runtime cannot do is refused naming the field."""

import json
from io import StringIO

import openai
import pytest
from django.core.management import call_command

from apps.providers.adapters import GenerationParams, Tool
from apps.providers.specs import unsupported_features
from tests.conftest import make_local_model

pytest.importorskip("llama_cpp", reason="the optional llama-cpp-python runtime is not installed")

ASK = [{"role": "user", "content": "Is Paris in France? Answer in JSON."}]
SCHEMA = {
    "type": "json_schema",
    "json_schema": {
        "name": "verdict",
        "schema": {
            "type": "object",
            "properties": {"yes": {"type": "boolean"}, "city": {"enum": ["Paris", "Rome"]}},
            "required": ["yes", "city"],
            "additionalProperties": False,
        },
    },
}


@pytest.fixture
def smollm2(hub):
    out = StringIO()
    call_command("bootstrap_demo", stdout=out)
    key = next(
        line.split(": ")[-1] for line in out.getvalue().splitlines() if line.startswith("API key")
    )
    return openai.OpenAI(base_url=hub.api, api_key=key, max_retries=0, timeout=60)


def test_json_schema_is_enforced_by_a_grammar(smollm2):
    completion = smollm2.chat.completions.create(
        model="smollm2", messages=ASK, max_tokens=30, temperature=0.8, response_format=SCHEMA
    )
    answer = json.loads(completion.choices[0].message.content)
    assert set(answer) == {"yes", "city"} and answer["city"] in ("Paris", "Rome")
    plain = smollm2.chat.completions.create(
        model="smollm2", messages=ASK, max_tokens=4, temperature=0,
        response_format={"type": "json_object"},
    )  # fmt: skip
    assert plain.choices[0].message.content.lstrip().startswith("{")  # JSON, cut at 4 tokens


def test_seed_makes_sampling_repeatable(smollm2):
    def sample(seed):
        return smollm2.chat.completions.create(
            model="smollm2", messages=[{"role": "user", "content": "Tell me a story."}],
            max_tokens=6, temperature=1.5, seed=seed,
        ).choices[0].message.content  # fmt: skip

    first = sample(11)
    assert sample(11) == first
    assert any(sample(seed) != first for seed in (12, 13))


def test_ctransformers_refuses_what_it_cannot_do(hub, member, tiny_gguf):
    make_local_model(tiny_gguf, name="tiny")
    client = openai.OpenAI(base_url=hub.api, api_key=member.key, max_retries=0, timeout=30)
    with pytest.raises(openai.BadRequestError) as error:
        client.chat.completions.create(model="tiny", messages=ASK, response_format=SCHEMA)
    assert (error.value.body["code"], error.value.body["param"]) == (
        "unsupported_parameter",
        "response_format",
    )


def test_features_are_a_function_of_the_runtime(local_model, cloud_model):
    from apps.providers.catalog import catalog_load

    catalog = catalog_load()
    wanted = GenerationParams(tools=(Tool("f"),), seed=1).features()
    assert wanted == {"tools", "seed"}
    assert unsupported_features(catalog.get("tiny"), wanted) == {"tools", "seed"}
    assert unsupported_features(catalog.get("cloud-mini"), wanted) == frozenset()


@pytest.mark.parametrize("stream", [False, True])
def test_logprobs_come_from_the_local_model(smollm2, stream):
    result = smollm2.chat.completions.create(
        model="smollm2", messages=ASK, max_tokens=8, temperature=0, logprobs=True,
        top_logprobs=3, stream=stream, stream_options={"include_usage": True} if stream else None,
    )  # fmt: skip
    if stream:
        chunks = list(result)
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        entries = [e for c in chunks if c.choices and c.choices[0].logprobs
                   for e in c.choices[0].logprobs.content]  # fmt: skip
        completion_tokens = chunks[-1].usage.completion_tokens
    else:
        text = result.choices[0].message.content
        entries = result.choices[0].logprobs.content
        completion_tokens = result.usage.completion_tokens
    assert len(entries) == completion_tokens > 0  # one entry per generated token
    assert "".join(e.token for e in entries).startswith(text)  # stop markers held back
    for entry in entries:
        assert entry.logprob <= 0 and bytes(entry.bytes).decode(errors="replace") == entry.token
        tops = [t.logprob for t in entry.top_logprobs]
        assert len(tops) == 3 and tops == sorted(tops, reverse=True)
        assert entry.logprob <= tops[0]


def test_llama_cpp_lacks_only_what_it_lacks(hub):
    from apps.providers.catalog import catalog_load

    call_command("bootstrap_demo", stdout=StringIO())
    wanted = GenerationParams(
        tools=(Tool("f"),), tool_choice='"auto"', seed=1, logprobs=True, top_logprobs=2,
        presence_penalty=0.5,
    ).features()  # fmt: skip
    assert unsupported_features(catalog_load().get("smollm2"), wanted) == {"presence_penalty"}
