"""Tool calling on in-process local models (plain data; no runtime imported).

The model is told about the tools in a system turn and its output is
constrained by a grammar (the runtime compiles ``call_schema``) to one JSON
object ``{"name": ..., "arguments": {...}}`` naming an offered function with
arguments that match its schema. With ``tool_choice`` "auto" the grammar also
allows a plain answer, which may not start with ``{``; so the first
character says which one the model chose. The JSON is then handed on as
OpenAI-shaped ``ToolCallDelta`` pieces with finish reason ``tool_calls``,
like a cloud vendor's. One call per answer (``parallel_tool_calls`` is
accepted; a local model makes a single call).
"""

from __future__ import annotations

import dataclasses
import json
import secrets
from collections.abc import Iterable, Iterator
from typing import Any

from apps.core.chat_types import (
    ChatMessage,
    GenerationParams,
    Piece,
    TextDelta,
    Tool,
    ToolCallDelta,
    Usage,
)

from .adapters.base import ProviderError


def tool_mode(params: GenerationParams) -> tuple[str, tuple[Tool, ...]]:
    """("", ()) for no tool calling, else ("auto" | "required", the tools it may call)."""
    choice = json.loads(params.tool_choice) if params.tool_choice else "auto"
    if not params.tools or choice == "none":
        return "", ()
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name", "")
        named = tuple(t for t in params.tools if t.name == name)
        if not named:
            raise ProviderError(
                f"tool_choice names {name!r}, which is not one of the tools.",
                code="invalid_value", status=400, fallback=False,  # the request is wrong
            )  # fmt: skip
        return "required", named
    return ("required" if choice == "required" else "auto"), params.tools


def call_schema(tools: Iterable[Tool]) -> dict[str, Any]:
    """The JSON schema of one call to one of ``tools``."""
    options = [
        {
            "type": "object",
            "properties": {
                "name": {"const": tool.name},
                "arguments": json.loads(tool.parameters) if tool.parameters else {"type": "object"},
            },
            "required": ["name", "arguments"],
            "additionalProperties": False,
        }
        for tool in tools
    ]
    return options[0] if len(options) == 1 else {"anyOf": options}


def with_tool_prompt(
    messages: list[ChatMessage], mode: str, tools: tuple[Tool, ...]
) -> list[ChatMessage]:
    """``messages`` with the tools described in the system turn."""
    listed = "\n".join(
        json.dumps({"name": t.name, "description": t.description,
                    "parameters": json.loads(t.parameters) if t.parameters else {}})
        for t in tools
    )  # fmt: skip
    how = 'To call a function, reply with only {"name": <function name>, "arguments": {...}}.'
    if mode == "auto":
        how += " If no function is needed, answer in plain words."
    text = f"You can call these functions:\n{listed}\n{how}"
    if messages and messages[0].role in ("system", "developer"):
        first = messages[0]
        return [ChatMessage("system", f"{first.content}\n\n{text}"), *messages[1:]]
    return [ChatMessage("system", text), *messages]


def tool_call_pieces(pieces: Iterable[Piece], mode: str) -> Iterator[Piece]:
    """The runtime's text pieces, with a JSON call turned into ToolCallDelta
    pieces and finish reason "tool_calls". Plain text (``auto``) passes on."""
    held: list[TextDelta] = []
    deciding, calling = True, mode == "required"
    for piece in pieces:
        if isinstance(piece, TextDelta) and (calling or deciding):
            held.append(piece)
            text = "".join(p.text for p in held).lstrip()
            if deciding and text:
                deciding, calling = False, calling or text.startswith("{")
                if not calling:
                    yield from held
            continue
        if isinstance(piece, Usage) and calling:
            yield from _call(piece, "".join(p.text for p in held))
            return
        if isinstance(piece, Usage) and deciding:
            yield from held
        yield piece


def _call(usage: Usage, text: str) -> Iterator[Piece]:
    try:
        call = json.loads(text)
    except ValueError:  # cut short (max_tokens): what there is, as text
        yield TextDelta(text, tokens=0)
        yield usage
        return
    index, call_id = 0, "call_" + secrets.token_hex(12)
    yield ToolCallDelta(index, id=call_id, name=call["name"])
    yield ToolCallDelta(index, arguments=json.dumps(call["arguments"]))
    yield dataclasses.replace(usage, finish_reason="tool_calls")
