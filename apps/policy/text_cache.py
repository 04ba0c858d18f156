"""Results computed from a text, remembered per text: a chat re-sends its
whole history with every request, and an application its system prompt, so
most texts a decision reads were read moments ago.

Keys are BLAKE2b digests of the text (and of what else the result depends
on), so a cache holds no prompt text; bounded, least recently used first
out; thread-safe (the gateway decides on several threads)."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

V = TypeVar("V")


def text_key(text: str, salt: bytes = b"") -> bytes:
    """A text's key: any string, lone surrogates included."""
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16)
    if salt:
        digest.update(salt)
    return digest.digest()


class TextCache(Generic[V]):
    def __init__(self, *, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[bytes, V] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: bytes) -> V | None:
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return found

    def put(self, key: bytes, value: V) -> None:
        with self._lock:
            self._entries[key] = value
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def computed(self, text: str, compute: Callable[[str], V]) -> V:
        """``compute(text)``, once per text while it stays among the ``size``
        most recently used; computed outside the lock, so other texts need
        not wait."""
        key = text_key(text)
        found = self.get(key)
        if found is None:
            found = compute(text)
            self.put(key, found)
        return found

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.hits = self.misses = 0
