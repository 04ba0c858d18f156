"""Answers generate in the background, apart from any one browser connection.

A generation is an asyncio task in the server process that runs the gateway
completion and keeps the text so far. Browsers subscribe to it over SSE: a
refresh or a second tab re-subscribes (getting the text so far first) instead
of starting another generation, and a dropped connection does not stop it.
Stop cancels the task; the gateway records the request as cancelled.

The registry lives in this process (docs/decisions/0004-chat-streaming.md).
With ``REDIS_URL`` set, each generation is also mirrored through the Channels
layer (apps/chat/fanout.py), so subscribers and Stop work from any process and
an answer whose process died ends as stopped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass, field

from apps.gateway.errors import GatewayError
from apps.gateway.services import Completion

from . import fanout

logger = logging.getLogger(__name__)

Event = tuple[str, str]  # ("token", text) or ("done", "")


@dataclass
class Generation:
    message_id: int
    parts: list[str] = field(default_factory=list)
    subscribers: set[asyncio.Queue[Event]] = field(default_factory=set)
    task: asyncio.Task[None] | None = None
    done: bool = False
    relay: fanout.Relay | None = None  # other processes' view of it (REDIS_URL)

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
            if self.relay is not None:
                self.relay.publish(event[1])
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
    if fanout.enabled():
        try:
            generation.relay = fanout.Relay(message_id, on_stop=generation.task.cancel)
            generation.relay.start()
        except Exception:  # Redis down: the answer still streams in this process
            logger.exception("Chat generation %s is not visible to other processes", message_id)
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
            if generation.relay is not None:
                await asyncio.shield(generation.relay.close())
        finally:
            generation.done = True
            generation.publish(("done", ""))
            _live.pop(generation.message_id, None)


def generation_stop(message_id: int) -> bool:
    """Stop the generation, in this process or (REDIS_URL) in any other."""
    generation = _live.get(message_id)
    if generation is None or generation.task is None or generation.task.done():
        return fanout.enabled() and fanout.stop_send(message_id)
    generation.task.cancel()
    return True


def generation_peek(message_id: int) -> str | None:
    """The text so far of a generation running anywhere, or None if none is."""
    generation = _live.get(message_id)
    if generation is not None:
        return generation.text
    return fanout.live_text(message_id) if fanout.enabled() else None


async def generation_follow(message_id: int) -> AsyncIterator[Event]:
    """("snapshot", text so far), then ("token", text)… until the generation
    ends; nothing if no process runs it."""
    generation = _live.get(message_id)
    if generation is None:
        if fanout.enabled():
            async for event in fanout.follow(message_id):
                yield event
            await fanout.orphaned_amark(message_id)  # if its process died
        return
    queue = generation.subscribe()
    try:
        yield ("snapshot", generation.text)
        while (event := await queue.get())[0] != "done":
            yield event
    finally:
        generation.unsubscribe(queue)
