"""The request body's validation, errors included, is ninja's: the request
schemas skip ninja's ORM getter for JSON objects only (apps/api/schemas.py,
``WireIn``), so bodies that are not objects where one is expected are still
read as ninja reads them; and the bearer header is read as ninja reads it."""

import httpx
import pytest
from ninja import schema as ninja_schema

from apps.api.schemas import ChatCompletionIn

HI = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({"model": "cloud-mini"}, "messages", "missing_required_parameter"),
        ({"model": "cloud-mini", "messages": []}, "messages", "invalid_value"),
        ({"model": 1, "messages": HI}, "model", "invalid_value"),
        ({"model": "cloud-mini", "messages": HI, "temperature": 5}, "temperature", "invalid_value"),
        ({"model": "cloud-mini", "messages": [{"role": "tool", "content": "x"}]}, "messages.0",
         "invalid_value"),
        ({"model": "cloud-mini", "messages": HI, "tools": [{"type": "function", "function": {}}]},
         "tools.0.function.name", "missing_required_parameter"),
        # Not objects where one is expected: ninja reads them through its getter,
        # as attributes, so every field comes out missing.
        ([], "model", "missing_required_parameter"),
        ({"model": "cloud-mini", "messages": ["hi"]}, "messages.0.role",
         "missing_required_parameter"),
        ({"model": "cloud-mini", "messages": HI, "tools": ["x"]}, "tools.0.type",
         "missing_required_parameter"),
    ],
)  # fmt: skip
def test_a_bad_body_is_a_400_naming_the_field(hub, member, models, body, param, code):
    response = httpx.post(
        hub.api + "/chat/completions", json=body, headers={"Authorization": f"Bearer {member.key}"}
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["param"], error["code"], error["type"]) == (param, code, "invalid_request_error")
    assert error["message"].startswith(f"{param}: ")


class GetterUsed(Exception):  # not a ValueError: pydantic lets it through
    pass


def test_a_json_object_is_validated_without_ninjas_getter(monkeypatch):
    def no_getter(*args, **kwargs):
        raise GetterUsed

    monkeypatch.setattr(ninja_schema, "DjangoGetter", no_getter)
    body = ChatCompletionIn.model_validate(
        {"model": "m", "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
         "stream_options": {"include_usage": True}}
    )  # fmt: skip
    assert body.messages[0].text() == "hi" and body.stream_options.include_usage
    with pytest.raises(GetterUsed):  # anything else: ninja's path
        ChatCompletionIn.model_validate({"model": "m", "messages": ["hi"]})


@pytest.mark.parametrize(
    ("authorization", "status"),
    [("bearer {key}", 200), ("Bearer {key}", 200), ("Basic {key}", 401), ("Bearer", 401),
     ("{key}", 401), ("Bearer  {key}", 401)],
)  # fmt: skip
def test_the_bearer_header_is_read_as_ninja_reads_it(hub, member, models, authorization, status):
    response = httpx.post(
        hub.api + "/chat/completions",
        json={"model": "cloud-mini", "messages": HI, "max_tokens": 2},
        headers={"Authorization": authorization.format(key=member.key)},
        timeout=30,
    )
    assert response.status_code == status, response.text
    if status == 401:
        assert response.json()["error"]["code"] == "invalid_api_key"
