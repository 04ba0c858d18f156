"""Chat prompt formatting for local models, by named template or a custom one.

Templates are Jinja, the same language as a GGUF's ``tokenizer.chat_template``,
rendered in a sandbox because admins may paste them in. They receive
``messages`` (role/content dicts), ``add_generation_prompt``, ``bos_token`` and
``eos_token``. The tokenizer adds the leading BOS itself, so templates omit it.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from jinja2 import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

if TYPE_CHECKING:
    from apps.core.chat_types import ChatMessage

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


@dataclass(frozen=True)
class Special:
    """A special token the template itself wrote (``<|im_start|>``, ``</s>``)."""

    text: str


def template_messages(messages: Sequence[ChatMessage]) -> list[dict[str, str]]:
    """Messages in the roles every template knows (system, user, assistant):
    OpenAI's ``developer`` turn is the system turn; a tool result is a user
    turn that says which call it answers; an assistant turn that only called
    tools says so, so the model sees the whole exchange."""
    out = []
    for m in messages:
        role, content = m.role, m.content
        if role == "developer":
            role = "system"
        elif role == "tool":
            role, content = "user", f"[result of tool call {m.tool_call_id}]\n{content}"
        if m.tool_calls:
            calls = "\n".join(f"[tool call {c.id}] {c.name}({c.arguments})" for c in m.tool_calls)
            content = f"{content}\n{calls}" if content else calls
        out.append({"role": role, "content": content, "name": m.name})
    return out


def render_prompt_parts(
    fmt: ChatFormat,
    messages: Sequence[dict[str, str]],
    *,
    bos_token: str = "<s>",
    eos_token: str = "</s>",
) -> list[tuple[str, bool]]:
    """The prompt as (text, from_template) parts, in order.

    Each message's content is rendered as an unguessable placeholder, so the
    template's own text and the messages' text come out apart: only the
    former may contain special tokens. (A custom template that transforms
    ``content``, e.g. ``| trim``, sees the placeholder, so the content is
    used as sent.)
    """
    nonce = secrets.token_hex(16)
    stand_ins = [{**m, "content": f"\x00{nonce}:{i}\x00"} for i, m in enumerate(messages)]
    rendered = render_prompt(fmt, stand_ins, bos_token=bos_token, eos_token=eos_token)
    pieces = re.split(f"\x00{nonce}:([0-9]+)\x00", rendered)
    parts: list[tuple[str, bool]] = []
    for index, piece in enumerate(pieces):
        if index % 2:
            parts.append((messages[int(piece)]["content"], False))
        elif piece:
            parts.append((piece, True))
    return parts


def prompt_fragments(
    parts: Sequence[tuple[str, bool]], specials: Collection[str]
) -> list[str | Special]:
    """Plain text and special tokens, as a tokenizer should see them.

    Special-token text is recognised in the template's parts only; in a
    message it is plain text (``<|im_start|>system`` typed by a user is just
    characters). Adjacent plain text is joined, so the tokenizer sees the
    same runs it would if it split on special tokens itself.
    """
    marker = (
        re.compile("|".join(re.escape(s) for s in sorted(specials, key=len, reverse=True)))
        if specials
        else None
    )
    fragments: list[str | Special] = []
    for text, from_template in parts:
        pieces: list[str | Special] = [text]
        if from_template and marker is not None:
            pieces = _split_specials(text, marker)
        for piece in pieces:
            if isinstance(piece, str) and fragments and isinstance(fragments[-1], str):
                fragments[-1] += piece
            elif piece:
                fragments.append(piece)
    return fragments


def _split_specials(text: str, marker: re.Pattern[str]) -> list[str | Special]:
    pieces: list[str | Special] = []
    start = 0
    for match in marker.finditer(text):
        pieces += [text[start : match.start()], Special(match.group())]
        start = match.end()
    pieces.append(text[start:])
    return pieces


def template_check(source: str) -> str | None:
    """A readable problem with a custom template, or None if it renders."""
    try:
        render_prompt(ChatFormat(source, ()), [{"role": "user", "content": "hi"}])
    except TemplateError as exc:
        return f"Template error: {exc}"
    return None
