"""Redact-then-send: typed placeholders out, the originals back in the answer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .classification import Placeholders, redact, restore
from .engine import Located

# The longest placeholder held back while streaming: "[" + a 30-character
# label (+ "CUSTOM_") + "_" + a number + "]".
_LONGEST = 64


def redact_texts(
    texts: Sequence[str], findings: Sequence[Located]
) -> tuple[list[str], dict[str, str]]:
    """Redact every message of a conversation with one numbering, so the same
    value is the same placeholder wherever it appears."""
    placeholders = Placeholders("\n".join(texts))
    out = [
        redact(text, [f.finding for f in findings if f.message == index], placeholders)[0]
        for index, text in enumerate(texts)
    ]
    return out, placeholders.mapping


class StreamRestorer:
    """Puts originals back into a streamed answer, even when a placeholder
    arrives split across pieces ("[EMA" + "IL_1]")."""

    def __init__(self, mapping: Mapping[str, str]) -> None:
        self.mapping = dict(mapping)
        self.pending = ""

    def feed(self, text: str) -> str:
        self.pending += text
        cut = self.pending.rfind("[")
        if cut >= 0 and "]" not in self.pending[cut:] and len(self.pending) - cut < _LONGEST:
            ready, self.pending = self.pending[:cut], self.pending[cut:]
        else:
            ready, self.pending = self.pending, ""
        return restore(ready, self.mapping)

    def flush(self) -> str:
        ready, self.pending = self.pending, ""
        return restore(ready, self.mapping)
