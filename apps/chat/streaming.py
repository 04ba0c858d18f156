"""Answers generate in the background, apart from any one browser connection.

A generation is an asyncio task in the server process that runs the gateway
completion and keeps the text so far. Browsers subscribe to it over SSE: a
refresh or a second tab re-subscribes (getting the text so far first) instead
of starting another generation, and a dropped connection does not stop it.
Stop cancels the task; the gateway records the request as cancelled.

The registry lives in this process (see docs/decisions/0004-chat-streaming.md):
run one server worker per machine, or route a conversation's requests to the
same worker.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass, field

from apps.gateway.errors import GatewayError
from apps.gateway.services import Completion

logger = logging.getLogger(__name__)

Event = tuple[str, str]  # ("token", text) or ("done", "")


@dataclass
class Generation:
    message_id: int
    parts: list[str] = field(default_factory=list)
    subscribers: set[asyncio.Queue[Event]] = field(default_factory=set)
    task: asyncio.Task[None] | None = None
    done: bool = False

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def subscribe(self) -> asyncio.Queue[Event]:
        queue: asyncio.Queue[Event] = asyncio.Queue()
        if self.done:
            queue.put_nowait(("done", ""))
        self.subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Event]) -> None:
        self.subscribers.discard(queue)

    def publish(self, event: Event) -> None:
        if event[0] == "token":
            self.parts.append(event[1])
        for queue in self.subscribers:
            queue.put_nowait(event)


_live: dict[int, Generation] = {}


def generation_get(message_id: int) -> Generation | None:
    return _live.get(message_id)


@dataclass(frozen=True)
class Outcome:
    status: str  # a Message.Status value
    text: str
    completion: Completion | None
    error: str = ""


def generation_start(
    message_id: int,
    start: Callable[[], Awaitable[Completion]],
    finish: Callable[[Outcome], Awaitable[None]],
) -> Generation:
    """Run ``start()`` and stream its answer into a Generation; ``finish`` saves
    the outcome, whatever it is, before subscribers hear that it is done."""
    generation = _live[message_id] = Generation(message_id)
    generation.task = asyncio.create_task(_run(generation, start, finish))
    return generation


async def _run(
    generation: Generation,
    start: Callable[[], Awaitable[Completion]],
    finish: Callable[[Outcome], Awaitable[None]],
) -> None:
    completion = None
    outcome = Outcome("error", "", None, "The answer could not be generated.")
    try:
        completion = await start()
        async with aclosing(completion.events()) as pieces:
            async for piece in pieces:
                if piece.text:
                    generation.publish(("token", piece.text))
        outcome = Outcome("done", generation.text, completion)
    except GatewayError as exc:
        outcome = Outcome("error", generation.text, completion, exc.message)
    except asyncio.CancelledError:
        outcome = Outcome("stopped", generation.text, completion)
    except Exception:
        logger.exception("Chat generation %s failed", generation.message_id)
        outcome = Outcome("error", generation.text, completion, "The answer failed unexpectedly.")
    finally:
        try:
            await asyncio.shield(finish(outcome))
        finally:
            generation.done = True
            generation.publish(("done", ""))
            _live.pop(generation.message_id, None)


def generation_stop(message_id: int) -> bool:
    generation = _live.get(message_id)
    if generation is None or generation.task is None or generation.task.done():
        return False
    generation.task.cancel()
    return True
