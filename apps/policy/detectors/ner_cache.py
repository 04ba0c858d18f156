"""The NER model's findings per text, remembered (apps/policy/text_cache.py):
a chat sends its whole history with every request, and the model is the
expensive part of a decision."""

from __future__ import annotations

from typing import Protocol

from apps.policy.text_cache import TextCache

Span = tuple[int, int]
Entities = dict[str, list[Span]]


class Tagger(Protocol):
    def entities(self, text: str) -> Entities: ...


class EntityCache(TextCache[Entities]):
    def entities(self, tagger: Tagger, text: str) -> Entities:
        """``tagger.entities(text)``, computed once per text while it stays
        among the ``size`` most recently used."""
        return self.computed(text, tagger.entities)
