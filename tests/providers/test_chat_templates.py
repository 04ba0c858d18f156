import pytest
from django.core.exceptions import ValidationError

from apps.providers.chat_templates import chat_format, render_prompt, template_check
from apps.providers.models import LanguageModel, Provider

CONVERSATION = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello"},
    {"role": "user", "content": "Bye"},
]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "llama2",
            "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello </s><s>[INST] Bye [/INST]",
        ),
        ("mistral", "[INST] Be brief.\n\nHi [/INST]Hello</s>[INST] Bye [/INST]"),
        (
            "chatml",
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
            "<|im_start|>assistant\nHello<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n"
            "<|im_start|>assistant\n",
        ),
        (
            "zephyr",
            "<|system|>\nBe brief.</s>\n<|user|>\nHi</s>\n<|assistant|>\nHello</s>\n"
            "<|user|>\nBye</s>\n<|assistant|>\n",
        ),
    ],
)
def test_named_templates(name, expected):
    assert render_prompt(chat_format(name), CONVERSATION) == expected


def test_custom_template_renders_like_a_gguf_template():
    fmt = chat_format(
        "custom", "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}AI:"
    )
    assert render_prompt(fmt, CONVERSATION[1:2]) == "user: Hi\nAI:"


@pytest.mark.parametrize(
    "source",
    ["{% for m in messages %}", "{{ ''.__class__.__mro__ }}{{ cycler.__init__.__globals__ }}"],
)
def test_broken_or_hostile_custom_templates_are_refused(source):
    assert template_check(source) is not None


@pytest.mark.django_db
def test_model_validation_reports_template_errors():
    provider = Provider.objects.create(
        name="l", kind=Provider.Kind.LOCAL_CTRANSFORMERS, privacy_zone="on_prem"
    )
    model = LanguageModel(
        provider=provider, name="m", model_file="/x.gguf", chat_template="custom",
        custom_chat_template="{% if %}",
    )  # fmt: skip
    with pytest.raises(ValidationError) as caught:
        model.full_clean()
    assert "custom_chat_template" in caught.value.message_dict


@pytest.mark.django_db
def test_provider_validation():
    local_in_cloud = Provider(
        name="x", kind=Provider.Kind.LOCAL_CTRANSFORMERS, privacy_zone="vendor"
    )
    with pytest.raises(ValidationError, match="on-prem"):
        local_in_cloud.full_clean()
    no_url = Provider(name="y", kind=Provider.Kind.OPENAI_COMPATIBLE, privacy_zone="vendor")
    with pytest.raises(ValidationError, match="URL"):
        no_url.full_clean()


def test_developer_and_tool_turns_map_to_roles_every_template_knows():
    from apps.providers.adapters import ChatMessage, ToolCall
    from apps.providers.chat_templates import template_messages

    messages = [
        ChatMessage("developer", "Be brief."),
        ChatMessage("user", "Weather?", "mia"),
        ChatMessage(
            "assistant", "", tool_calls=(ToolCall("c1", "get_weather", '{"city": "Paris"}'),)
        ),
        ChatMessage("tool", "sunny", tool_call_id="c1"),
    ]
    assert template_messages(messages) == [
        {"role": "system", "content": "Be brief.", "name": ""},
        {"role": "user", "content": "Weather?", "name": "mia"},
        {
            "role": "assistant",
            "content": '[tool call c1] get_weather({"city": "Paris"})',
            "name": "",
        },
        {"role": "user", "content": "[result of tool call c1]\nsunny", "name": ""},
    ]
