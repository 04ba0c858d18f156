"""Several base URLs for one on-prem model server: pick, count, take out, probe.

An on-prem model often runs on more than one GPU box (vLLM, llama.cpp's
server, Ollama, TGI behind the same model name). A provider lists them as its
base URL plus ``replica_urls``. Each request goes to the replica with the
fewest requests outstanding *from this process* (the lowest listed on a tie).
A replica that fails to connect, times out or answers 5xx leaves the rotation
and is probed (``GET <url>/models``) until it answers again; if every replica
is out, the one out longest is tried anyway, so a request is never refused
only because the probes are pessimistic.

``replica_load()`` shows the outstanding requests per replica (the queue
depth, also on /metrics).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx

logger = logging.getLogger(__name__)

PROBE_SECONDS = 2.0  # between probes of a replica out of rotation
PROBE_TIMEOUT_SECONDS = 2.0


@dataclass
class Replica:
    url: str
    outstanding: int = 0
    failing_since: float | None = None
    failures: int = 0  # in a row
    probe: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def up(self) -> bool:
        return self.failing_since is None


class ReplicaPool:
    def __init__(self, name: str, urls: tuple[str, ...]) -> None:
        self.name = name
        self.replicas = [Replica(url) for url in dict.fromkeys(urls)]

    def pick(self) -> Replica:
        up = [r for r in self.replicas if r.up]
        if up:
            return min(up, key=lambda r: r.outstanding)  # min() keeps the first on a tie
        return min(self.replicas, key=lambda r: r.failing_since or 0.0)

    @contextlib.contextmanager
    def using(self, replica: Replica) -> Iterator[Replica]:
        replica.outstanding += 1
        try:
            yield replica
        finally:
            replica.outstanding -= 1

    def succeeded(self, replica: Replica) -> None:
        if not replica.up:
            logger.warning("%s: replica %s is back in rotation", self.name, replica.url)
        replica.failing_since, replica.failures = None, 0

    def failed(self, replica: Replica) -> None:
        replica.failures += 1
        if replica.up and len(self.replicas) > 1:
            logger.warning("%s: replica %s out of rotation", self.name, replica.url)
            replica.failing_since = time.monotonic()
            self._probe_later(replica)

    def _probe_later(self, replica: Replica) -> None:
        try:
            replica.probe = asyncio.get_running_loop().create_task(self._probe(replica))
        except RuntimeError:  # no loop (sync caller): the next request tries it
            replica.failing_since = None

    async def _probe(self, replica: Replica) -> None:
        async with httpx.AsyncClient(timeout=PROBE_TIMEOUT_SECONDS) as http:
            while not replica.up:
                await asyncio.sleep(PROBE_SECONDS)
                if replica.up:
                    return
                try:
                    reply = await http.get(replica.url.rstrip("/") + "/models")
                except httpx.HTTPError:
                    continue
                if reply.status_code < 500:
                    self.succeeded(replica)

    def load(self) -> dict[str, tuple[int, bool]]:
        return {r.url: (r.outstanding, r.up) for r in self.replicas}

    def close(self) -> None:
        for replica in self.replicas:
            if replica.probe is not None:
                replica.probe.cancel()


_pools: dict[str, ReplicaPool] = {}


def pool_for(name: str, urls: tuple[str, ...]) -> ReplicaPool:
    """The provider's pool, shared by its models; a new one when its URLs change."""
    pool = _pools.get(name)
    if pool is None or [r.url for r in pool.replicas] != list(dict.fromkeys(urls)):
        if pool is not None:
            pool.close()
        pool = _pools[name] = ReplicaPool(name, urls)
    return pool


def replica_load() -> dict[str, dict[str, tuple[int, bool]]]:
    """Provider → replica URL → (requests outstanding from this process, in rotation)."""
    return {name: pool.load() for name, pool in sorted(_pools.items())}
