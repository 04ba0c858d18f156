"""The text the detectors read: a normalised shadow of the prompt.

People (and people hiding things) write the same value many ways: a zero-width
space or a soft hyphen inside a card number, an NBSP between IBAN groups,
full-width or Arabic-Indic digits, a full-width "＠", an invisible "tag"
character copy of ASCII text. Detectors should not each learn every disguise,
so they read a *shadow* of the text where

- format characters (zero-width, soft hyphen, BOM, bidi controls, variation
  selectors) are removed;
- Unicode tag characters (U+E0020–U+E007E, invisible copies of ASCII) become
  the ASCII they encode, so smuggled text is classified too;
- every kind of space becomes " ", line/paragraph separators "\\n", and
  hyphen and minus look-alikes "-";
- Unicode decimal digits become ASCII digits;
- other characters whose NFKC form is one character take it (full-width
  letters and "＠", mathematical alphanumerics, ligature-free compatibility
  forms); forms that would expand ("…", "½") stay as they are.

Every change keeps one character for one, except removals, so a span in the
shadow maps back to the original with one bisection (``Shadow.span``) and
redaction replaces exactly the characters the finding covers, invisible ones
inside it included. The original text is what is sent; the shadow is only read.

For custom keywords there is a second step, ``skeleton``: letters that look
like Latin ones (Cyrillic "а", Greek "Ο") read as those, one for one, so
"Prоject Falcon" with a Cyrillic "о" still matches "Project Falcon". It is
not applied for the built-in detectors, where it would turn Russian or Greek
words into Latin-looking noise.
"""

from __future__ import annotations

import bisect
import json
import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from importlib import resources

_SPACE_LIKE = "\u0085\u00a0\u1680\u180e\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000"  # noqa: E501
_HYPHEN_LIKE = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2043\ufe58\ufe63\uff0d"
# Planes beyond the BMP worth mapping: mathematical alphanumerics (𝟏, 𝐀),
# tag characters, variation selectors 17–256.
_EXTRA_RANGES = ((0x1D400, 0x1D800), (0xE0000, 0xE0080), (0xE0100, 0xE01F0))


def _replacement(ch: str) -> str | None:
    """What ``ch`` reads as in the shadow: "" to remove it, None to keep it."""
    code = ord(ch)
    if 0xE0020 <= code <= 0xE007E:
        return chr(code - 0xE0000)  # a tag character: the ASCII it stands for
    if ch in _SPACE_LIKE:
        return " "
    if ch in "\u2028\u2029":
        return "\n"
    if ch in _HYPHEN_LIKE:
        return "-"
    category = unicodedata.category(ch)
    if category == "Cf" or 0xFE00 <= code <= 0xFE0F or 0xE0100 <= code <= 0xE01EF:
        return ""  # invisible: format characters and variation selectors
    if category == "Nd":
        return str(unicodedata.digit(ch))
    folded = unicodedata.normalize("NFKC", ch)
    if folded != ch and len(folded) == 1:
        return folded
    return None


@cache
def _tables() -> tuple[dict[int, str], re.Pattern[str]]:
    """The translation table (built once, ~0.1 s) and a pattern for the
    characters it removes."""
    table: dict[int, str] = {}
    codes = [*range(0x80, 0x10000), *(c for low, high in _EXTRA_RANGES for c in range(low, high))]
    for code in codes:
        if 0xD800 <= code <= 0xDFFF:
            table[code] = "\ufffd"  # a lone surrogate: not text, and RE2 needs UTF-8
            continue
        replacement = _replacement(chr(code))
        if replacement is not None:
            table[code] = replacement
    removed = "".join(re.escape(chr(code)) for code, value in table.items() if value == "")
    return table, re.compile(f"[{removed}]")


@dataclass(frozen=True, slots=True)
class Shadow:
    """A normalised text and how its offsets map back to the original."""

    text: str
    original_length: int
    # Shadow offsets at which a removed character stood, one entry per
    # removed character (so repeated offsets for runs of them).
    _removed_at: tuple[int, ...] = ()

    @classmethod
    def of(cls, original: str) -> Shadow:
        n = len(original)
        if original.isascii():
            return cls(original, n)
        table, removed = _tables()
        text = original.translate(table)
        if len(text) == n:
            return cls(text, n)
        at = tuple(match.start() - k for k, match in enumerate(removed.finditer(original)))
        return cls(text, n, at)

    def offset(self, index: int) -> int:
        """The original offset of the shadow character at ``index``."""
        return index + bisect.bisect_right(self._removed_at, index)

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The original span of shadow ``[start, end)`` (``end > start``):
        from its first character to its last, removed characters between
        them included; a span that reaches an end of the shadow reaches that
        end of the original."""
        if not self._removed_at:
            return start, end
        first = 0 if start == 0 else self.offset(start)
        last = self.original_length if end == len(self.text) else self.offset(end - 1) + 1
        return first, last


@cache
def _skeleton_table() -> dict[int, str]:
    """Non-ASCII letters that look like one ASCII letter or digit, from the
    Unicode confusables data that ``confusable_homoglyphs`` ships (MIT)."""
    data = json.loads(
        resources.files("confusable_homoglyphs").joinpath("confusables.json").read_text("utf-8")
    )
    table: dict[int, str] = {}
    for ch, homoglyphs in data.items():
        if len(ch) != 1 or ch.isascii():
            continue
        for homoglyph in homoglyphs:
            look = homoglyph["c"]
            if len(look) == 1 and look.isascii() and look.isalnum():
                table[ord(ch)] = look
                break
    return table


def skeleton(text: str) -> str:
    """``text`` with Latin look-alike letters read as Latin, one for one."""
    return text if text.isascii() else text.translate(_skeleton_table())
