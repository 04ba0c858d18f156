"""What every server process must see: Redis clients and snapshot versions.

Each process keeps read-only snapshots (the provider catalogue, the published
policy) so the request path does no queries. When one process changes what a
snapshot is built from, it bumps the snapshot's version; every process compares
the version it loaded with the shared one before using its copy, at most every
``HYBRIDHUB_SNAPSHOT_CHECK_SECONDS`` (one Redis GET), so a change reaches every
process well within a second instead of after the snapshot's TTL.

Without ``REDIS_URL`` there is one process (``make run``): the version is a
counter in this process, and a bump is seen at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
import weakref
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)

# This process, as other processes see it (heartbeats, generation owners).
PROCESS_ID = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"

_sync_client: Any = None
_async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = (
    weakref.WeakKeyDictionary()
)


def redis_enabled() -> bool:
    return bool(settings.REDIS_URL)


def redis_sync() -> Any:
    """A blocking client (short timeouts: a slow Redis must not stall a request)."""
    global _sync_client
    if _sync_client is None:
        import redis  # installed with channels-redis

        _sync_client = redis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1, decode_responses=True
        )
    return _sync_client


def redis_async() -> Any:
    """An asyncio client for the running event loop (clients are bound to one)."""
    loop = asyncio.get_running_loop()
    client = _async_clients.get(loop)
    if client is None:
        import redis.asyncio

        client = _async_clients[loop] = redis.asyncio.Redis.from_url(
            settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=1, decode_responses=True
        )
    return client


class SharedVersion:
    """A snapshot's version: ``(changes in this process, changes anywhere)``."""

    def __init__(self, name: str) -> None:
        self.key = f"hybridhub:snapshot:{name}"
        self._local = 0
        self._shared: str | None = None
        self._checked_at = 0.0

    def bump(self) -> None:
        """Call after the change is committed (``transaction.on_commit``)."""
        self._local += 1
        if redis_enabled():
            try:
                redis_sync().incr(self.key)
            except Exception:  # the TTL still refreshes every process
                logger.exception("Could not tell other processes that %s changed", self.key)

    def current(self) -> tuple[int, str | None]:
        if redis_enabled():
            now = time.monotonic()
            if now - self._checked_at >= settings.HYBRIDHUB_SNAPSHOT_CHECK_SECONDS:
                self._checked_at = now
                try:
                    self._shared = redis_sync().get(self.key)
                except Exception:
                    logger.warning("Could not read %s; relying on the TTL", self.key)
        return self._local, self._shared
