"""The NER model's findings per text, remembered: a chat sends its whole
history with every request, and the model is the expensive part of a
decision. Keys are BLAKE2b digests of the text, so the cache holds no
prompt text; bounded, least recently used first out; thread-safe."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import Protocol

Span = tuple[int, int]
Entities = dict[str, list[Span]]


class Tagger(Protocol):
    def entities(self, text: str) -> Entities: ...


class EntityCache:
    def __init__(self, *, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[bytes, Entities] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def entities(self, tagger: Tagger, text: str) -> Entities:
        """``tagger.entities(text)``, computed once per text while it stays
        among the ``size`` most recently used."""
        key = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                self.hits += 1
                return found
            self.misses += 1
        found = tagger.entities(text)  # outside the lock: other texts need not wait
        with self._lock:
            self._entries[key] = found
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return found

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.hits = self.misses = 0
