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


class _CharClass:
    """Any of a set of characters, found fast. The regex engine compiles a
    class of BMP characters to a bitmap (one test per character) but tests a
    class that reaches beyond the BMP range by range, and an alternation of
    the two at every position (4 KB took 1-10 ms), so the two halves are
    separate patterns, searched one after the other."""

    def __init__(self, codes: list[int]) -> None:
        self.bmp = re.compile(f"[{_ranges([c for c in codes if c < 0x10000])}]")
        self.beyond = re.compile(f"[{_ranges([c for c in codes if c >= 0x10000])}]")

    def _patterns(self, text: str) -> list[re.Pattern[str]]:
        # max() runs in C and spares the slow class when it cannot match.
        return [self.bmp, self.beyond] if max(text) >= "\U00010000" else [self.bmp]

    def search(self, text: str) -> bool:
        return any(pattern.search(text) for pattern in self._patterns(text))

    def positions(self, text: str) -> list[int]:
        return sorted(m.start() for p in self._patterns(text) for m in p.finditer(text))

    def replace(self, text: str, table: dict[int, str]) -> str:
        """``text.translate(table)``, faster when few characters change (a
        translation looks every character up; this only the ones found)."""
        for pattern in self._patterns(text):
            text = pattern.sub(lambda m: table[ord(m.group())], text)
        return text


def _ranges(codes: list[int]) -> str:
    ranges: list[list[int]] = []
    for code in sorted(codes):
        if ranges and code == ranges[-1][1] + 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    return "".join(
        re.escape(chr(low)) + ("" if low == high else "-" + re.escape(chr(high)))
        for low, high in ranges
    )


@cache
def _tables() -> tuple[dict[int, str], _CharClass, _CharClass]:
    """The translation table (built once, ~0.1 s), a pattern for the
    characters it changes and one for those it removes."""
    table: dict[int, str] = {}
    codes = [*range(0x80, 0x10000), *(c for low, high in _EXTRA_RANGES for c in range(low, high))]
    for code in codes:
        if 0xD800 <= code <= 0xDFFF:
            table[code] = "\ufffd"  # a lone surrogate: not text, and RE2 needs UTF-8
            continue
        replacement = _replacement(chr(code))
        if replacement is not None:
            table[code] = replacement
    removed = [code for code, value in table.items() if value == ""]
    return table, _CharClass(list(table)), _CharClass(removed)


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
        table, changing, removed = _tables()
        if not changing.search(original):
            return cls(original, n)  # "Zürich", "東京": nothing to fold
        text = changing.replace(original, table)
        if len(text) == n:
            return cls(text, n)
        at = tuple(position - k for k, position in enumerate(removed.positions(original)))
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
