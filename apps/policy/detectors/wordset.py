"""Which of a list of words occur in a text: one linear RE2 pass for all of
them (a ``str.find`` per word costs a scan of the text each)."""

from __future__ import annotations

from collections.abc import Iterable

import re2

_OPTIONS = re2.Options()
_OPTIONS.never_capture = True
_OPTIONS.log_errors = False


class WordSet:
    def __init__(self, words: Iterable[str]) -> None:
        self.words = sorted(set(words))
        self._set = re2.Set.SearchSet(_OPTIONS)
        for word in self.words:
            self._set.Add(re2.escape(word))
        self._set.Compile()

    def present(self, data: bytes) -> frozenset[str]:
        """The words that occur in ``data`` (UTF-8)."""
        found = self._set.Match(data)
        return frozenset(self.words[i] for i in found) if found else frozenset()
