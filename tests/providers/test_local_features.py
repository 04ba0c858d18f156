"""Structured output, seed, logprobs and penalties on the local llama.cpp
model, through the API; what a local runtime cannot do is refused naming
the field."""

import json
import math
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
    # Its repetition_penalty is not OpenAI's penalties under another name (specs.py).
    for field in ("presence_penalty", "frequency_penalty"):
        with pytest.raises(openai.BadRequestError) as error:
            client.chat.completions.create(model="tiny", messages=ASK, **{field: 0.5})
        assert (error.value.body["code"], error.value.body["param"]) == (
            "unsupported_parameter",
            field,
        )


def test_features_are_a_function_of_the_runtime(local_model, cloud_model):
    from apps.providers.catalog import catalog_load

    catalog = catalog_load()
    wanted = GenerationParams(tools=(Tool("f"),), seed=1).features()
    assert wanted == {"tools", "seed"}
    assert unsupported_features(catalog.get("tiny"), wanted) == {"tools", "seed"}
    assert unsupported_features(catalog.get("cloud-mini"), wanted) == frozenset()


def test_an_admin_says_what_a_model_behind_a_server_cannot_do(cloud_model):
    from apps.providers.catalog import catalog_load

    wanted = GenerationParams(
        tools=(Tool("f"),), tool_choice='"auto"', response_format='{"type": "json_object"}', seed=1
    ).features()
    cloud_model.can_call_tools = False
    cloud_model.save()
    lacking = unsupported_features(catalog_load().get("cloud-mini"), wanted)
    assert lacking == {"tools", "tool_choice"}
    cloud_model.can_structured_output = False
    cloud_model.save()
    lacking = unsupported_features(catalog_load().get("cloud-mini"), wanted)
    assert lacking == {"tools", "tool_choice", "response_format"}  # seed still forwarded


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


def test_a_local_answer_says_how_sure_the_model_was(smollm2):
    """Usage.confidence: the geometric mean of the probability of the
    model's likeliest next token over its answer, in the answer's route info
    and its ledger row; what the logprobs the caller may ask for say too."""
    from apps.gateway.models import UsageRecord

    ask = {"model": "smollm2", "messages": ASK, "max_tokens": 8, "temperature": 0}
    plain = smollm2.chat.completions.create(**ask)
    confidence = plain.model_extra["hybridhub"]["confidence"]
    assert 0 < confidence < 1
    assert UsageRecord.objects.latest("pk").answer_confidence == confidence
    # Asked again, the prompt's end is evaluated from the cache in another
    # batch and the logits move a little: compare two asks from that state.
    again = smollm2.chat.completions.create(**ask)
    scored = smollm2.chat.completions.create(**ask, logprobs=True, top_logprobs=1)
    assert scored.choices[0].message.content == plain.choices[0].message.content
    tops = [e.top_logprobs[0].logprob for e in scored.choices[0].logprobs.content]
    mean = math.exp(sum(tops) / len(tops))
    assert scored.model_extra["hybridhub"]["confidence"] == pytest.approx(mean, abs=1e-4)
    assert again.model_extra["hybridhub"]["confidence"] == pytest.approx(mean, abs=1e-4)
    assert confidence == pytest.approx(mean, abs=0.03)
    # Streamed: on the chunk that ends the answer.
    chunks = list(smollm2.chat.completions.create(**ask, stream=True))
    last = next(c for c in chunks if c.choices and c.choices[0].finish_reason)
    assert last.model_extra["hybridhub"] == {"confidence": pytest.approx(mean, abs=1e-4)}
    assert UsageRecord.objects.latest("pk").answer_confidence == pytest.approx(mean, abs=1e-4)


def test_cascade_asks_a_stronger_model_when_the_local_one_was_unsure(smollm2, cloud, monkeypatch):
    from apps.gateway.models import UsageRecord
    from apps.policy import difficulty
    from tests.conftest import make_cloud_model

    make_cloud_model(cloud.url)
    ask = {"model": "smollm2", "messages": ASK, "max_tokens": 8, "temperature": 0}
    cascade = {"X-HybridHub-Cascade": "true"}
    monkeypatch.setattr(difficulty, "UNSURE_BELOW", 1.01)  # every answer is unsure
    raw = smollm2.chat.completions.with_raw_response.create(**ask, extra_headers=cascade)
    assert raw.headers["x-hybridhub-route"] == "cloud:cloud-mini"
    route = raw.parse().model_extra["hybridhub"]
    confidence = route["cascaded_from"]["confidence"]
    assert route["cascaded_from"]["model"] == "smollm2" and 0 < confidence < 1
    why = f"cascade: smollm2 was unsure of its answer (confidence {confidence:.2f})"
    assert why in route["reasons"] and route["confidence"] is None  # the vendor does not say
    local, stronger = UsageRecord.objects.order_by("-pk")[:2][::-1]
    assert (local.model_name, local.answer_confidence) == ("smollm2", confidence)
    assert stronger.model_name == "cloud-mini" and why in stronger.route_reasons
    assert cloud.requests[-1]["messages"][-1]["content"] == ASK[0]["content"]

    # Where no stronger model may answer, the local answer stands and says why.
    confidential = {**cascade, "X-HybridHub-Sensitivity": "confidential"}
    sent = len(cloud.requests)
    raw = smollm2.chat.completions.with_raw_response.create(**ask, extra_headers=confidential)
    assert raw.headers["x-hybridhub-route"] == "local:smollm2" and len(cloud.requests) == sent
    route = raw.parse().model_extra["hybridhub"]
    assert "cascaded_from" not in route or route["cascaded_from"] is None
    assert any(r.startswith("cascade: no stronger model answered") for r in route["reasons"])

    # A sure answer, or no header: the local answer, nothing else asked.
    monkeypatch.setattr(difficulty, "UNSURE_BELOW", 0.0)
    for headers in (cascade, {}):
        raw = smollm2.chat.completions.with_raw_response.create(**ask, extra_headers=headers)
        assert raw.headers["x-hybridhub-route"] == "local:smollm2"
    assert len(cloud.requests) == sent

    # Streamed: refused before any model runs.
    rows = UsageRecord.objects.count()
    with pytest.raises(openai.BadRequestError) as error:
        smollm2.chat.completions.create(**ask, stream=True, extra_headers=cascade)
    assert (error.value.body["code"], error.value.body["param"]) == (
        "unsupported_parameter", "stream"
    )  # fmt: skip
    assert "non-streamed" in error.value.body["message"]
    assert UsageRecord.objects.count() == rows


def test_runtimes_and_vendors_that_do_not_say_leave_it_empty(hub, member, tiny_gguf, cloud):
    from apps.gateway.models import UsageRecord
    from tests.conftest import make_cloud_model

    make_local_model(tiny_gguf, name="tiny")
    make_cloud_model(cloud.url)
    client = openai.OpenAI(base_url=hub.api, api_key=member.key, max_retries=0, timeout=30)
    for name in ("tiny", "cloud-mini"):
        answer = client.chat.completions.create(model=name, messages=ASK, max_tokens=3)
        assert answer.model_extra["hybridhub"]["confidence"] is None
        assert UsageRecord.objects.latest("pk").answer_confidence is None


def test_llama_cpp_lacks_only_what_it_lacks(hub):
    from apps.providers.catalog import catalog_load

    call_command("bootstrap_demo", stdout=StringIO())
    wanted = GenerationParams(
        tools=(Tool("f"),), tool_choice='"auto"', seed=1, logprobs=True, top_logprobs=2,
        presence_penalty=0.5, frequency_penalty=0.5, logit_bias=((1, 5.0),),
    ).features()  # fmt: skip
    assert unsupported_features(catalog_load().get("smollm2"), wanted) == {"logit_bias"}


DAYS = [{"role": "user", "content": "List the days of the week, one per line."}]


def repeats(logprobs):
    """How many of the answer's tokens it had already written."""
    tokens = [entry.token for entry in logprobs]
    return len(tokens) - len(set(tokens))


def test_penalties_steer_local_generation(smollm2):
    """OpenAI's penalties, applied by llama.cpp's sampler, make greedy
    SmolLM2 repeat itself less, the same way every time. logprobs stay the
    model's own distribution: where the penalised answer turns away, the
    top choice it passed over is still listed first."""

    def answer(**penalties):
        choice = smollm2.chat.completions.create(
            model="smollm2", messages=DAYS, max_tokens=28, temperature=0, logprobs=True,
            top_logprobs=2, **penalties,
        ).choices[0]  # fmt: skip
        return choice.message.content, choice.logprobs.content

    plain, plain_logprobs = answer()
    presence, presence_logprobs = answer(presence_penalty=2.0)
    frequency, frequency_logprobs = answer(frequency_penalty=2.0)
    assert repeats(presence_logprobs) < repeats(plain_logprobs)
    assert repeats(frequency_logprobs) < repeats(plain_logprobs)
    assert len({plain, presence, frequency}) == 3
    assert answer(presence_penalty=2.0)[0] == presence

    turn = next(
        i
        for i, (a, b) in enumerate(zip(plain_logprobs, presence_logprobs, strict=False))
        if a.token != b.token
    )
    passed_over, seen = presence_logprobs[turn].top_logprobs, plain_logprobs[turn].top_logprobs
    assert [t.token for t in passed_over] == [t.token for t in seen]
    # Not lowered by the 2.0 penalty; only noise (~0.1 on this quantised model:
    # the second run evaluates its cached prompt's last token in another batch).
    assert [t.logprob for t in passed_over] == pytest.approx([t.logprob for t in seen], abs=0.3)
    assert passed_over[0].token == plain_logprobs[turn].token != presence_logprobs[turn].token


def test_seeded_sampling_with_penalties_is_repeatable(smollm2):
    """The first call evaluates the whole prompt, the second would find it
    cached (and its logits a little different): a seed means the same answer."""

    def sample(**penalties):
        return smollm2.chat.completions.create(
            model="smollm2", messages=DAYS, max_tokens=16, temperature=0.9, seed=5, **penalties,
        ).choices[0].message.content  # fmt: skip

    penalised = sample(frequency_penalty=1.5, presence_penalty=1.0)
    assert sample(frequency_penalty=1.5, presence_penalty=1.0) == penalised
