"""A real HTTP server on 127.0.0.1 that speaks the OpenAI chat wire format.

It stands in for a cloud vendor in tests and benchmarks: streaming (SSE) and
plain completions, usage (or none), tool calls (when offered tools, until a
tool result comes back), JSON answers (``response_format``), logprobs, and
scripted failures: HTTP errors with Retry-After, a stream cut short, slow
tokens. Every request body is kept in ``requests`` so tests can assert what reached "the cloud".

Run standalone for benchmarks: ``python -m tests.support.openai_mock --port 9100``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import uvicorn


@dataclass
class Failure:
    status: int = 500
    retry_after: str | None = None
    message: str = "mock failure"


@dataclass
class MockCloud:
    reply_tokens: int = 8  # words in a reply when the request sets no max_tokens
    # Where the model's answer ends by itself, like a real one, even if
    # max_tokens allows more (the chat always sets one); None: max_tokens decides.
    natural_length: int | None = None
    token_delay: float = 0.0  # seconds between streamed tokens
    answer_delay: float = 0.0  # seconds before answering (a vendor's latency)
    include_usage: bool = True
    cut_stream_after: int | None = None  # close the connection after N tokens
    stall_stream_after: int | None = None  # go silent (for a minute) after N tokens
    script: list[str] | None = None  # exact chunks to answer with, instead of words
    failures: deque[Failure] = field(default_factory=deque)
    requests: list[dict[str, Any]] = field(default_factory=list)

    def fail_next(self, count: int = 1, **failure: Any) -> None:
        self.failures.extend(Failure(**failure) for _ in range(count))

    def prompts(self) -> list[str]:
        """Every message text that reached this server."""
        return [m.get("content", "") for r in self.requests for m in r.get("messages", [])]

    # --- ASGI ------------------------------------------------------------

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        path = scope["path"].rstrip("/")
        if path.endswith("/models"):
            await _json(
                send, 200, {"object": "list", "data": [{"id": "mock-1", "object": "model"}]}
            )
        elif path.endswith("/embeddings") and scope["method"] == "POST":
            await self._embeddings(json.loads(body or b"{}"), send)
        elif path.endswith("/chat/completions") and scope["method"] == "POST":
            await self._chat(json.loads(body or b"{}"), send)
        else:
            await _json(
                send, 404, {"error": {"message": "not found", "type": "invalid_request_error"}}
            )

    async def _embeddings(self, request: dict[str, Any], send: Any) -> None:
        """A 3-number vector per input: its length, its word count, 1.0."""
        self.requests.append(request)
        texts = request["input"] if isinstance(request["input"], list) else [request["input"]]
        data = [
            {"object": "embedding", "index": i, "embedding": [len(t), len(t.split()), 1.0]}
            for i, t in enumerate(texts)
        ]
        tokens = sum(len(t.split()) for t in texts)
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        await _json(send, 200, {"object": "list", "data": data, "model": request["model"],
                                "usage": usage})  # fmt: skip

    async def _chat(self, request: dict[str, Any], send: Any) -> None:
        self.requests.append(request)
        if self.answer_delay:
            await asyncio.sleep(self.answer_delay)
        if self.failures:
            failure = self.failures.popleft()
            headers = (
                [(b"retry-after", failure.retry_after.encode())] if failure.retry_after else []
            )
            error = {"error": {"message": failure.message, "type": "server_error", "code": None}}
            await _json(send, failure.status, error, headers)
            return
        limit = request.get("max_tokens") or request.get("max_completion_tokens")
        count = limit or self.reply_tokens
        natural = self.natural_length is not None and self.natural_length < count
        if natural:
            count = self.natural_length or 0
        words = [f"w{i} " for i in range(count)]
        last_message = request["messages"][-1]
        last = str(last_message.get("content", ""))
        if last.startswith("echo:"):  # say the prompt back, a word a chunk
            words = [w + " " for w in last.removeprefix("echo:").split()]
        if last_message.get("role") == "tool":  # the answer after a tool result
            words = [f"tool {last_message.get('tool_call_id')} said: ", last]
        format_type = (request.get("response_format") or {}).get("type")
        if format_type in ("json_object", "json_schema"):
            words = ['{"answer": ', f'"{len(words)} words"', "}"]
        if self.script is not None:
            words = list(self.script)
        calls = _tool_calls(request)
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in request["messages"])
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(words),
            "total_tokens": prompt_tokens + len(words),
        }
        base = {"id": "chatcmpl-mock", "created": int(time.time()), "model": request["model"]}
        finish = "length" if request.get("max_tokens") and not natural else "stop"
        logprobs = request.get("logprobs")
        if not request.get("stream"):
            message: dict[str, Any] = {"role": "assistant", "content": "".join(words)}
            if calls:
                message = {"role": "assistant", "content": None, "tool_calls": calls}
            choice = {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if calls else finish,
                "logprobs": {"content": [_logprob(w) for w in words]} if logprobs else None,
            }
            await _json(
                send,
                200,
                {
                    **base,
                    "object": "chat.completion",
                    "choices": [choice],
                    **({"usage": usage} if self.include_usage else {}),
                },
            )
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/event-stream")],
            }
        )

        async def event(payload: dict[str, Any] | str) -> None:
            data = payload if isinstance(payload, str) else json.dumps(payload)
            await send(
                {
                    "type": "http.response.body",
                    "body": f"data: {data}\n\n".encode(),
                    "more_body": True,
                }
            )

        chunk = {**base, "object": "chat.completion.chunk"}
        await event(
            {**chunk, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}
        )
        if calls:
            words = []
            for piece in _call_pieces(calls):
                await event({**chunk, "choices": [{"index": 0, "delta": {"tool_calls": [piece]}}]})
            finish = "tool_calls"
        for i, word in enumerate(words):
            if self.cut_stream_after is not None and i >= self.cut_stream_after:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            if self.stall_stream_after is not None and i >= self.stall_stream_after:
                await asyncio.sleep(60)
            if self.token_delay:
                await asyncio.sleep(self.token_delay)
            lp = {"content": [_logprob(word)]} if logprobs else None
            await event(
                {
                    **chunk,
                    "choices": [
                        {
                            "index": 0,
                            "delta": {"content": word},
                            "finish_reason": None,
                            "logprobs": lp,
                        }
                    ],
                }
            )
        await event({**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
        wants_usage = (request.get("stream_options") or {}).get("include_usage")
        if wants_usage and self.include_usage:
            await event({**chunk, "choices": [], "usage": usage})
        await event("[DONE]")
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def _tool_calls(request: dict[str, Any]) -> list[dict[str, Any]]:
    """Call the tool the request names (or its first) with the last user
    text as argument, unless the conversation just got a tool result."""
    tools = request.get("tools") or []
    choice = request.get("tool_choice") or "auto"
    if not tools or choice == "none" or request["messages"][-1].get("role") == "tool":
        return []
    name = tools[0]["function"]["name"]
    if isinstance(choice, dict):
        name = choice["function"]["name"]
    users = [m for m in request["messages"] if m.get("role") == "user"]
    text = str(users[-1].get("content", "")) if users else ""
    calls = [{"id": "call_mock1", "type": "function",
              "function": {"name": name, "arguments": json.dumps({"text": text})}}]  # fmt: skip
    if request.get("parallel_tool_calls", True) and len(tools) > 1 and choice == "required":
        second = tools[1]["function"]["name"]
        calls.append({"id": "call_mock2", "type": "function",
                      "function": {"name": second, "arguments": "{}"}})  # fmt: skip
    return calls


def _call_pieces(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each call as OpenAI streams it: id and name first, arguments in two halves."""
    pieces: list[dict[str, Any]] = []
    for index, call in enumerate(calls):
        arguments = call["function"]["arguments"]
        half = len(arguments) // 2
        first = {"name": call["function"]["name"], "arguments": ""}
        pieces.append({"index": index, "id": call["id"], "type": "function", "function": first})
        pieces += [
            {"index": index, "function": {"arguments": part}}
            for part in (arguments[:half], arguments[half:])
        ]
    return pieces


def _logprob(token: str) -> dict[str, Any]:
    return {"token": token, "logprob": -0.25, "bytes": list(token.encode()), "top_logprobs": []}


async def _json(
    send: Any, status: int, payload: Any, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), *(headers or [])],
        }
    )
    await send({"type": "http.response.body", "body": body})


class ServerThread:
    """Serve an ASGI app with uvicorn on 127.0.0.1 in a background thread."""

    def __init__(self, app: Any, *, port: int = 0) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app, log_level="warning", lifespan="on", timeout_graceful_shutdown=2
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.run(self.server.serve(sockets=[self.sock]))

    def start(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


def main() -> None:  # pragma: no cover - used by bench/
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--tokens", type=int, default=8)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    args = parser.parse_args()
    uvicorn.run(
        MockCloud(reply_tokens=args.tokens, answer_delay=args.delay),
        host="127.0.0.1", port=args.port, log_level="warning",
    )  # fmt: skip


if __name__ == "__main__":
    main()
