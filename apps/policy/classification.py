"""Finding sensitive data in prompt text. Pure: a string in, findings out.

Built-in detectors are regular expressions plus the checks that make them
precise: Luhn and issuer prefixes for cards, mod-97 for IBANs, the SSA's
invalid ranges for SSNs, ``ipaddress`` for IPs, a decoded header for JWTs.
Structured identifiers (cards, phones, SSNs, IP and MAC addresses, email,
IBAN, national identifier packs) live in ``detectors/``, one module per
family; this module wires them.
Findings hold offsets only: matched text is never copied into them, logged
or stored.

Speed matters (this runs on every prompt), and CPython's ``re`` is only fast
when a pattern starts with a plain character or class: it can then skip to
candidates in C. So patterns here start that way and check what comes before
a match with a lookbehind placed after the first character, or in Python.
Detectors triggered by words ("password", "tel:") find them with ``str.find``
in a lower-cased copy, then match what follows. docs/classification.md has
each rule, its limits and the measured precision, recall and speed.

Detectors read a normalised shadow of the text (normalize.py: invisible
characters removed, Unicode digits, spaces and full-width forms folded), and
findings are mapped back to the original text's offsets.

Custom detectors (keyword lists, regular expressions written by admins) run on
RE2, in linear time, under one time budget per request (custom_detectors.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property, partial

from .custom_detectors import (
    MAX_PATTERN_LENGTH,
    SQUASH_MAP,
    CustomMatcher,
    Deadline,
    custom_pattern_problem,
)
from .detectors import contact, credentials, national, ner, numbers
from .detectors.numbers import DEFAULT_PHONE_REGIONS as DEFAULT_PHONE_REGIONS
from .detectors.wordset import WordSet
from .normalize import Shadow, skeleton
from .text_cache import TextCache, text_key

LEVELS: tuple[str, ...] = ("public", "internal", "confidential", "restricted")
PUBLIC, INTERNAL, CONFIDENTIAL, RESTRICTED = range(4)

__all__ = ["MAX_PATTERN_LENGTH", "Deadline", "custom_pattern_problem"]  # re-exported


@dataclass(frozen=True, slots=True)
class Finding:
    detector: str  # builtin name (e.g. "email") or "custom:<name>"
    label: str  # placeholder label: upper-case letters, digits and "_"
    level: int  # index into LEVELS
    start: int  # character offsets in the scanned text
    end: int


@dataclass(frozen=True, slots=True)
class BuiltinSetting:
    enabled: bool = True
    level: int = CONFIDENTIAL


@dataclass(frozen=True, slots=True)
class CustomDetector:
    name: str
    kind: str  # "keywords" or "regex"
    patterns: tuple[str, ...]
    level: int
    label: str = ""  # defaults to the name upper-cased


BUILTIN_DETECTORS: dict[str, BuiltinSetting] = {
    "email": BuiltinSetting(True, CONFIDENTIAL),
    "phone": BuiltinSetting(True, CONFIDENTIAL),
    "card": BuiltinSetting(True, RESTRICTED),
    "iban": BuiltinSetting(True, RESTRICTED),
    "ssn": BuiltinSetting(True, RESTRICTED),
    "ip": BuiltinSetting(True, INTERNAL),
    "secret": BuiltinSetting(True, RESTRICTED),
    # A name alone identifies less than contact details, and the detector is a
    # heuristic: "internal" keeps a stray "Dr. Watson" from pinning harmless
    # prompts on-prem. A street address is contact data, like a phone number.
    "person": BuiltinSetting(True, INTERNAL),
    "org": BuiltinSetting(True, INTERNAL),
    "address": BuiltinSetting(True, CONFIDENTIAL),
    "mac": BuiltinSetting(True, INTERNAL),  # like an IP address: maps a network
}
# National identifiers, grouped in packs an org admin switches on as a whole:
# off by default (each country's formats look like numbers elsewhere).
DETECTOR_PACKS: dict[str, tuple[str, ...]] = national.PACKS  # uk, us, eu, ca, br, in, jp
BUILTIN_DETECTORS |= {
    name: BuiltinSetting(False, RESTRICTED) for pack in DETECTOR_PACKS.values() for name in pack
}

DETECTOR_DESCRIPTIONS: dict[str, str] = {
    "email": "Email addresses (user@domain.tld, Unicode and punycode domains)",
    "phone": "Phone numbers of any country, validated by libphonenumber: international "
    "(+44 …, 0049 …), national formats of the configured regions, extensions",
    "card": "Payment card numbers (12-19 digits, Luhn-checked; issuer ranges, or after 'card')",
    "iban": "International bank account numbers (IBAN, any case or grouping, mod-97 checked)",
    "ssn": "US Social Security numbers (ddd-dd-dddd; other forms after 'SSN'; never-issued "
    "ranges excluded)",
    "ip": "IPv4 and IPv6 addresses, private ranges included (not loopback or version numbers)",
    "secret": "Credentials: API keys and tokens, private keys, JWTs, passwords, random tokens",
    "person": "Person names: after a title, a greeting or 'my name is'; anywhere with NER on",
    "org": "Organisation names: companies with a legal form (Ltd, GmbH), banks, universities…",
    "address": "Street addresses: house number, street name and type, optional city and ZIP",
    "mac": "MAC addresses (00:1a:2b:3c:4d:5e, dashes, Cisco 001a.2b3c.4d5e)",
    **national.DESCRIPTIONS,
}

_LABELS = {name: name.upper() for name in BUILTIN_DETECTORS}
# Which finding wins an overlap when levels tie: the more specific detector.
_SPECIFICITY = {
    "secret": 9, "card": 8, "iban": 7, "ssn": 6, "email": 5,
    "phone": 4, "ip": 3, "address": 2, "person": 1, "org": 0, "mac": 3,
    # a national identifier is more specific than a phone or card it resembles
    **{name: 8 for pack in DETECTOR_PACKS.values() for name in pack},
}  # fmt: skip
_CUSTOM_SPECIFICITY = 10  # an admin's own rule is the most specific of all

Span = tuple[int, int]

SCANS_REMEMBERED = 4096  # texts per classifier (findings only, keyed by digest)


def _detectors_state() -> bytes:
    """What a scan depends on beyond the classifier's own settings: whether
    the NER model is on, and which secret rules are loaded."""
    return b"%d:%d" % (ner.active(), credentials.rules_generation())


# --- what detectors share -----------------------------------------------------


class _Scan:
    """One text being scanned, with what several detectors share, computed
    at most once and only if a detector asks for it."""

    def __init__(self, text: str) -> None:
        self.text = text

    @cached_property
    def lower(self) -> str:
        """``text.lower()`` with every character at the same offset, so cue
        words found in it can be located in the text. Only "İ" grows when
        lower-cased; it is left as it is."""
        lower = self.text.lower()
        if len(lower) != len(self.text):
            lower = "".join(ch.lower() if len(ch.lower()) == 1 else ch for ch in self.text)
        return lower

    @cached_property
    def skeleton(self) -> str:
        """The text with look-alike letters read as Latin (custom keywords)."""
        return skeleton(self.text)

    @cached_property
    def squashed(self) -> str | None:
        """The skeleton's letters and digits, lower-cased, nothing between
        them; None unless the skeleton is plain ASCII (custom keywords)."""
        if not self.skeleton.isascii():
            return None
        return self.skeleton.translate(SQUASH_MAP)

    @cached_property
    def cue_words(self) -> frozenset[str]:
        """Which of the rule tier's cue words (ner.CUE_WORDS) occur in
        ``lower``: one linear RE2 pass for all of them."""
        return _CUE_WORDS.present(self.lower.encode("utf-8", "replace"))

    @cached_property
    def numbers(self) -> list[numbers.Run]:
        """Runs of digit groups (cards, SSNs, phones, IPv4 …), in one pass."""
        return numbers.runs(self.text)


_CUE_WORDS = WordSet(ner.CUE_WORDS)


Finder = Callable[[_Scan], Iterator[Span]]
_FINDERS: dict[str, Finder] = {
    "email": contact.find_email,
    "phone": numbers.find_phone,
    "card": numbers.find_card,
    "iban": contact.find_iban,
    "ssn": numbers.find_ssn,
    "ip": numbers.find_ip,
    "mac": numbers.find_mac,
    "secret": credentials.find_secret,
    "person": ner.find_person,
    "org": ner.find_org,
    "address": ner.find_address,
    **national.FINDERS,
}


def _custom_label(detector: CustomDetector) -> str:
    """Upper-case letters, digits and "_", starting with a letter, so that
    placeholders like ``[PROJECT_CODE_1]`` stay recognisable."""
    label = re.sub(r"[^A-Z0-9]+", "_", (detector.label or detector.name).upper()).strip("_")
    return label if label[:1].isalpha() else f"CUSTOM_{label}".rstrip("_")


def _check_level(level: int, what: str) -> None:
    if not 0 <= level < len(LEVELS):
        raise ValueError(f"{what}: level {level} is not between 0 and {len(LEVELS) - 1}")


# --- the classifier ---------------------------------------------------------


class Classifier:
    """Built-in detectors with their settings, plus custom ones, compiled once.
    Stateless between scans, so one instance can serve every request."""

    def __init__(
        self,
        builtins: Mapping[str, BuiltinSetting] | None = None,
        custom: Sequence[CustomDetector] = (),
        *,
        phone_regions: Sequence[str] = numbers.DEFAULT_PHONE_REGIONS,
    ) -> None:
        """``builtins`` overrides the defaults by name; names this version does
        not know are ignored, so an older stored policy keeps working.
        ``phone_regions``: countries (ISO 3166 codes) whose national phone
        formats count without a "+" (settings.HYBRIDHUB_PHONE_REGIONS)."""
        settings = {
            **BUILTIN_DETECTORS,
            **{k: v for k, v in (builtins or {}).items() if k in BUILTIN_DETECTORS},
        }
        for name, setting in settings.items():
            _check_level(setting.level, f"detector {name!r}")
        finders: dict[str, Finder] = {
            **_FINDERS,
            "phone": partial(numbers.find_phone, regions=tuple(phone_regions)),
        }
        self._builtins = [
            (name, finders[name], setting.level)
            for name, setting in settings.items()
            if setting.enabled
        ]
        for detector in custom:
            _check_level(detector.level, f"custom detector {detector.name!r}")
        self._custom = [CustomMatcher(d, _custom_label(d)) for d in custom]
        self._remembered: TextCache[tuple[Finding, ...]] = TextCache(size=SCANS_REMEMBERED)

    def scan(self, text: str, deadline: Deadline | None = None) -> list[Finding]:
        """Findings sorted by start, in ``text``'s offsets; overlapping ones
        merged into one (see _resolve). ``deadline`` is the request's budget
        for custom detectors, shared by all its texts.

        Remembered per text (a chat re-sends its history, an application its
        system prompt): a scan that ran past the deadline, whose custom
        detectors failed closed, is not."""
        if not text:
            return []
        key = text_key(text, _detectors_state())
        remembered = self._remembered.get(key)
        if remembered is not None:
            return list(remembered)
        deadline = deadline or Deadline()
        found = self._scan(text, deadline)
        if not deadline.passed():
            self._remembered.put(key, tuple(found))
        return found

    def forget(self) -> None:
        """Drop the remembered scans (benchmarks measure cold ones)."""
        self._remembered.clear()

    def _scan(self, text: str, deadline: Deadline) -> list[Finding]:
        shadow = Shadow.of(text)
        scan = _Scan(shadow.text)
        found = [
            Finding(name, _LABELS[name], level, start, end)
            for name, finder, level in self._builtins
            for start, end in finder(scan)
        ]
        for matcher in self._custom:
            found += [
                Finding(matcher.detector, matcher.label, matcher.level, start, end)
                for start, end in matcher.spans(scan, deadline)
            ]
        resolved = _resolve(found)
        if shadow.text is text:
            return resolved
        return [
            Finding(f.detector, f.label, f.level, *shadow.span(f.start, f.end)) for f in resolved
        ]

    def level_of(self, findings: Sequence[Finding]) -> int:
        return max((finding.level for finding in findings), default=PUBLIC)


def _resolve(findings: Sequence[Finding]) -> list[Finding]:
    """Merge overlapping findings into one covering them all, named after the
    highest-level (then most specific, then longest) of them. Covering the
    union, not just the winner, means redaction never leaves half a value."""
    ordered = sorted((f for f in findings if f.end > f.start), key=lambda f: (f.start, -f.end))
    merged: list[Finding] = []
    for finding in ordered:
        if merged and finding.start < merged[-1].end:
            previous = merged[-1]
            winner = max(previous, finding, key=_rank)
            end = max(previous.end, finding.end)
            merged[-1] = Finding(winner.detector, winner.label, winner.level, previous.start, end)
        else:
            merged.append(finding)
    return merged


def _rank(finding: Finding) -> tuple[int, int, int]:
    specificity = _SPECIFICITY.get(finding.detector, _CUSTOM_SPECIFICITY)
    return finding.level, specificity, finding.end - finding.start


# --- redaction --------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\[([A-Za-z][A-Za-z0-9_]*_\d+)\]")


class Placeholders:
    """Typed placeholders for one conversation: the same value always gets the
    same placeholder, and numbers already written in the texts are skipped,
    so restoring cannot touch the user's own words."""

    def __init__(self, taken: str = "") -> None:
        self.taken = taken
        self.by_value: dict[tuple[str, str], str] = {}
        self.counts: dict[str, int] = {}

    def of(self, label: str, value: str) -> str:
        key = (label, value)
        if key not in self.by_value:
            while True:
                self.counts[label] = self.counts.get(label, 0) + 1
                placeholder = f"[{label}_{self.counts[label]}]"
                if placeholder not in self.taken:
                    break
            self.by_value[key] = placeholder
        return self.by_value[key]

    @property
    def mapping(self) -> dict[str, str]:
        return {placeholder: value for (_, value), placeholder in self.by_value.items()}


def redact(
    text: str, findings: Sequence[Finding], placeholders: Placeholders | None = None
) -> tuple[str, dict[str, str]]:
    """Replace each finding with a typed placeholder like [EMAIL_1], [EMAIL_2],
    [CARD_1]; return the new text and the mapping placeholder -> original.
    Pass one ``Placeholders`` to number several texts of a conversation alike."""
    placeholders = placeholders or Placeholders(text)
    pieces: list[str] = []
    cursor = 0
    for finding in _resolve(findings):
        value = text[finding.start : finding.end]
        pieces += [text[cursor : finding.start], placeholders.of(finding.label, value)]
        cursor = finding.end
    pieces.append(text[cursor:])
    return "".join(pieces), placeholders.mapping


def restore(text: str, mapping: Mapping[str, str]) -> str:
    """Put the originals back wherever their placeholders appear, in any
    order and as often as the model repeated them. One pass, so an original
    that itself looks like a placeholder is never expanded again."""
    if not mapping:
        return text
    originals = {placeholder.strip("[]").upper(): value for placeholder, value in mapping.items()}
    return _PLACEHOLDER.sub(lambda m: originals.get(m.group(1).upper(), m.group(0)), text)
