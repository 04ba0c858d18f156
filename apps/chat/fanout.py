"""Chat generations seen from every server process (when ``REDIS_URL`` is set).

The process that runs a generation (its *owner*, apps/chat/streaming.py) keeps
it as before and mirrors it for the others:

- ``hybridhub:answer:<id>:owner`` names the owner, with a short expiry the
  owner keeps renewing (a heartbeat). A generation whose owner key is gone
  belongs to a process that died: its answer is marked stopped, with what it
  had, by whichever process looks at it next.
- ``hybridhub:answer:<id>:text`` is the text so far (the ``snapshot`` a
  subscriber starts from).
- New text goes to the Channels group ``hybridhub.answer.<id>`` as
  ``answer.token`` events with their character offset, then ``answer.done``
  once the answer row is saved. A subscriber joins the group before reading
  the snapshot and skips what the snapshot already had, so nothing is lost or
  shown twice; if the layer dropped an event it reads the snapshot again.
- Stop from any process is an ``answer.stop`` event to
  ``hybridhub.answer.<id>.control``, which only the owner listens to.

Without ``REDIS_URL`` there is one process and none of this runs: the
in-process registry is the whole story (docs/decisions/0007).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.utils import timezone

from apps.core.shared import PROCESS_ID, redis_async, redis_enabled, redis_sync

from .models import Message

logger = logging.getLogger(__name__)

OWNER_TTL_SECONDS = 10  # a dead owner is noticed within this
HEARTBEAT_SECONDS = 3
TEXT_TTL_SECONDS = 24 * 3600  # a safety net; deleted when the answer ends
# An answer younger than this may not have its owner key yet (see orphaned()).
YOUNG = timedelta(seconds=5)
INTERRUPTED = "Interrupted: the server process generating it stopped."

Event = tuple[str, str]


def enabled() -> bool:
    return redis_enabled()


def _owner_key(message_id: int) -> str:
    return f"hybridhub:answer:{message_id}:owner"


def _text_key(message_id: int) -> str:
    return f"hybridhub:answer:{message_id}:text"


def _group(message_id: int) -> str:
    return f"hybridhub.answer.{message_id}"


def _control(message_id: int) -> str:
    return f"hybridhub.answer.{message_id}.control"


# --- the owner's side ---------------------------------------------------------------


class Relay:
    """Mirrors one generation running in this process to every other one."""

    def __init__(self, message_id: int, on_stop: Callable[[], object]) -> None:
        self.message_id = message_id
        self.on_stop = on_stop
        self.pending: list[str] = []
        self.offset = 0  # characters already mirrored
        self.wake = asyncio.Event()
        self.lock = asyncio.Lock()  # one flush at a time keeps the offsets in order
        self.layer = get_channel_layer()
        self.tasks: list[asyncio.Task[None]] = []
        # Claimed before the view answers, so no process sees it unowned.
        redis_sync().set(_owner_key(message_id), PROCESS_ID, ex=OWNER_TTL_SECONDS)

    def start(self) -> None:
        for job in (self._heartbeat(), self._listen(), self._pump()):
            self.tasks.append(asyncio.create_task(job))

    def publish(self, text: str) -> None:
        self.pending.append(text)
        self.wake.set()

    async def close(self) -> None:
        """After the answer row is saved: flush, say done, let go."""
        await self._flush()
        for task in self.tasks:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self.tasks, return_exceptions=True)
        redis = redis_async()
        try:
            await redis.delete(_owner_key(self.message_id), _text_key(self.message_id))
            await self.layer.group_send(_group(self.message_id), {"type": "answer.done"})
        except Exception:  # subscribers notice the missing owner key instead
            logger.exception("Could not announce the end of answer %s", self.message_id)

    async def _pump(self) -> None:
        while True:
            await self.wake.wait()
            self.wake.clear()
            await self._flush()

    async def _flush(self) -> None:
        async with self.lock:
            await self._send()

    async def _send(self) -> None:
        if not self.pending:
            return
        text, self.pending = "".join(self.pending), []
        offset, self.offset = self.offset, self.offset + len(text)
        try:
            await redis_async().append(_text_key(self.message_id), text)
            await self.layer.group_send(
                _group(self.message_id), {"type": "answer.token", "offset": offset, "text": text}
            )
        except Exception:
            logger.exception("Could not mirror answer %s", self.message_id)

    async def _heartbeat(self) -> None:
        redis = redis_async()
        while True:
            try:
                await redis.set(_owner_key(self.message_id), PROCESS_ID, ex=OWNER_TTL_SECONDS)
                await redis.expire(_text_key(self.message_id), TEXT_TTL_SECONDS)
            except Exception:  # keep trying: a missed beat only risks an early "stopped"
                logger.warning("Heartbeat of answer %s failed", self.message_id)
            await asyncio.sleep(HEARTBEAT_SECONDS)

    async def _listen(self) -> None:
        channel = await self.layer.new_channel()
        await self.layer.group_add(_control(self.message_id), channel)
        try:
            while (await self.layer.receive(channel))["type"] != "answer.stop":
                pass
            self.on_stop()
        finally:
            await self.layer.group_discard(_control(self.message_id), channel)


# --- everyone else's side -------------------------------------------------------------


def _owned(message_id: int) -> bool | None:
    """Whether a live process generates it; None if Redis cannot say."""
    try:
        return bool(redis_sync().exists(_owner_key(message_id)))
    except Exception:
        logger.warning("Redis is unreachable: cannot tell who generates answer %s", message_id)
        return None


def live_text(message_id: int) -> str | None:
    """The text so far if some process is generating the answer, else None."""
    try:
        text, owner = redis_sync().mget(_text_key(message_id), _owner_key(message_id))
    except Exception:
        logger.warning("Redis is unreachable: answer %s shown as it was saved", message_id)
        return None
    return None if owner is None else (text or "")


def stop_send(message_id: int) -> bool:
    """Ask the owner, wherever it runs, to stop (from sync code)."""
    if not _owned(message_id):
        return False
    async_to_sync(get_channel_layer().group_send)(_control(message_id), {"type": "answer.stop"})
    return True


def orphaned_mark(message: Message) -> bool:
    """Mark a 'streaming' answer that no process generates any more as stopped."""
    if message.status != Message.Status.STREAMING or timezone.now() - message.created_at < YOUNG:
        return False
    if _owned(message.pk) is not False:  # alive, or Redis cannot say: leave it
        return False
    updated = Message.objects.filter(pk=message.pk, status=Message.Status.STREAMING).update(
        status=Message.Status.STOPPED, error=INTERRUPTED
    )
    if updated:
        message.status, message.error = Message.Status.STOPPED, INTERRUPTED
    return bool(updated)


def owned_elsewhere(message_ids: list[int]) -> set[int]:
    """Which of these answers a live process (any) still generates."""
    if not message_ids:
        return set()
    try:
        owners = redis_sync().mget([_owner_key(pk) for pk in message_ids])
    except Exception:  # cannot tell: stop none of them (the next look will)
        logger.warning("Redis is unreachable: answers in flight left as they are")
        return set(message_ids)
    return {pk for pk, owner in zip(message_ids, owners, strict=True) if owner is not None}


async def follow(message_id: int) -> AsyncIterator[Event]:
    """``snapshot``, then ``token`` events of a generation in another process,
    until it ends; nothing if no process is generating it."""
    layer: Any = get_channel_layer()
    redis = redis_async()
    channel = await layer.new_channel()
    await layer.group_add(_group(message_id), channel)
    try:
        text, owner = await redis.mget(_text_key(message_id), _owner_key(message_id))
        if owner is None:
            return
        have = len(text or "")
        yield ("snapshot", text or "")
        while True:
            try:
                event = await asyncio.wait_for(layer.receive(channel), HEARTBEAT_SECONDS)
            except TimeoutError:
                if not await redis.exists(_owner_key(message_id)):
                    return  # the owner died: the caller finds the row and marks it
                continue
            if event["type"] == "answer.done":
                return
            offset, piece = event["offset"], event["text"]
            if offset > have:  # an event went missing: catch up from the snapshot
                piece, offset = (await redis.get(_text_key(message_id)) or "")[have:], have
            new = piece[have - offset :]
            if new:
                have += len(new)
                yield ("token", new)
    finally:
        await layer.group_discard(_group(message_id), channel)


async def orphaned_amark(message_id: int) -> None:
    message = await Message.objects.filter(pk=message_id).afirst()
    if message is not None:
        await sync_to_async(orphaned_mark)(message)
