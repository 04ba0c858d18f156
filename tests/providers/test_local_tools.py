"""Tool calling on the local llama.cpp model (SmolLM2-135M), through the API
with the official openai client: the answer's shape is OpenAI's, whatever
the small model makes of the question (the grammar guarantees the shape)."""

import json

import openai
import pytest

from apps.core.chat_types import GenerationParams, TextDelta, Tool, ToolCallDelta, Usage
from apps.providers.local_tools import tool_call_pieces, tool_mode
from tests.api.test_tools import tool_calls_joined

pytestmark = pytest.mark.llamacpp
pytest.importorskip("llama_cpp", reason="the optional llama-cpp-python runtime is not installed")

WEATHER_PARAMS = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "maxLength": 20},
        "unit": {"enum": ["celsius", "fahrenheit"]},
    },
    "required": ["city", "unit"],
    "additionalProperties": False,
}
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": WEATHER_PARAMS,
    },
}
TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "The time in a time zone",
        "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}},
    },
}
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]


def _valid_weather_arguments(text):
    """WEATHER_PARAMS, checked by hand (the schema is small)."""
    arguments = json.loads(text)
    assert set(arguments) == {"city", "unit"}
    assert isinstance(arguments["city"], str) and len(arguments["city"]) <= 20
    assert arguments["unit"] in ("celsius", "fahrenheit")


def _check_weather_call(call):
    assert call.type == "function" and call.id.startswith("call_")
    assert call.function.name == "get_weather"
    _valid_weather_arguments(call.function.arguments)


@pytest.mark.parametrize(
    "choice", ["required", {"type": "function", "function": {"name": "get_weather"}}]
)
def test_local_model_calls_a_tool_non_streamed(smollm2, choice):
    completion = smollm2.chat.completions.create(
        model="smollm2", messages=ASK, tools=[TIME, WEATHER] if choice != "required" else [WEATHER],
        tool_choice=choice, max_tokens=60, temperature=0,
    )  # fmt: skip
    assert completion.model == "smollm2"
    choice_out = completion.choices[0]
    assert choice_out.finish_reason == "tool_calls"
    assert choice_out.message.content is None
    (call,) = choice_out.message.tool_calls
    _check_weather_call(call)
    assert completion.usage.completion_tokens > 0


def test_local_model_streams_a_tool_call_as_deltas(smollm2):
    stream = smollm2.chat.completions.create(
        model="smollm2", messages=ASK, tools=[WEATHER], tool_choice="required",
        max_tokens=60, temperature=0, stream=True,
    )  # fmt: skip
    chunks = [c for c in stream if c.choices]
    calls = tool_calls_joined(chunks)
    assert list(calls) == [0] and calls[0]["name"] == "get_weather"
    assert calls[0]["id"].startswith("call_")
    _valid_weather_arguments(calls[0]["arguments"])
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    assert not any(c.choices[0].delta.content for c in chunks)


def test_tool_result_round_trip(smollm2):
    first = smollm2.chat.completions.create(
        model="smollm2", messages=ASK, tools=[WEATHER], tool_choice="required",
        max_tokens=60, temperature=0,
    )  # fmt: skip
    message = first.choices[0].message
    (call,) = message.tool_calls
    conversation = [
        *ASK,
        message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21 degrees"},
    ]
    answer = smollm2.chat.completions.create(
        model="smollm2", messages=conversation, tools=[WEATHER], tool_choice="none",
        max_tokens=30, temperature=0,
    )  # fmt: skip
    assert answer.choices[0].finish_reason in ("stop", "length")
    assert answer.choices[0].message.tool_calls is None
    assert answer.choices[0].message.content.strip()


def test_auto_gives_a_call_or_text_never_a_half_call(smollm2):
    completion = smollm2.chat.completions.create(
        model="smollm2", messages=ASK, tools=[WEATHER], max_tokens=60, temperature=0
    )
    choice = completion.choices[0]
    if choice.finish_reason == "tool_calls":
        _check_weather_call(choice.message.tool_calls[0])
    else:
        assert not choice.message.content.lstrip().startswith("{")


def test_a_named_function_that_is_not_offered_is_refused(smollm2):
    with pytest.raises(openai.BadRequestError) as error:
        smollm2.chat.completions.create(
            model="smollm2", messages=ASK, tools=[WEATHER],
            tool_choice={"type": "function", "function": {"name": "nope"}},
        )  # fmt: skip
    assert error.value.body["code"] == "invalid_value" and "nope" in error.value.body["message"]


# --- the pieces, without a model ---------------------------------------------


def _texts(*texts: str) -> list:
    return [TextDelta(t) for t in texts] + [Usage(5, len(texts))]


def test_auto_passes_plain_text_on_and_turns_json_into_a_call():
    plain = list(tool_call_pieces(_texts(" ", "Hel", "lo"), "auto"))
    assert "".join(p.text for p in plain if isinstance(p, TextDelta)) == " Hello"
    assert plain == _texts(" ", "Hel", "lo")  # as they came, token counts and all
    called = list(tool_call_pieces(_texts(' {"name": "f", ', '"arguments": {"a": 1}}'), "auto"))
    assert [type(p) for p in called] == [ToolCallDelta, ToolCallDelta, Usage]
    assert (called[0].name, json.loads(called[1].arguments)) == ("f", {"a": 1})
    assert called[-1].finish_reason == "tool_calls" and called[-1].completion_tokens == 2


def test_a_call_cut_short_comes_back_as_text_with_its_finish_reason():
    cut = list(
        tool_call_pieces([TextDelta('{"name": "f", "argu'), Usage(5, 9, "length")], "required")
    )
    assert cut == [TextDelta('{"name": "f", "argu', tokens=0), Usage(5, 9, "length")]


def test_tool_choice_modes():
    tools = (Tool("a"), Tool("b"))
    assert tool_mode(GenerationParams(tools=tools)) == ("auto", tools)
    assert tool_mode(GenerationParams(tools=tools, tool_choice='"none"')) == ("", ())
    assert tool_mode(GenerationParams(tools=tools, tool_choice='"required"'))[0] == "required"
    named = '{"type": "function", "function": {"name": "b"}}'
    assert tool_mode(GenerationParams(tools=tools, tool_choice=named)) == ("required", tools[1:])
