"""Finding sensitive data in prompt text. Pure: a string in, findings out.

Built-in detectors are regular expressions plus the checks that make them
precise: Luhn and issuer prefixes for cards, mod-97 for IBANs, the SSA's
invalid ranges for SSNs, ``ipaddress`` for IPs, a decoded header for JWTs.
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

import base64
import binascii
import ipaddress
import json
import math
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

from .custom_detectors import (
    MAX_PATTERN_LENGTH,
    SQUASH_MAP,
    CustomMatcher,
    Deadline,
    custom_pattern_problem,
)
from .detectors import ner
from .normalize import Shadow, skeleton

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
}

DETECTOR_DESCRIPTIONS: dict[str, str] = {
    "email": "Email addresses (user@domain.tld)",
    "phone": "Phone numbers: international (+44 …, 0049 …), US (415) 555-0132, or after 'tel:'",
    "card": "Payment card numbers (13-19 digits, Luhn-checked, known issuer prefixes)",
    "iban": "International bank account numbers (IBAN, country length and mod-97 checked)",
    "ssn": "US Social Security numbers (ddd-dd-dddd, never-issued ranges excluded)",
    "ip": "IPv4 and IPv6 addresses (not loopback, not version numbers)",
    "secret": "Credentials: API keys and tokens, private keys, JWTs, passwords, random tokens",
    "person": "Person names: after a title, a greeting or 'my name is'; anywhere with NER on",
    "org": "Organisation names: companies with a legal form (Ltd, GmbH), banks, universities…",
    "address": "Street addresses: house number, street name and type, optional city and ZIP",
}

_LABELS = {name: name.upper() for name in BUILTIN_DETECTORS}
# Which finding wins an overlap when levels tie: the more specific detector.
_SPECIFICITY = {
    "secret": 9, "card": 8, "iban": 7, "ssn": 6, "email": 5,
    "phone": 4, "ip": 3, "address": 2, "person": 1, "org": 0,
}  # fmt: skip
_CUSTOM_SPECIFICITY = 10  # an admin's own rule is the most specific of all

Span = tuple[int, int]


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
    def numbers(self) -> list[re.Match[str]]:
        """Card, SSN, US phone, IPv4 and other long digit runs, in one pass."""
        return list(_NUMBER.finditer(self.text))


# A regex scan costs little between candidates and a lot at each one, so all
# digit-based shapes share one scan that stops at the first digit of each run,
# and each branch checks what precedes the run with a lookbehind. The first
# branch that fits wins; the detectors then validate (Luhn, ranges, octets).
_NUMBER = re.compile(
    r"[0-9](?<![0-9][0-9])(?:"
    # SSN: ddd-dd-dddd or ddd dd dddd
    r"(?P<ssn>(?<![\-.][0-9])[0-9]{2}(?P<ssn_sep>[\- ])[0-9]{2}(?P=ssn_sep)[0-9]{4}"
    r"(?![0-9]|-[0-9]))"
    # North American phone: [1-]ddd-ddd-dddd or with dots; area and exchange start 2-9
    r"|(?P<us>(?<![\w+.\-/][0-9])(?:(?<=1)[ .\-][2-9])?(?<=[2-9])[0-9]{2}(?P<us_sep>[.\-])"
    r"[2-9][0-9]{2}(?P=us_sep)[0-9]{4}(?![\w]|[.\-/][0-9]))"
    # IPv4, not inside a longer dotted run ("1.2.3.4.5" is an OID or a version)
    r"|(?P<ip>(?<![\w.][0-9])[0-9]{0,2}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}(?![\w]|\.[0-9]))"
    # card: 13-19 digits, single spaces or dashes allowed between any two
    r"|(?P<card>(?<![.\-][0-9])(?<![0-9][ \-][0-9])(?:[ \-]?[0-9]){12,18}"
    r"(?![ \-]?[0-9]|\.[0-9]))"
    # any other run of 7+ digits: a phone or an SSN if a cue word comes before it
    r"|(?P<digits>(?<![\w+.\-][0-9])(?=(?:[ .\-]?[0-9]){6})[0-9]*(?:[ .\-][0-9]+){0,5}"
    r"(?![\w]|[.\-][0-9]))"
    r")"
)


def _cues(lower: str, words: Sequence[str], *, whole: bool = True) -> Iterator[Span]:
    """Each occurrence of the cue words (whole words unless told otherwise).
    ``str.find`` runs in C: far cheaper than a regex scan over the text."""
    for word in words:
        at = lower.find(word)
        while at >= 0:
            end = at + len(word)
            if not whole or (_outside_word(lower, at - 1) and _outside_word(lower, end)):
                yield at, end
            at = lower.find(word, at + 1)


def _outside_word(text: str, i: int) -> bool:
    return not (0 <= i < len(text) and text[i].isalnum())


def _after_cues(
    scan: _Scan, cues: Sequence[str], value: re.Pattern[str], *, whole: bool = True
) -> Iterator[re.Match[str]]:
    """Matches of ``value`` right after a cue word."""
    for _, end in _cues(scan.lower, cues, whole=whole):
        match = value.match(scan.text, end)
        if match:
            yield match


# --- email ------------------------------------------------------------------

# Anchored on the "@" so the engine skips straight to candidates; the local
# part is then walked back by hand (a regex cannot search backwards).
_EMAIL_DOMAIN = re.compile(
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+([A-Za-z]{2,63})(?![\w-])"
)
_LOCAL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-")
# File names like "icon@2x.png" are shaped like addresses; no TLD is an image type.
_NOT_TLDS = frozenset({"png", "jpg", "jpeg", "gif", "svg", "webp", "bmp", "ico", "tif", "tiff"})


def _find_email(scan: _Scan) -> Iterator[Span]:
    text = scan.text
    if "@" not in text:
        return
    for match in _EMAIL_DOMAIN.finditer(text):
        start = _local_part_start(text, match.start())
        if start is None or match.group(1).lower() in _NOT_TLDS:
            continue
        if not _in_url_authority(text, start):
            yield start, match.end()


def _local_part_start(text: str, at: int) -> int | None:
    start, floor = at, max(0, at - 65)
    while start > floor and text[start - 1] in _LOCAL_CHARS:
        start -= 1
    local = text[start:at]
    if start > 0 and text[start - 1] in _LOCAL_CHARS:
        return None  # longer than 64 characters: not an address
    if not local or local[0] == "." or local[-1] == "." or ".." in local:
        return None
    return start


def _in_url_authority(text: str, start: int) -> bool:
    """ "https://bob:pw@host" holds a user and a password, not an address."""
    scheme_end = text.rfind("://", max(0, start - 256), start)
    between = text[scheme_end + 3 : start]
    return scheme_end >= 0 and not any(ch.isspace() or ch == "/" for ch in between)


# --- phone ------------------------------------------------------------------

# "+44 20 7946 0958", "+1 (415) 555-0132", "0049 30 123456": every group after
# the first starts with a separator or "(", so the regex cannot backtrack.
_PHONE_INTL = re.compile(
    r"(?:\+|00)(?<![\w+.\-/]\+)(?<![\w+.\-/]00)(?<![0-9][ .\-]00)(?=[1-9])[0-9]+"
    r"(?:[ .\-]?\([0-9]{1,5}\)[ .\-]?[0-9]+|[ .\-][0-9]+)*"
    r"(?![\w+])"
)
# "(415) 555-0132"; the dashed and dotted forms are in _NUMBER.
_PHONE_US_PAREN = re.compile(
    r"\((?<!\w\()[2-9][0-9]{2}\) ?[2-9][0-9]{2}[ .\-][0-9]{4}(?![\w]|[.\-/][0-9])"
)
# A run of digits is a phone number when one of these words comes just before.
_PHONE_CUE_BEFORE = re.compile(
    r"\b(?:phone|tel|telephone|mobile|mob|cell|cellphone|fax|call|ring|whatsapp|sms"
    r"|landline|text me)\b[^0-9\n]{0,15}$"
)
_DATE_LIKE = re.compile(r"[0-9]{1,4}[./\-][0-9]{1,2}[./\-][0-9]{1,4}")


def _find_phone(scan: _Scan) -> Iterator[Span]:
    text = scan.text
    if "+" in text or "00" in text:
        for match in _PHONE_INTL.finditer(text):
            if _intl_phone_ok(match.group()):
                yield match.span()
    if "(" in text:
        for match in _PHONE_US_PAREN.finditer(text):
            yield _with_trunk_prefix(text, match.start()), match.end()
    for match in scan.numbers:
        if match.group("us") or (match.group("digits") and _national_phone_ok(scan, match)):
            yield match.span()


# ITU country calling codes: "+2147483647" (a 32-bit limit) has none.
_CALLING_CODES = frozenset(
    "1 7 20 27 30 31 32 33 34 36 39 40 41 43 44 45 46 47 48 49 51 52 53 54 55 56 57 58 60 61 "
    "62 63 64 65 66 81 82 84 86 90 91 92 93 94 95 98 211 212 213 216 218 290 291 297 298 299 "
    "420 421 423 670 800 808 850 852 853 855 856 870 878 880 881 882 883 886 888 979 992 993 "
    "994 995 996 998".split()
    + [
        str(code)
        for low, high in ((220, 258), (260, 269), (350, 359), (370, 389), (500, 509), (590, 599),
                          (672, 683), (685, 692), (960, 968), (970, 977))
        for code in range(low, high + 1)
    ]
)  # fmt: skip


def _intl_phone_ok(number: str) -> bool:
    dialled = number[1:] if number[0] == "+" else number[2:]  # country code onwards
    if not any(dialled[:size] in _CALLING_CODES for size in (1, 2, 3)):
        return False
    digits = sum(ch.isdigit() for ch in dialled)
    separated = not dialled.isdigit()
    if not separated and (number[0] == "0" or digits < 10):
        return False  # a bare digit run is a phone number only with "+" and 10+ digits
    if dialled[0] in "17":
        return digits == 11  # North America (+1) and Russia (+7): always 10 more digits
    return 8 <= digits <= 15  # E.164 allows at most 15


def _with_trunk_prefix(text: str, start: int) -> int:
    """Take a "1 " before "(415) 555-0132" along."""
    if text[max(0, start - 2) : start] == "1 " and _outside_word(text, start - 3):
        return start - 2
    return start


def _national_phone_ok(scan: _Scan, match: re.Match[str]) -> bool:
    number, start = match.group(), match.start()
    if not _PHONE_CUE_BEFORE.search(scan.lower, max(0, start - 30), start):
        return False
    digits = sum(ch.isdigit() for ch in number)
    if _DATE_LIKE.fullmatch(number) or not 7 <= digits <= 15:
        return False
    return not number.isdigit() or digits >= 10  # 1234567 after "call" is a count


# --- payment card -----------------------------------------------------------

# (first IIN, last IIN, lengths): IINs compare as strings of equal length.
_CARD_ISSUERS: tuple[tuple[str, str, tuple[int, ...]], ...] = (
    ("4", "4", (13, 16, 19)),  # Visa
    ("51", "55", (16,)),  # Mastercard
    ("2221", "2720", (16,)),  # Mastercard 2-series
    ("34", "34", (15,)),  # American Express
    ("37", "37", (15,)),
    ("6011", "6011", (16, 17, 18, 19)),  # Discover
    ("644", "649", (16, 17, 18, 19)),
    ("65", "65", (16, 17, 18, 19)),
    ("3528", "3589", (16, 17, 18, 19)),  # JCB
    ("300", "305", (14, 15, 16, 17, 18, 19)),  # Diners Club
    ("36", "36", (14, 15, 16, 17, 18, 19)),
    ("38", "39", (16, 17, 18, 19)),
    ("62", "62", (16, 17, 18, 19)),  # UnionPay
    ("2200", "2204", (16, 17, 18, 19)),  # Mir
    ("5018", "5018", (13, 15, 16, 19)),  # Maestro
    ("5020", "5020", (13, 15, 16, 19)),
    ("5038", "5038", (13, 15, 16, 19)),
    ("5893", "5893", (13, 15, 16, 19)),
    ("6304", "6304", (13, 15, 16, 19)),
    ("6759", "6759", (13, 15, 16, 19)),
    ("6761", "6763", (13, 15, 16, 19)),
)


def _find_card(scan: _Scan) -> Iterator[Span]:
    for match in scan.numbers:
        if match.group("card") and _card_ok(match.group()):
            yield match.span()


def _card_ok(number: str) -> bool:
    separators = {ch for ch in number if not ch.isdigit()}
    if len(separators) > 1:
        return False
    if separators and not all(3 <= len(group) <= 6 for group in number.split(separators.pop())):
        return False  # "41 11 11 …" is not how anyone writes a card
    digits = number.replace(" ", "").replace("-", "")
    return _issuer_known(digits) and _luhn_ok(digits)


def _issuer_known(digits: str) -> bool:
    return any(
        low <= digits[: len(low)] <= high and len(digits) in lengths
        for low, high, lengths in _CARD_ISSUERS
    )


def _luhn_ok(digits: str) -> bool:
    total = 0
    for position, ch in enumerate(reversed(digits)):
        value = ord(ch) - 48
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


# --- IBAN -------------------------------------------------------------------

# Country code -> IBAN length, from the SWIFT IBAN registry.
_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22,
    "BH": 22, "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24,
    "DE": 22, "DJ": 27, "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18,
    "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27,
    "GT": 28, "HN": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20,
    "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20,
    "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24,
    "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24,
    "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25,
    "SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
    "YE": 30,
}  # fmt: skip
_IBAN_START = re.compile(r"[A-Z](?<![A-Za-z0-9][A-Z])[A-Z][0-9]{2}(?= ?[A-Z0-9])")
_IBAN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


def _find_iban(scan: _Scan) -> Iterator[Span]:
    text = scan.text
    for match in _IBAN_START.finditer(text):
        length = _IBAN_LENGTHS.get(match.group()[:2])
        end = _iban_end(text, match.start(), length) if length else None
        if end is not None and _iban_checksum_ok(text[match.start() : end].replace(" ", "")):
            yield match.start(), end


def _iban_end(text: str, start: int, length: int) -> int | None:
    """Where an IBAN of this length starting here ends: exactly ``length``
    characters, optionally printed in groups of four, then a word boundary."""
    count, i, n = 0, start, len(text)
    while count < length:
        if i < n and text[i] in _IBAN_CHARS:
            count, i = count + 1, i + 1
        elif i + 1 < n and text[i] == " " and count % 4 == 0 and text[i + 1] in _IBAN_CHARS:
            i += 1
        else:
            return None
    return None if i < n and text[i].isalnum() else i


def _iban_checksum_ok(iban: str) -> bool:
    if not 2 <= int(iban[2:4]) <= 98:
        return False
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


# --- US Social Security number ------------------------------------------------

# A bare nine-digit run is an SSN only right after one of these.
_SSN_CUE_BEFORE = re.compile(r"\b(?:ssn|social security(?: number| no\.?| #)?)\b[^0-9\n]{0,12}$")
# Published in advertising and voided by the SSA: not anyone's number.
_SSN_VOID = frozenset({"078051120", "219099999"})


def _find_ssn(scan: _Scan) -> Iterator[Span]:
    for match in scan.numbers:
        if match.group("ssn"):
            if _ssn_ok(match.group().replace(match.group("ssn_sep"), "")):
                yield match.span()
        elif match.group("digits") and len(match.group()) == 9 and _ssn_ok(match.group()):
            start = match.start()
            if _SSN_CUE_BEFORE.search(scan.lower, max(0, start - 40), start):
                yield match.span()


def _ssn_ok(number: str) -> bool:
    """Never issued: area 000, 666 and 900-999, group 00, serial 0000."""
    area, group, serial = number[:3], number[3:5], number[5:]
    if not number.isdigit() or area in ("000", "666") or area[0] == "9":
        return False
    return group != "00" and serial != "0000" and number not in _SSN_VOID


# --- IP address -------------------------------------------------------------

# "version 1.2.3.4", "v1.2.3.4", "section 8.1.2.2": numbered, not addressed.
_VERSION_BEFORE = re.compile(
    r"(?i)(?:\bversion|\brelease|\bbuild|\bfirmware|\bver\.?|\bv|\bsection|\bchapter"
    r"|\bclause|§)[\s:=#]{0,3}$"
)
_IPV6_HINT = re.compile(r":[0-9A-Fa-f]{0,4}:")
_IPV6 = re.compile(r"(?:[0-9A-Fa-f]{1,4})?(?::[0-9A-Fa-f]{0,4}){2,8}(?:\.[0-9]{1,3}){0,3}(?![\w:])")
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def _find_ip(scan: _Scan) -> Iterator[Span]:
    text = scan.text
    for match in scan.numbers:
        if match.group("ip") and _ipv4_ok(match.group()) and not _after_version_word(match):
            yield match.span()
    yield from _ipv6_spans(text)


def _after_version_word(match: re.Match[str]) -> bool:
    start = match.start()
    return _VERSION_BEFORE.search(match.string, max(0, start - 20), start) is not None


def _ipv6_spans(text: str) -> Iterator[Span]:
    """From each "::" or ":hex:" back to where the address would start."""
    covered = 0
    for hint in _IPV6_HINT.finditer(text):
        if hint.start() < covered:
            continue
        start = hint.start()
        while start > max(0, hint.start() - 4) and text[start - 1] in _HEX_DIGITS:
            start -= 1
        candidate = _IPV6.match(text, start)
        before = text[start - 1] if start else " "
        if candidate and not (before.isalnum() or before in ":._") and _ipv6_ok(candidate.group()):
            covered = candidate.end()
            yield candidate.span()


def _ipv4_ok(address: str) -> bool:
    octets = address.split(".")
    if any(int(o) > 255 or (len(o) > 1 and o[0] == "0") for o in octets):
        return False  # leading zeros read as octal in some tools: not a plain IP
    # Loopback, "any" and broadcast say nothing about anyone's network.
    return octets[0] != "127" and address not in ("0.0.0.0", "255.255.255.255")


def _ipv6_ok(candidate: str) -> bool:
    groups = [g for g in candidate.split(":") if g]
    if not any(ch.isdigit() for ch in candidate):
        return False  # "add::bad" is C++, not an address
    if len(groups) < 3 and not any(len(g) >= 4 for g in groups):
        return False  # "a[1::3]" is a Python slice; real addresses have more, or longer, groups
    try:
        address = ipaddress.IPv6Address(candidate)
    except ValueError:
        return False
    return not (address.is_loopback or address.is_unspecified)


# --- secrets ----------------------------------------------------------------


def _jwt_header_ok(token: str) -> bool:
    header = token.split(".", 1)[0]
    try:
        decoded = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    except (ValueError, binascii.Error):
        return False
    return isinstance(decoded, dict) and "alg" in decoded


def _openai_key_ok(token: str) -> bool:
    """ "sk-learn-is-a-library" is prose: a key mixes letters and digits."""
    return any(ch.isdigit() for ch in token) and any(ch.isalpha() for ch in token[3:])


@dataclass(frozen=True)
class _VendorToken:
    prefixes: tuple[str, ...]  # literals it starts with: a cheap "in" test before the regex
    shape: re.Pattern[str]
    check: Callable[[str], bool] | None = None


def _vendor(
    prefixes: str, head: str, body: str, check: Callable[[str], bool] | None = None
) -> _VendorToken:
    """``head`` is fixed-width: repeated as a lookbehind, it keeps a match from
    starting inside a longer token, so each run of token characters is tried
    once (otherwise "eyJeyJeyJ…" would take quadratic time). Possessive
    quantifiers (``{n,m}+``) never backtrack."""
    shape = rf"{head}(?<![A-Za-z0-9_\-]{head}){body}(?![A-Za-z0-9_\-])"
    return _VendorToken(tuple(prefixes.split()), re.compile(shape), check)


_B64URL = r"[A-Za-z0-9_\-]"
_VENDOR_TOKENS = (
    _vendor("AKIA ASIA", "A[KS]IA", "[A-Z0-9]{16}"),  # AWS access key id
    _vendor("ghp_ gho_ ghu_ ghs_ ghr_", "gh[pousr]_", "[A-Za-z0-9]{36,255}+"),  # GitHub
    _vendor("github_pat_", "github_pat_", "[A-Za-z0-9_]{22,255}+"),
    _vendor("glpat-", "glpat-", _B64URL + "{20,255}+"),  # GitLab
    _vendor("xox", "xox[abposre]-", r"[A-Za-z0-9\-]{10,250}+"),  # Slack
    _vendor("k_live_ k_test_", "[sr]k_", "(?:live|test)_[A-Za-z0-9]{16,250}+"),  # Stripe
    _vendor("AIza", "AIza", _B64URL + "{35}"),  # Google API key
    _vendor("hf_", "hf_", "[A-Za-z0-9]{30,255}+"),  # Hugging Face
    _vendor("npm_", "npm_", "[A-Za-z0-9]{36}"),
    _vendor("SG.", r"SG\.", _B64URL + r"{22}\." + _B64URL + "{43}"),  # SendGrid
    _vendor(
        "sk-", "sk-", "(?:proj-|svcacct-|admin-|ant-)?" + _B64URL + "{20,250}+", _openai_key_ok
    ),
    _vendor(
        "eyJ", "eyJ", _B64URL + r"{5,}+\." + _B64URL + r"{5,}+\." + _B64URL + "*+", _jwt_header_ok
    ),
    _vendor("hooks.slack.com", r"https://hooks\.slack\.com/", r"(?:services|workflows)/[\w/\-]++"),
)
# Up to the END line, or to the end of the text if it was cut off. The body
# must start with base64 (after optional "Proc-Type:" headers, and "\n"
# escapes as in a JSON key file): a mere mention of the header is not a key.
_PRIVATE_KEY = re.compile(
    r"-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----"
    r"(?=(?:\s|\\n)*(?:[A-Za-z\-]+:[^\n]*\n\s*)*[A-Za-z0-9+/=]{20})[\s\S]*?"
    r"(?:-----END[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----|\Z)"
)
_AWS_SECRET_CUES = ("aws_secret_access_key", "aws_secret_key", "secret_access_key",
                    "secretaccesskey")  # fmt: skip
_AWS_SECRET_VALUE = re.compile(
    r"[\"']?[ \t]*(?::=|=>|[:=])[ \t]*[\"']?([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])"
)
# scheme://user:password@host: the password runs to the last "@" before the host.
_URL_PASSWORD = re.compile(r"://[^\s:/@\"'<>]{0,128}:([^\s/\"'<>]{1,256})@[\w\[.\-]")
# password=…, "api_key": "…", DB_PASSWORD: … (the cue may end a longer name).
_CREDENTIAL_CUES = ("password", "passwd", "passphrase", "passcode", "secret", "secret_key",
                    "secret-key", "api_key", "api-key", "apikey")  # fmt: skip
_ASSIGNED_VALUE = re.compile(
    r"[\"']?[ \t]*(?::=|=>|[:=])[ \t]*"
    r"(?:\"([^\"\n]{1,256})\"|'([^'\n]{1,256})'|([^\s,;\"'`)\]}]{1,256}))"
)
_PROSE_PASSWORD_CUES = ("password", "passphrase", "passcode", "pin")
_PROSE_PASSWORD_VALUE = re.compile(r"[ \t]+(?i:is|was)[ \t]*:?[ \t]+[\"']?([^\s\"']{4,128})")
# Values that stand for a secret without being one: templates, env vars, stars.
_PLACEHOLDER_VALUE = re.compile(
    r"(?i)<[^>]*>|\{.*\}|\$\{?\w+\}?|%\(?\w*\)?s|:\w+|\?|\*+|x{3,}|\.{3}|…"
    r"|(?:your|my|the|new|old|some)?[_\-]?(?:password|passwd|pass|pwd|secret|token|api[_\-]?key"
    r"|changeme|redacted|hidden|example|placeholder|dummy)"
)
# Code, not a value: "None", "str", "os.environ.get(...)", "settings.DB_PASSWORD",
# "(bool, optional)".
_CODE_VALUE = re.compile(
    r"[A-Za-z_]+[!?]?|[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+.*|[A-Za-z_][\w.]*[(\[].*|[(\[{].*"
)
_CONSTANT_NAME = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+")  # FORCE_CHANGE_PASSWORD


def _find_secret(scan: _Scan) -> Iterator[Span]:
    text = scan.text
    yield from _vendor_tokens(text)
    if "PRIVATE KEY" in text:
        yield from (m.span() for m in _PRIVATE_KEY.finditer(text))
    if "://" in text and "@" in text:
        yield from _url_passwords(text)
    if "secret" in scan.lower:
        cued = _after_cues(scan, _AWS_SECRET_CUES, _AWS_SECRET_VALUE, whole=False)
        yield from (m.span(1) for m in cued)
    yield from _assigned_credentials(scan)
    yield from _prose_passwords(scan)
    yield from _random_tokens(scan)


def _vendor_tokens(text: str) -> Iterator[Span]:
    for vendor in _VENDOR_TOKENS:
        if not any(prefix in text for prefix in vendor.prefixes):
            continue
        for match in vendor.shape.finditer(text):
            if vendor.check is None or vendor.check(match.group()):
                yield match.span()


def _url_passwords(text: str) -> Iterator[Span]:
    for match in _URL_PASSWORD.finditer(text):
        if not _PLACEHOLDER_VALUE.fullmatch(match.group(1)):
            yield match.span(1)


def _assigned_credentials(scan: _Scan) -> Iterator[Span]:
    """``password=…``, ``"api_key": "…"``, ``DB_PASSWORD: …``: the value only."""
    for value in _after_cues(scan, _CREDENTIAL_CUES, _ASSIGNED_VALUE, whole=False):
        group = value.lastindex or 0
        if _credential_value_ok(value.group(group), quoted=group < 3):
            yield value.span(group)


def _credential_value_ok(value: str, *, quoted: bool) -> bool:
    if len(value) < 4 or _PLACEHOLDER_VALUE.fullmatch(value):
        return False
    if quoted:  # "Enter your password" is a label, "FORCE_CHANGE_PASSWORD" an enum value
        return not any(ch.isspace() for ch in value) and not _CONSTANT_NAME.fullmatch(value)
    return not _CODE_VALUE.fullmatch(value)


def _prose_passwords(scan: _Scan) -> Iterator[Span]:
    """ "my password is hunter2": only values with a digit or symbol, because
    "the password is incorrect" is far more common than an all-letter password."""
    for match in _after_cues(scan, _PROSE_PASSWORD_CUES, _PROSE_PASSWORD_VALUE):
        value = match.group(1).rstrip(".,;:!?)")
        if len(value) >= 4 and not value.isalpha() and not _PLACEHOLDER_VALUE.fullmatch(value):
            yield match.start(1), match.start(1) + len(value)


# Generic tokens: runs of 20+ base64/base64url characters, found by mapping
# every such character to "a" and searching for "a" * 20 (a C-speed string
# search), then judged in Python.
_TOKEN_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/_-"  # no "="
_RUN_MAP = str.maketrans({chr(i): "a" if chr(i) in _TOKEN_CHARS else " " for i in range(128)})
_MIN_TOKEN = 20
_HEX_OR_UUID = re.compile(
    r"[0-9a-fA-F]+|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
_NOT_A = re.compile(r"[^a]")
_CLASS_RUNS = re.compile(r"[a-z]+|[A-Z]+|[0-9]+")
_WORDS = re.compile(r"[A-Z]?[a-z]{3,}")
# "token: …", "API_KEY=…", "Bearer …", '"credential": "…': a value is expected next.
_TOKEN_CUE = re.compile(
    r"(?:key|token|secret|bearer|auth\w*|passw\w*|credentials?|signature)[\"']?[ \t]*"
    r"(?:[:=]|=>)?[ \t]*[\"']?$"
)
_PUBLIC_PREFIXES = ("pk_live_", "pk_test_", "sha1-", "sha256-", "sha384-", "sha512-")
MIN_TOKEN_ENTROPY = 3.5  # bits per character, for a token with no cue before it
MIN_RUN_RATIO = 0.3  # runs of one character class (a-z, A-Z, 0-9) per character
MAX_WORDINESS = 0.5  # share of characters in word-like runs ("Account", "user")


def _random_tokens(scan: _Scan) -> Iterator[Span]:
    text = scan.text
    has_pem = "-----BEGIN" in text
    for start, end in _long_runs(text):
        end += 2 if text.startswith("==", end) else 1 if text.startswith("=", end) else 0
        token, window = text[start:end], scan.lower[max(0, start - 32) : start]
        if _public_material(token, window) or (has_pem and _in_public_pem(text, start)):
            continue
        if _looks_random(token, cued=_TOKEN_CUE.search(window) is not None):
            yield start, end


def _public_material(token: str, window: str) -> bool:
    """Random-looking, but public by design: a data: URI's payload, a Stripe
    publishable key, a subresource-integrity hash, an SSH public key."""
    if window.endswith("base64,") or token.startswith(_PUBLIC_PREFIXES):
        return True
    return token.startswith("AAAA") and ("ssh-" in window or "ecdsa-" in window)


def _in_public_pem(text: str, start: int) -> bool:
    """Inside a certificate or public key block (private keys are found whole)."""
    begin = text.rfind("-----BEGIN", 0, start)
    if begin < 0 or text.rfind("-----END", begin, start) >= 0:
        return False
    return "PRIVATE" not in text[begin : begin + 64]


def _long_runs(text: str) -> Iterator[Span]:
    mapped = text.translate(_RUN_MAP)
    start = mapped.find("a" * _MIN_TOKEN)
    while start >= 0:
        stop = _NOT_A.search(mapped, start + _MIN_TOKEN)
        end = stop.start() if stop else len(mapped)
        yield start, end
        start = mapped.find("a" * _MIN_TOKEN, end)


def _looks_random(token: str, *, cued: bool) -> bool:
    """Random keys mix lower case, upper case and digits and switch between
    them all the time; identifiers, paths and file names ("getUserById2",
    "test-44100Hz-le-1ch") hold words, separators, few switches. Hex strings
    (git SHAs, checksums) and UUIDs are identifiers, not secrets. Right after
    "token:", "Bearer " … the bar is lower: one case and digits will do."""
    if len(token) > 512 or _HEX_OR_UUID.fullmatch(token):
        return False
    n = len(token)
    lower, upper, digits = _class_counts(token)
    if cued:
        kinds = (lower > 0) + (upper > 0) + (digits > 0)
        return kinds >= 2 and _wordiness(token) <= MAX_WORDINESS and _entropy(token) >= 3.0
    if min(lower, upper) < 0.1 * n or not digits or n - lower - upper - digits > 0.1 * n:
        return False
    if len(_CLASS_RUNS.findall(token)) / n < MIN_RUN_RATIO:
        return False
    return _wordiness(token) <= MAX_WORDINESS and _entropy(token) >= MIN_TOKEN_ENTROPY


def _wordiness(token: str) -> float:
    return sum(map(len, _WORDS.findall(token))) / len(token)


def _class_counts(token: str) -> tuple[int, int, int]:
    lower = upper = digits = 0
    for ch in token:
        lower += ch.islower()
        upper += ch.isupper()
        digits += ch.isdigit()
    return lower, upper, digits


def _entropy(value: str) -> float:
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values())


Finder = Callable[[_Scan], Iterator[Span]]
_FINDERS: dict[str, Finder] = {
    "email": _find_email,
    "phone": _find_phone,
    "card": _find_card,
    "iban": _find_iban,
    "ssn": _find_ssn,
    "ip": _find_ip,
    "secret": _find_secret,
    "person": ner.find_person,
    "org": ner.find_org,
    "address": ner.find_address,
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
    ) -> None:
        """``builtins`` overrides the defaults by name; names this version does
        not know are ignored, so an older stored policy keeps working."""
        settings = {
            **BUILTIN_DETECTORS,
            **{k: v for k, v in (builtins or {}).items() if k in BUILTIN_DETECTORS},
        }
        for name, setting in settings.items():
            _check_level(setting.level, f"detector {name!r}")
        self._builtins = [
            (name, _FINDERS[name], setting.level)
            for name, setting in settings.items()
            if setting.enabled
        ]
        for detector in custom:
            _check_level(detector.level, f"custom detector {detector.name!r}")
        self._custom = [CustomMatcher(d, _custom_label(d)) for d in custom]

    def scan(self, text: str, deadline: Deadline | None = None) -> list[Finding]:
        """Findings sorted by start, in ``text``'s offsets; overlapping ones
        merged into one (see _resolve). ``deadline`` is the request's budget
        for custom detectors, shared by all its texts."""
        if not text:
            return []
        shadow = Shadow.of(text)
        scan = _Scan(shadow.text)
        found = [
            Finding(name, _LABELS[name], level, start, end)
            for name, finder, level in self._builtins
            for start, end in finder(scan)
        ]
        deadline = deadline or Deadline()
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
