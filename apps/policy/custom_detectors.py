"""Detectors that admins write: keyword lists and regular expressions.

They run on RE2 (``google-re2``), whose matching time is linear in the text
for every pattern it accepts, so an admin's pattern cannot stall the server
however it is written; constructs that need backtracking (backreferences,
lookarounds, atomic groups, possessive quantifiers) are refused when the
pattern is saved. A request's classification still has one time budget
(``Deadline``) as a backstop: past it, the detectors that have not run fail
closed, as if they had matched the whole text.

Keywords match whole words, case-insensitively, on the normalised shadow's
*skeleton* (normalize.py), so look-alike letters, soft hyphens and
zero-width characters do not hide them; a hyphen or a hyphenated line break
inside a word ("Fal-con"), and any separators between words ("Project_Falcon",
"project\\nfalcon"), still match.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Protocol

import re2

if TYPE_CHECKING:
    from .classification import CustomDetector

logger = logging.getLogger(__name__)

MAX_PATTERN_LENGTH = 500
CLASSIFY_BUDGET_S = 0.25  # custom detectors, for all the texts of one request
_MAX_MEM = 64 << 20  # RE2's memory for one compiled keyword list or pattern

Span = tuple[int, int]

# Lower-cases ASCII letters and drops everything else (the keyword prefilter).
SQUASH_MAP = str.maketrans(
    {chr(i): chr(i).lower() if chr(i).isalnum() else None for i in range(128)}
)


class ScanText(Protocol):
    """What a custom detector reads of a text (classification._Scan)."""

    text: str

    @property
    def skeleton(self) -> str: ...

    @property
    def squashed(self) -> str | None: ...


class Deadline:
    """One time budget shared by every custom detector of a request."""

    def __init__(self, seconds: float = CLASSIFY_BUDGET_S) -> None:
        self.at = time.perf_counter() + seconds

    def passed(self) -> bool:
        return time.perf_counter() > self.at


def _options() -> re2.Options:
    options = re2.Options()
    options.max_mem = _MAX_MEM
    options.never_capture = True  # spans are all we need
    return options


class CustomMatcher:
    """One admin-defined detector, compiled once."""

    def __init__(self, detector: CustomDetector, label: str) -> None:
        if detector.kind not in ("keywords", "regex"):
            raise ValueError(f"custom detector {detector.name!r}: unknown kind {detector.kind!r}")
        self.detector = f"custom:{detector.name}"
        self.label = label
        self.level = detector.level
        self.keywords = detector.kind == "keywords"
        patterns = [p for p in detector.patterns if p.strip()]
        self.patterns: list[re2._Regexp] | None
        try:
            self.patterns = _compile(patterns, keywords=self.keywords)
        except re2.error as exc:
            if not _valid_elsewhere(patterns):
                raise ValueError(f"custom detector {detector.name!r}: {exc}") from exc
            # Saved before RE2, and needing backtracking: fails closed until edited.
            logger.error(
                "Custom detector %s needs backtracking; it matches everything", detector.name
            )
            self.patterns = None
        # For each keyword, the words it is made of; None: cannot prefilter, always run.
        needs = [_words_of(keyword) for keyword in patterns] if self.keywords else []
        self.needs: list[tuple[str, ...]] | None = needs if needs and all(needs) else None

    def spans(self, scan: ScanText, deadline: Deadline) -> list[Span]:
        if not self._may_match(scan):
            return []
        if self.patterns is None or deadline.passed():
            return [(0, len(scan.text))]  # cannot tell what the text holds: all of it
        if self.keywords:
            spans = _whole_words(self.patterns[0], scan.skeleton, deadline)
        else:
            spans = [s for p in self.patterns for s in _matches(p, scan.text, deadline)]
        if deadline.passed():
            return [(0, len(scan.text))]
        return spans

    def _may_match(self, scan: ScanText) -> bool:
        """A keyword list is a big alternation, slower to scan than substring
        searches for the words it needs; most texts contain none of them.
        The text is squashed (lower case, letters and digits only), so words
        split by separators or hyphens are still found, and only an ASCII
        skeleton is squashed, where lower-casing and the case-insensitive
        match agree: the shortcut can never hide a match."""
        squashed = scan.squashed
        if self.needs is None or squashed is None:
            return True
        return any(all(word in squashed for word in need) for need in self.needs)


def _compile(patterns: Sequence[str], *, keywords: bool) -> list[re2._Regexp]:
    if not keywords:
        return [re2.compile(pattern, _options()) for pattern in patterns]
    if not patterns:
        return []
    # One alternation, longest first so "Project Falcon" wins over "Project".
    words = sorted({p.strip() for p in patterns}, key=len, reverse=True)
    return [re2.compile("(?i)" + "|".join(map(_keyword_regex, words)), _options())]


_SEPARATORS = r"[\s\-_./]+"  # between the words of a keyword
_HYPHENATION = r"(?:-\s{0,2})?"  # inside a word: "Fal-con", "Fal-\ncon"


def _keyword_regex(keyword: str) -> str:
    from .normalize import Shadow, skeleton

    plain = skeleton(Shadow.of(keyword).text)
    parts = [part for part in re.split(r"[\s\-_./]+", plain) if part]
    return _SEPARATORS.join(_HYPHENATION.join(map(re2.escape, part)) for part in parts)


_CHECK_EVERY = 256  # matches between two looks at the clock


def _matches(pattern: re2._Regexp, text: str, deadline: Deadline) -> Iterator[Span]:
    """Non-empty matches, until the budget is spent (a text can hold tens of
    thousands of matches, each costing the RE2 wrapper some microseconds)."""
    for count, match in enumerate(pattern.finditer(text), 1):
        if match.end() > match.start():
            yield match.span()
        if count % _CHECK_EVERY == 0 and deadline.passed():
            return


def _whole_words(pattern: re2._Regexp, text: str, deadline: Deadline) -> list[Span]:
    """Matches whose ends do not touch a letter or digit that continues a
    word ("falcon" is not in "falcons"; "C++" is in "C++11")."""
    spans, pos, count = [], 0, 0
    while (match := pattern.search(text, pos)) is not None:
        count += 1
        if count % _CHECK_EVERY == 0 and deadline.passed():
            break
        start, end = match.span()
        if end == start:
            pos = end + 1
        elif _touches_word(text, start, end):
            pos = start + 1
        else:
            spans.append((start, end))
            pos = end
    return spans


def _touches_word(text: str, start: int, end: int) -> bool:
    before = start > 0 and _is_word(text[start - 1]) and _is_word(text[start])
    after = end < len(text) and _is_word(text[end]) and _is_word(text[end - 1])
    return before or after


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _words_of(keyword: str) -> tuple[str, ...]:
    from .normalize import Shadow, skeleton

    plain = skeleton(Shadow.of(keyword).text)
    if not plain.isascii():
        return ()
    return tuple(word.translate(SQUASH_MAP) for word in re.split(r"[^A-Za-z0-9]+", plain) if word)


# --- validating what an admin writes ----------------------------------------------

_EMPTY_PROBES = ("", "a", " 1_.-\n")


def custom_pattern_problem(kind: str, pattern: str) -> str | None:
    """A readable reason a custom keyword/regex is refused, or None."""
    if kind not in ("keywords", "regex"):
        return f"unknown kind {kind!r} (use 'keywords' or 'regex')"
    if not pattern.strip():
        return "is empty"
    if len(pattern) > MAX_PATTERN_LENGTH:
        return f"is longer than {MAX_PATTERN_LENGTH} characters"
    if kind == "keywords":
        return None  # escaped before use: always a plain match
    problem = _regex_problem([pattern])
    if problem is not None:
        return problem
    compiled = re2.compile(pattern, _options())
    if any(m.end() == m.start() for probe in _EMPTY_PROBES for m in compiled.finditer(probe)):
        return "can match an empty string, so it would match everywhere"
    return None


def _valid_elsewhere(patterns: Sequence[str]) -> bool:
    """Whether Python's backtracking engine accepts every pattern."""
    try:
        for pattern in patterns:
            re.compile(pattern)
    except re.error:
        return False
    return True


def _regex_problem(patterns: Sequence[str]) -> str | None:
    for pattern in patterns:
        try:
            re2.compile(pattern, _options())
        except re2.error as exc:
            try:
                re.compile(pattern)
            except re.error as syntax:
                return f"is not a valid regular expression: {syntax}"
            return (
                "uses a construct that needs backtracking (a backreference, lookahead or "
                "lookbehind, an atomic group or a possessive quantifier), which the "
                f"linear-time engine refuses: {exc}"
            )
    return None
