"""LangChain's ChatOpenAI against the live hub: bind_tools and
with_structured_output, the two things internal tools build on."""

import pytest
from pydantic import BaseModel

langchain_openai = pytest.importorskip("langchain_openai")


class Answer(BaseModel):
    answer: str


def get_weather(text: str) -> str:
    """The weather in a city."""
    return "sunny"


@pytest.fixture
def chat(hub, member, models):
    return langchain_openai.ChatOpenAI(
        base_url=hub.api, api_key=member.key, model="cloud-mini", max_retries=0, timeout=30
    )


def test_bind_tools_round_trip(chat, cloud):
    from langchain_core.messages import HumanMessage, ToolMessage

    with_tools = chat.bind_tools([get_weather], tool_choice="required")
    question = HumanMessage("weather in Paris")
    reply = with_tools.invoke([question])
    (call,) = reply.tool_calls
    assert (call["name"], call["args"]) == ("get_weather", {"text": "weather in Paris"})
    streamed = None
    for chunk in with_tools.stream([question]):
        streamed = chunk if streamed is None else streamed + chunk
    assert streamed.tool_calls[0]["args"] == {"text": "weather in Paris"}

    result = ToolMessage("sunny, 21C", tool_call_id=call["id"])
    final = with_tools.invoke([question, reply, result])
    assert final.content == "tool call_mock1 said: sunny, 21C"


def test_with_structured_output(chat, cloud):
    structured = chat.with_structured_output(Answer, method="json_schema")
    assert structured.invoke("How many words?") == Answer(answer="8 words")
    assert cloud.requests[-1]["response_format"]["type"] == "json_schema"
