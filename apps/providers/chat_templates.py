"""Chat prompt formatting for local models, by named template or a custom one.

Templates are Jinja, the same language as a GGUF's ``tokenizer.chat_template``,
rendered in a sandbox because admins may paste them in. They receive
``messages`` (role/content dicts), ``add_generation_prompt``, ``bos_token`` and
``eos_token``. The tokenizer adds the leading BOS itself, so templates omit it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from jinja2 import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

_SYSTEM_FIRST = (
    "{% if messages and messages[0]['role'] == 'system' %}"
    "{% set system = messages[0]['content'] %}{% set messages = messages[1:] %}"
    "{% else %}{% set system = '' %}{% endif %}"
)

LLAMA2 = _SYSTEM_FIRST + (
    "{% for m in messages %}"
    "{% if m['role'] == 'user' %}"
    "{% if not loop.first %}{{ bos_token }}{% endif %}[INST] "
    "{% if loop.first and system %}<<SYS>>\n{{ system }}\n<</SYS>>\n\n{% endif %}"
    "{{ m['content'] }} [/INST]"
    "{% else %} {{ m['content'] }} {{ eos_token }}{% endif %}"
    "{% endfor %}"
)

MISTRAL = _SYSTEM_FIRST + (
    "{% for m in messages %}"
    "{% if m['role'] == 'user' %}[INST] "
    "{% if loop.first and system %}{{ system }}\n\n{% endif %}{{ m['content'] }} [/INST]"
    "{% else %}{{ m['content'] }}{{ eos_token }}{% endif %}"
    "{% endfor %}"
)

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

ZEPHYR = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}{{ eos_token }}\n"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


@dataclass(frozen=True)
class ChatFormat:
    source: str
    stop: tuple[str, ...]  # strings that end a turn even if the model misses EOS


NAMED: dict[str, ChatFormat] = {
    "llama2": ChatFormat(LLAMA2, ("</s>", "[INST]")),
    "mistral": ChatFormat(MISTRAL, ("</s>", "[INST]")),
    "chatml": ChatFormat(CHATML, ("<|im_end|>", "<|im_start|>")),
    "zephyr": ChatFormat(ZEPHYR, ("</s>", "<|user|>")),
}

_env = ImmutableSandboxedEnvironment(trim_blocks=False, lstrip_blocks=False)


@lru_cache(maxsize=64)
def _compiled(source: str):  # type: ignore[no-untyped-def]
    return _env.from_string(source)


def chat_format(name: str, custom: str = "") -> ChatFormat:
    if name == "custom":
        return ChatFormat(custom, ())
    return NAMED[name]


def render_prompt(
    fmt: ChatFormat,
    messages: Sequence[dict[str, str]],
    *,
    bos_token: str = "<s>",
    eos_token: str = "</s>",
) -> str:
    return _compiled(fmt.source).render(
        messages=list(messages),
        add_generation_prompt=True,
        bos_token=bos_token,
        eos_token=eos_token,
    )


def template_check(source: str) -> str | None:
    """A readable problem with a custom template, or None if it renders."""
    try:
        render_prompt(ChatFormat(source, ()), [{"role": "user", "content": "hi"}])
    except TemplateError as exc:
        return f"Template error: {exc}"
    return None
