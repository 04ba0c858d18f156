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

Custom detectors (keyword lists, regular expressions written by admins) run on
the third-party ``regex`` module under a time limit; a scan that runs out of
time fails closed.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property, partial

import regex

from .detectors import contact, national, numbers
from .detectors.numbers import DEFAULT_PHONE_REGIONS as DEFAULT_PHONE_REGIONS

LEVELS: tuple[str, ...] = ("public", "internal", "confidential", "restricted")
PUBLIC, INTERNAL, CONFIDENTIAL, RESTRICTED = range(4)

CUSTOM_TIMEOUT_S = 0.05  # per custom detector and scan, for the whole text
MAX_PATTERN_LENGTH = 500


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
    "address": BuiltinSetting(True, CONFIDENTIAL),
    "mac": BuiltinSetting(True, INTERNAL),  # like an IP address: maps a network
}
# National identifiers, grouped in packs an org admin switches on as a whole:
# off by default (each country's formats look like numbers elsewhere).
DETECTOR_PACKS: dict[str, tuple[str, ...]] = {
    "uk": ("uk_nino", "uk_nhs", "uk_passport", "uk_driving_licence"),
    "us": ("us_itin", "us_passport", "us_driver_licence", "us_mbi", "us_npi", "us_aba_routing",
           "us_bank_account"),
    "eu": ("de_tax_id", "fr_nir", "es_dni", "it_fiscal_code", "nl_bsn", "pl_pesel"),
    "ca": ("ca_sin",),
}  # fmt: skip
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
    "person": "Person names after a title, 'my name is', a greeting or a sign-off",
    "address": "Street addresses: house number, street name and type, optional city and ZIP",
    "mac": "MAC addresses (00:1a:2b:3c:4d:5e, dashes, Cisco 001a.2b3c.4d5e)",
    **national.DESCRIPTIONS,
}

_LABELS = {name: name.upper() for name in BUILTIN_DETECTORS}
# Which finding wins an overlap when levels tie: the more specific detector.
_SPECIFICITY = {
    "secret": 9, "card": 8, "iban": 7, "ssn": 6, "email": 5,
    "phone": 4, "ip": 3, "address": 2, "person": 1, "mac": 3,
    # a national identifier is more specific than a phone or card it resembles
    **{name: 8 for pack in DETECTOR_PACKS.values() for name in pack},
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
    def ascii_words(self) -> frozenset[str] | None:
        """The text's words (runs of letters, digits, "_"), lower-cased; None
        unless the text is plain ASCII."""
        if not self.text.isascii():
            return None
        return frozenset(self.text.translate(_WORD_MAP).split())

    @cached_property
    def numbers(self) -> list[numbers.Run]:
        """Runs of digit groups (cards, SSNs, phones, IPv4 …), in one pass."""
        return numbers.runs(self.text)


# Lower-cases ASCII letters and blanks out everything that is not \w.
_WORD_MAP = str.maketrans(
    {chr(i): (chr(i).lower() if chr(i).isalnum() or chr(i) == "_" else " ") for i in range(128)}
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


# --- person -----------------------------------------------------------------

_UP, _LO = "A-ZÀ-ÖØ-Þ", "a-zß-öø-ÿ"
# "Smith", "O'Neil", "McDonald", "Jean-Luc"; then up to two more, with an
# optional middle initial and particles ("van der").
_NAME_WORD = (
    rf"[{_UP}](?:[{_LO}]+|['\u2019][{_UP}][{_LO}]+)(?:[{_UP}][{_LO}]+)?(?:-[{_UP}][{_LO}]+)?"
)
_PARTICLE = r"(?:van|von|de|der|den|del|della|da|di|du|la|le|bin|al)[ \t]"
_FULL_NAME = rf"{_NAME_WORD}(?:[ \t](?:[{_UP}]\.[ \t])?(?:{_PARTICLE}){{0,2}}{_NAME_WORD}){{0,2}}"
_TITLED = re.compile(
    r"(?:Mr|Mrs|Ms|Mx|Miss|Dr|Prof|Professor|Sir|Dame|Lady|Lord|Rev|Fr|Capt|Herr|Frau"
    rf"|Mme|Mlle|Sr|Sra)\.?[ \t]+({_FULL_NAME})"
)
_GREETED = re.compile(rf"Dear[ \t]+({_FULL_NAME})[ \t]*[,:!\n]")
# "Name: Jane Doe", "Patient: …", "From: Jane Doe <jane@…>": the word before
# the colon decides (found from the colon, which is rarer than the words).
_AFTER_COLON = re.compile(rf":[ \t]*\"?({_FULL_NAME})(\"?[ \t]*<)?")
_FIELD_BEFORE = re.compile(
    r"\b(?:(?:full )?name|patient|employee|customer|client|applicant|candidate|author|signed"
    r"|(?P<mail>from|to|cc|bcc|reply-to|sender))[ \t]*$"
)
_NAME_AFTER = re.compile(rf"[ \t]+({_FULL_NAME})")
_INTRODUCTIONS = ("my name is", "my name's", "i'm called", "call me", "je m'appelle",
                  "mein name ist", "me llamo", "mi nombre es")  # fmt: skip
# A sign-off alone on its line, and a name alone on the next.
_SIGN_OFF_LINE = (
    r"[ \t]*(?:best regards|kind regards|warm regards|regards|sincerely|yours sincerely"
    r"|yours truly|best wishes|best|cheers|thanks|thank you|many thanks|respectfully)"
    r"[ \t]*[,.!]?[ \t]*\r?\n"
)
_SIGN_OFF = re.compile(r"\n" + _SIGN_OFF_LINE)  # starts with "\n": a fast scan
_SIGN_OFF_FIRST = re.compile(_SIGN_OFF_LINE)  # the same on the text's first line
_NAME_LINE = re.compile(rf"[ \t]*({_FULL_NAME})[ \t]*\r?(?:\n|$)")
# Capitalised words that start sentences, greet or name roles, not people.
_NOT_NAMES = frozenset(
    "The A An And Or Of In On At For To With From By Is Was Are Be Has Have Will Can "
    "This That These Those It We You I He She They Our Your My His Her Their "
    "Please Thanks Thank Hello Hi Hey Dear All Everyone Team Sir Madam Sirs Customer "
    "Customers Colleague Colleagues Friend Friends Hiring Manager Valued Member Members "
    "Support Sales Marketing Staff Client Clients Partner Partners Reader Readers Student "
    "Students Parent Parents Applicant Candidate Department Office Inc Ltd Llc Corp "
    "Company Group Monday Tuesday Wednesday Thursday Friday Saturday Sunday January "
    "February March April May June July August September October November December "
    "Mo Tu We Th Fr Sa Su Mon Tue Wed Thu Fri Sat Sun "
    "Yes No Not Who What When Where Why How String Int Integer Boolean Optional None".split()
)
_WORD = re.compile(r"\S+")


def _find_person(scan: _Scan) -> Iterator[Span]:
    text, lower = scan.text, scan.lower
    for pattern in (_TITLED, _GREETED):
        for match in pattern.finditer(text):
            if _outside_word(text, match.start() - 1):
                yield from _name_span(match, 1)
    if ":" in text:
        yield from _labelled_names(scan)
    for match in _after_cues(scan, _INTRODUCTIONS, _NAME_AFTER):
        yield from _name_span(match, 1)
    if "\n" in text:
        first = _SIGN_OFF_FIRST.match(lower)
        for sign_off in [first] if first else []:
            yield from _signed_name(text, sign_off.end())
        for sign_off in _SIGN_OFF.finditer(lower):
            yield from _signed_name(text, sign_off.end())


def _signed_name(text: str, end: int) -> Iterator[Span]:
    match = _NAME_LINE.match(text, end)
    if match:
        yield from _name_span(match, 1)


def _labelled_names(scan: _Scan) -> Iterator[Span]:
    for match in _AFTER_COLON.finditer(scan.text):
        start = match.start()
        field = _FIELD_BEFORE.search(scan.lower, max(0, start - 12), start)
        if field is None or (field.group("mail") and not match.group(2)):
            continue  # "From: Jane Doe" is a mail header only with "<address>" after it
        yield from _name_span(match, 1 if field.group("mail") else 2)


def _name_span(match: re.Match[str], fewest_words: int) -> Iterator[Span]:
    """The name, cut before the first word that is not one ("Smith And Co").
    Labelled fields need two words: "name: String" is a type, not a person."""
    name, start = match.group(1), match.start(1)
    words = [m.span() for m in _WORD.finditer(name)]
    kept = 0
    while kept < len(words) and name[slice(*words[kept])].rstrip(".") not in _NOT_NAMES:
        kept += 1
    if kept >= max(1, fewest_words):
        yield start, start + words[kept - 1][1]


# --- postal address ---------------------------------------------------------

_STREET_TYPES = (
    r"Street|St|Avenue|Ave|Road|Rd|Lane|Ln|Boulevard|Blvd|Drive|Dr|Court|Ct|Place|Pl|Terrace"
    r"|Way|Square|Sq|Parkway|Pkwy|Highway|Hwy|Circle|Close|Crescent|Plaza|Mews|Grove|Gardens|Row"
)
_STREET_TYPE = re.compile(rf"(?:{_STREET_TYPES})(?![\w])")
_DIRECTION = r"(?:N|S|E|W|NE|NW|SE|SW|North|South|East|West)"
# "221B Baker Street", "1600 Pennsylvania Avenue NW, Washington, DC 20500",
# "10 Downing Street, London SW1A 2AA". Searched for only near a street type.
_ADDRESS_EN = re.compile(
    rf"[0-9](?<!\w[0-9])[0-9]{{0,4}}[A-Za-z]?(?:[-/][0-9]{{1,4}}[A-Za-z]?)?,?[ \t]+"
    rf"(?:{_DIRECTION}\.?[ \t]+)?"
    rf"(?:(?:[0-9]{{1,3}}(?:st|nd|rd|th)|[{_UP}][{_LO}]+(?:['\u2019][a-z]+)?)\.?[ \t]+){{1,4}}"
    rf"(?:{_STREET_TYPES})\b\.?"
    rf"(?:[ \t]+{_DIRECTION}\b\.?)?"
    r"(?:,?[ \t]*(?:Apt|Apartment|Suite|Ste|Unit|Flat|Floor|Fl|Room|Rm|#)\.?[ \t]*#?"
    r"[A-Za-z0-9\-]{1,6})?"
    rf"(?:,[ \t]*[{_UP}][{_LO}]+(?:[ \t]+[{_UP}][{_LO}]+){{0,2}}"
    r"(?:,?[ \t]+(?:[A-Z]{2}[ \t]+)?[0-9]{5}(?:-[0-9]{4})?"  # state and ZIP
    r"|,?[ \t]+[A-Z]{1,2}[0-9][A-Z0-9]?[ \t]*[0-9][A-Z]{2})?)?"  # UK postcode
)
# "Hauptstraße 5, 10115 Berlin", "Goethestr. 12", "Kerkstraat 12".
_DE_NL_TYPES = ("straße", "strasse", "str.", "straat", "weg", "gasse", "platz", "allee",
                "laan", "gracht")  # fmt: skip
_ADDRESS_DE_NL = re.compile(
    rf"[{_UP}](?<!\w[{_UP}])[{_LO}]{{2,}}(?:-[{_UP}][{_LO}]+)*[- ]?"
    r"(?:[Ss]tra(?:ße|sse)|[Ss]tr\.|[Ww]eg|[Gg]asse|[Pp]latz|[Aa]llee|straat|laan|gracht)"
    rf"[ \t]+[0-9]{{1,4}}[a-z]?\b(?:,[ \t]*[0-9]{{4,5}}[ \t]+[{_UP}][{_LO}]+)?"
)
# "12 rue de Rivoli, 75001 Paris".
_FR_TYPES = ("rue", "avenue", "boulevard", "bd", "allée", "impasse", "quai", "chemin")
_ADDRESS_FR = re.compile(
    r"[0-9](?<!\w[0-9])[0-9]{0,3}(?:[ \t]?(?:bis|ter))?,?[ \t]+"
    r"(?i:rue|avenue|boulevard|bd|allée|impasse|quai|chemin)[ \t]+"
    rf"(?:(?:de la|de l'|du|des|de|d'|la|le|les|l')[ \t]*)?[{_UP}][\w'\u2019\-]+"
    rf"(?:[ \t]+(?:de la|de|du|des|la|le|les|[{_UP}][\w'\u2019\-]+)){{0,4}}"
    rf"(?:,[ \t]*[0-9]{{5}}[ \t]+[{_UP}][{_LO}]+)?"
)


def _find_address(scan: _Scan) -> Iterator[Span]:
    """Each address format is searched for only in a window around its
    street-type word, the rarest part of an address."""
    text = scan.text
    anchors = [(m.start(), m.end()) for m in _STREET_TYPE.finditer(text)]
    yield from _around(text, anchors, _ADDRESS_EN, before=100, after=120)
    yield from _around(text, list(_cues(scan.lower, _FR_TYPES)), _ADDRESS_FR, before=12, after=120)
    de = list(_cues(scan.lower, _DE_NL_TYPES, whole=False))
    yield from _around(text, de, _ADDRESS_DE_NL, before=60, after=40)


def _around(
    text: str, anchors: Sequence[Span], pattern: re.Pattern[str], *, before: int, after: int
) -> Iterator[Span]:
    covered = 0
    for start, end in sorted(anchors):
        if start < covered:
            continue
        match = pattern.search(text, max(covered, start - before), end + after)
        if match and match.start() <= start < match.end():
            covered = match.end()
            yield match.span()


Finder = Callable[[_Scan], Iterator[Span]]
_FINDERS: dict[str, Finder] = {
    "email": contact.find_email,
    "phone": numbers.find_phone,
    "card": numbers.find_card,
    "iban": contact.find_iban,
    "ssn": numbers.find_ssn,
    "ip": numbers.find_ip,
    "mac": numbers.find_mac,
    "secret": _find_secret,
    "person": _find_person,
    "address": _find_address,
    **national.FINDERS,
}


# --- custom detectors -------------------------------------------------------


class _CustomMatcher:
    """One admin-defined detector, compiled once; fails closed on timeout."""

    def __init__(self, detector: CustomDetector) -> None:
        if detector.kind not in ("keywords", "regex"):
            raise ValueError(f"custom detector {detector.name!r}: unknown kind {detector.kind!r}")
        _check_level(detector.level, f"custom detector {detector.name!r}")
        self.detector = f"custom:{detector.name}"
        self.label = _custom_label(detector)
        self.level = detector.level
        try:
            self.patterns = _compile_custom(detector)
        except regex.error as exc:
            raise ValueError(f"custom detector {detector.name!r}: {exc}") from exc
        keywords = (
            [p for p in detector.patterns if p.strip()] if detector.kind == "keywords" else []
        )
        # For each keyword, the words it is made of; None: cannot prefilter, always run.
        self.needs: list[frozenset[str]] | None = [_words_of(k) for k in keywords] or None
        if self.needs and not all(self.needs):
            self.needs = None  # a keyword with no letters or digits ("!!!")

    def spans(self, scan: _Scan) -> list[Span]:
        if not self._may_match(scan):
            return []
        deadline = time.perf_counter() + CUSTOM_TIMEOUT_S
        spans: list[Span] = []
        try:
            for pattern in self.patterns:
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    raise TimeoutError
                matches = pattern.finditer(scan.text, timeout=remaining)
                spans += [m.span() for m in matches if m.end() > m.start()]
        except TimeoutError:
            # We cannot tell what the text holds, so treat all of it as a match.
            return [(0, len(scan.text))]
        return spans

    def _may_match(self, scan: _Scan) -> bool:
        """A keyword list is a big alternation, slow to scan (100 keywords
        cost more than all built-in detectors together); most texts contain
        none of the words, which set lookups tell far faster. Only for ASCII
        text and keywords, where lower-casing and the regex's case-insensitive
        matching agree, so the shortcut can never hide a match."""
        words = scan.ascii_words
        if self.needs is None or words is None:
            return True
        return any(need <= words for need in self.needs)


def _words_of(keyword: str) -> frozenset[str]:
    if not keyword.isascii():
        return frozenset()
    return frozenset(keyword.translate(_WORD_MAP).split())


def _compile_custom(detector: CustomDetector) -> list[regex.Pattern[str]]:
    patterns = [p for p in detector.patterns if p.strip()]
    if detector.kind == "regex":
        return [regex.compile(p) for p in patterns]
    if not patterns:
        return []
    # One alternation for all keywords, longest first so "Project Falcon" wins
    # over "Project".
    words = sorted({p.strip() for p in patterns}, key=len, reverse=True)
    return [regex.compile("|".join(map(_keyword_regex, words)), regex.IGNORECASE)]


def _keyword_regex(keyword: str) -> str:
    """Whole words: no letter or digit may touch an end that is one ("C++"
    matches in "C++11", "falcon" not in "falcons"); any run of whitespace
    inside the keyword matches any other (a line break, two spaces)."""
    body = r"\s+".join(regex.escape(part) for part in keyword.split())
    before = r"(?<!\w)" if _is_word_char(keyword[0]) else ""
    after = r"(?!\w)" if _is_word_char(keyword[-1]) else ""
    return before + body + after


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


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
        self._custom = [_CustomMatcher(detector) for detector in custom]

    def scan(self, text: str) -> list[Finding]:
        """Findings sorted by start; overlapping ones merged into one (see _resolve)."""
        if not text:
            return []
        scan = _Scan(text)
        found = [
            Finding(name, _LABELS[name], level, start, end)
            for name, finder, level in self._builtins
            for start, end in finder(scan)
        ]
        for matcher in self._custom:
            found += [
                Finding(matcher.detector, matcher.label, matcher.level, start, end)
                for start, end in matcher.spans(scan)
            ]
        return _resolve(found)

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


# --- validating custom patterns ----------------------------------------------

_PROBE_TIMEOUT_S = 0.02  # one probe; a safe pattern needs microseconds
_PROBE_BUDGET_S = 0.5  # all probes together
_PUMP_LENGTH = 32  # exponential patterns take seconds at ~30 characters
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
        return None  # escaped before use: always a plain, safe match
    try:
        compiled = regex.compile(pattern)
    except regex.error as exc:
        return f"is not a valid regular expression: {exc}"
    if _matches_empty(compiled):
        return "can match an empty string, so it would match everywhere"
    if _nested_repeat(pattern) or _too_slow(compiled, pattern):
        return (
            "risks catastrophic backtracking (a repeat inside a repeat, like (a+)+, or "
            "overlapping alternatives, like (a|ab)*): make the repeated parts unambiguous"
        )
    return None


def _matches_empty(compiled: regex.Pattern[str]) -> bool:
    try:
        return any(
            m.end() == m.start()
            for probe in _EMPTY_PROBES
            for m in compiled.finditer(probe, timeout=_PROBE_TIMEOUT_S)
        )
    except TimeoutError:
        return False  # _too_slow reports it


def _too_slow(compiled: regex.Pattern[str], pattern: str) -> bool:
    """Run the pattern on inputs built to make backtracking explode: a
    character or fragment of the pattern repeated, then one that fails."""
    deadline = time.perf_counter() + _PROBE_BUDGET_S
    for probe in _adversarial_inputs(pattern):
        try:
            compiled.fullmatch(probe, timeout=_PROBE_TIMEOUT_S)
            compiled.search(probe, timeout=_PROBE_TIMEOUT_S)
        except TimeoutError:
            return True
        if time.perf_counter() > deadline:
            return True
    return False


def _adversarial_inputs(pattern: str) -> Iterator[str]:
    plain = re.sub(r"\\[A-Za-z]", "", pattern)  # \d, \w … are classes, not letters
    units = {"a", "A", "0", " ", "_", "-", ".", "@", "\n"}
    units |= {ch for ch in plain if ch.isprintable()}
    units |= set(re.findall(r"[A-Za-z0-9]{2,8}", plain))
    for unit in sorted(units):
        pumped = unit * max(1, _PUMP_LENGTH // len(unit))
        for tail in ("!", "\x00"):
            yield pumped + tail


_GROUP_OPEN = re.compile(r"\((?:\?(?:P?<\w+>|<[=!]|[=!>|]|[A-Za-z0-9\-]*:))?")
_QUANTIFIER = re.compile(r"(?:([*+?])|\{(\d*)(,?)(\d*)\})([?+]?)")


@dataclass
class _Branch:
    required: int = 0  # items that must match at least once
    repeats: bool = False  # some item can repeat without bound


def _nested_repeat(pattern: str) -> bool:
    """A group repeated without bound whose body is essentially one unbounded
    repeat, like (a+)+, (a*)* or (\\w+\\s?)+: the engine can split the input
    between the two repeats in exponentially many ways. (a+)+ happens to be
    caught by the regex module's own guards, but variants of it are not."""
    stack: list[list[_Branch]] = [[_Branch()]]
    i = 0
    while i < len(pattern):
        lone_group, i = _next_item(pattern, i, stack)
        if lone_group is None:
            continue
        quantifier = _QUANTIFIER.match(pattern, i)
        optional, unbounded = _quantifier_kind(quantifier)
        if quantifier:
            i = quantifier.end()
        if lone_group and unbounded:
            return True
        branch = stack[-1][-1]
        branch.repeats |= unbounded or lone_group
        branch.required += not optional
    return False


def _next_item(pattern: str, i: int, stack: list[list[_Branch]]) -> tuple[bool | None, int]:
    """Consume one item; return (is it a group that is a lone repeat, next
    index), or (None, next index) for "(", "|" and other non-items."""
    ch = pattern[i]
    if ch == "(":
        stack.append([_Branch()])
        opened = _GROUP_OPEN.match(pattern, i)
        return None, opened.end() if opened else i + 1
    if ch == "|":
        stack[-1].append(_Branch())
        return None, i + 1
    if ch == ")" and len(stack) > 1:
        branches = stack.pop()
        return any(b.repeats and b.required <= 1 for b in branches), i + 1
    if ch == "\\":
        return False, i + 2
    if ch == "[":
        return False, _class_end(pattern, i)
    return False, i + 1


def _class_end(pattern: str, i: int) -> int:
    j = i + 1
    if j < len(pattern) and pattern[j] == "^":
        j += 1
    if j < len(pattern) and pattern[j] == "]":
        j += 1  # a "]" first in a class is literal
    while j < len(pattern) and pattern[j] != "]":
        j += 2 if pattern[j] == "\\" else 1
    return j + 1


def _quantifier_kind(quantifier: re.Match[str] | None) -> tuple[bool, bool]:
    """(may match zero times, may repeat without bound); possessive counts as bounded."""
    if quantifier is None:
        return False, False
    symbol, low, comma, high, mode = quantifier.groups()
    if symbol:
        optional, unbounded = symbol in "*?", symbol in "*+"
    else:
        optional, unbounded = low in ("", "0"), bool(comma) and not high
    return optional, unbounded and mode != "+"


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
