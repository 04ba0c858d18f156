"""Digit-based detectors: payment cards, phone numbers, US SSNs, IP and MAC
addresses. Pure functions of the text; see docs/classification.md.

Cards, phones and SSNs read one shared, linear scan of the text (``runs``):
maximal runs of digit groups joined by one separator each (space, ".", "-",
"/", or a parenthesis as in "(0)20" or "(415) 555"). Each detector then reads
the groups of a run (which windows of them make a card) and validates its
candidates: Luhn and issuer ranges for cards, Google's libphonenumber (the
``phonenumbers`` package) for phone numbers, the SSA's never-issued ranges for
SSNs. IP and MAC addresses have their own linear patterns (``ipaddress``
validates IPv6).
Context words ("card", "ssn", "tel") found with ``str.rfind`` just before a
candidate let through what its shape alone does not prove.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

import phonenumbers

if TYPE_CHECKING:
    from apps.policy.classification import _Scan

Span = tuple[int, int]

# --- the shared scan ------------------------------------------------------------

# Every separator must be followed by a digit, and a group cannot end with
# one, so each character is read once: linear on any input.
_RUN = re.compile(r"[0-9](?<![0-9][0-9])[0-9]*(?:(?:[ .\-/]|\)[ .\-]?|[ .\-]?\()[0-9]+)*")
_SEPARATOR = re.compile(r"([^0-9]+)")  # captured: split() keeps the separators


class Run:
    """Digits and separators, e.g. "4111 1111 1111 1111" or "44 (0)20 7946".
    Its groups are split out only when a detector asks: most runs are too
    short for any of them ("3", "12")."""

    __slots__ = ("_groups", "_text", "end", "start")

    def __init__(self, text: str, start: int, end: int) -> None:
        self._text, self.start, self.end = text, start, end
        self._groups: tuple[Span, ...] | None = None

    def __len__(self) -> int:
        return self.end - self.start

    @property
    def groups(self) -> tuple[Span, ...]:
        """(start, end) of each group of digits."""
        if self._groups is None:
            pieces = _SEPARATOR.split(self._text[self.start : self.end])
            spans, at = [], self.start
            for digits, separator in zip(pieces[::2], [*pieces[1::2], ""], strict=True):
                spans.append((at, at + len(digits)))
                at += len(digits) + len(separator)
            self._groups = tuple(spans)
        return self._groups


_THOUSANDS = re.compile(r"[0-9]{3}(?![0-9])")
MIN_RUN = 7  # "1.2.3.4", the shortest candidate of any detector here


def runs(text: str) -> list[Run]:
    """Every run of digit groups in ``text`` long enough for a detector, in one pass."""
    return [Run(text, *m.span()) for m in _RUN.finditer(text) if m.end() - m.start() >= MIN_RUN]


def _digits(text: str, groups: Sequence[Span]) -> str:
    return "".join(text[start:end] for start, end in groups)


def _separators(text: str, groups: Sequence[Span]) -> list[str]:
    return [text[groups[i][1] : groups[i + 1][0]] for i in range(len(groups) - 1)]


def _glued(ch: str) -> bool:
    """A letter or digit that would make a number part of a word. Chinese and
    Japanese run words together without spaces ("は+81 20-6235-2033まで"), so
    their characters (U+2E80 onwards) do not."""
    return ch.isalnum() and (ch.isdigit() or ord(ch) < 0x2E80)


def _cjk(ch: str) -> bool:
    """Chinese and Japanese words touch their neighbours: a cue word written in
    them needs no space around it ("のマイナンバーは")."""
    return ord(ch) >= 0x2E80


def clear_before(text: str, start: int) -> bool:
    """Nothing glued to the front: not inside a word or a longer number
    ("x4111…", "1.5", "12:30", "1,234"), not a price or a reference ("$",
    "#"). A comma after digits is a CSV field separator unless three digits
    follow it, as in a thousands separator."""
    if start == 0:
        return True
    ch = text[start - 1]
    if _glued(ch) or ch in "_$€£¥#@\\":
        return False
    if ch == "," and start >= 2 and text[start - 2].isdigit():
        return _THOUSANDS.match(text, start) is None
    return not (ch in ".:-/" and start >= 2 and text[start - 2].isdigit())


def clear_after(text: str, end: int) -> bool:
    """Nothing glued to the end: no letter, "%", or more digits after a "."
    or ":"; after a comma, only three digits (a thousands separator), not
    the next field of a CSV row."""
    if end >= len(text):
        return True
    ch = text[end]
    if _glued(ch) or ch in "_%":
        return False
    if ch == ",":
        return _THOUSANDS.match(text, end + 1) is None
    return not (ch in ".:-/" and end + 1 < len(text) and text[end + 1].isdigit())


def cue_before(lower: str, start: int, cues: Sequence[str], window: int = 40) -> bool:
    """One of the cue words (whole words) starts within ``window`` characters
    before ``start``, on the same line."""
    return cue_at(lower, start, cues, window) is not None


def cue_after(lower: str, end: int, cues: Sequence[str], window: int = 32) -> bool:
    """One of the cue words (whole words) starts within ``window`` characters
    after ``end``, on the same line ("… 698712055 is the right BSN")."""
    for cue in cues:
        at = lower.find(cue, end, end + window + len(cue))
        if at < 0:
            continue
        stop = at + len(cue)
        before_ok = not lower[at - 1].isalnum() or _cjk(cue[0])
        after_ok = stop >= len(lower) or not lower[stop].isalnum() or _cjk(cue[-1])
        if before_ok and after_ok and "\n" not in lower[end:at]:
            return True
    return False


_FIELD_EDGES = frozenset(',;\t"')


def in_named_column(scan: _Scan, start: int, end: int, cues: Sequence[str]) -> bool:
    """A delimited field (CSV, TSV) in a text whose first line, a header,
    names the column ("id,name,ssn,street")."""
    text = scan.text
    before = text[start - 1] if start else ""
    after = text[end] if end < len(text) else "\n"
    if before not in _FIELD_EDGES or (after not in _FIELD_EDGES and after not in "\r\n"):
        return False
    header_end = scan.lower.find("\n", 0, 500)
    return header_end > 0 and cue_before(scan.lower, header_end, cues, header_end)


def cue_at(lower: str, start: int, cues: Sequence[str], window: int = 40) -> int | None:
    """Where the latest such cue word starts, or None."""
    low, latest = max(0, start - window), None
    for cue in cues:
        at = lower.rfind(cue, low, start)
        if at < 0 or (latest is not None and at <= latest):
            continue
        end = at + len(cue)
        before_ok = at == 0 or not lower[at - 1].isalnum() or _cjk(cue[0])
        after_ok = end >= len(lower) or not lower[end].isalnum() or _cjk(cue[-1])
        if before_ok and after_ok and "\n" not in lower[end:start]:
            latest = at
    return latest


# --- payment cards --------------------------------------------------------------

_ALL_LENGTHS = tuple(range(12, 20))
# (first IIN, last IIN, lengths); IINs compare as strings of equal length.
# From the networks' published ranges (and Wikipedia's "Payment card number").
_CARD_ISSUERS: tuple[tuple[str, str, tuple[int, ...]], ...] = (
    ("4", "4", (13, 16, 19)),  # Visa
    ("51", "55", (16,)),  # Mastercard
    ("2221", "2720", (16,)),  # Mastercard 2-series
    ("34", "34", (15,)),  # American Express
    ("37", "37", (15,)),
    ("6011", "6011", (16, 17, 18, 19)),  # Discover
    ("644", "649", (16, 17, 18, 19)),
    ("65", "65", (16, 17, 18, 19)),  # Discover, RuPay, Troy
    ("35", "35", (15, 16, 17, 18, 19)),  # JCB (3528-3589; test data uses all of 35)
    ("1800", "1800", (15,)),  # JCB, older 15-digit cards
    ("2131", "2131", (15,)),
    ("300", "305", (14, 15, 16, 17, 18, 19)),  # Diners Club
    ("3095", "3095", (14, 15, 16, 17, 18, 19)),
    ("36", "36", (14, 15, 16, 17, 18, 19)),
    ("38", "39", (14, 15, 16, 17, 18, 19)),
    ("62", "62", (16, 17, 18, 19)),  # UnionPay
    ("81", "81", (16, 17, 18, 19)),
    ("2200", "2204", (16, 17, 18, 19)),  # Mir
    ("60", "60", (16,)),  # RuPay
    ("508", "508", (16,)),
    ("353", "353", (16,)),
    ("356", "356", (16,)),
    ("82", "82", (16,)),
    ("9792", "9792", (16,)),  # Troy
    ("5018", "5018", _ALL_LENGTHS),  # Maestro's own IINs
    ("5020", "5020", _ALL_LENGTHS),
    ("5038", "5038", _ALL_LENGTHS),
    ("5893", "5893", _ALL_LENGTHS),
    ("6304", "6304", _ALL_LENGTHS),
    ("6759", "6759", _ALL_LENGTHS),
    ("6761", "6763", _ALL_LENGTHS),
    ("50", "50", _ALL_LENGTHS),  # Maestro's whole range
    ("56", "69", _ALL_LENGTHS),
)
_CARD_CUES = (
    "card", "cards", "cardnumber", "card_number", "cc", "ccn", "ccnum", "credit", "debit",
    "visa", "mastercard", "master card", "amex", "american express", "maestro", "discover",
    "jcb", "diners", "unionpay", "union pay", "mir", "rupay", "troy", "pan", "cvv", "cvc",
    "kreditkarte", "karte", "carte", "tarjeta", "carta", "cartão",
)  # fmt: skip
_CARD_SEPARATORS = frozenset(" -.")
_THREE_DIGITS = re.compile("[0-9]{3}")


def find_card(scan: _Scan) -> Iterator[Span]:
    for run in scan.numbers:
        if len(run) >= 12 and clear_before(scan.text, run.start):
            yield from _cards_in_run(scan, run)


def _cards_in_run(scan: _Scan, run: Run) -> Iterator[Span]:
    """The longest card-like window of groups from each group on. A run has
    no letters, so a cue word can only come before its first 40 characters."""
    cue = cue_at(scan.lower, run.start, _CARD_CUES)
    if cue is None and not _THREE_DIGITS.search(scan.text, run.start, run.end):
        return  # "1 2 3 4 …": no group a card starts with
    groups, i = run.groups, 0
    while i < len(groups):
        cued = cue is not None and groups[i][0] - cue <= 48
        size = groups[i][1] - groups[i][0]
        end = _card_window(scan, groups, i, cued) if cued or size >= 3 else None
        if end is None:
            i += 1
            continue
        yield groups[i][0], groups[end][1]
        i = end + 1


def _card_window(scan: _Scan, groups: Sequence[Span], i: int, cued: bool) -> int | None:
    """Without a cue, only windows written like a card: one kind of
    separator, groups of 3-8 digits but the last ("4111 1111 1111 1111",
    "3782 822463 10005", "4222 2222 2222 2"), not "41 11 11 …"."""
    text, windows, count = scan.text, [], 0
    for j in range(i, len(groups)):
        if j > i:
            separator = text[groups[j - 1][1] : groups[j][0]]
            if separator not in _CARD_SEPARATORS:
                break
            size = groups[j - 1][1] - groups[j - 1][0]
            grouped = separator == text[groups[i][1] : groups[i + 1][0]] and 3 <= size <= 8
            if not (grouped or cued):
                break
        count += groups[j][1] - groups[j][0]
        if count > 19:
            break
        if count >= 12:
            windows.append(j)
    for j in reversed(windows):
        if j == len(groups) - 1 and not clear_after(text, groups[j][1]):
            continue
        if _continues(text, groups, i, j) or not _card_ok(text, groups[i : j + 1], cued):
            continue
        return j
    return None


def _continues(text: str, groups: Sequence[Span], i: int, j: int) -> bool:
    """The number goes on in the same writing on either side: "6070 7350
    1829" is not a card inside "6070 7350 1829 4672". After a space, only a
    group of 3+ digits counts ("4111 1111 1111 1111 12 27" ends with a date)."""
    inner = text[groups[i][1] : groups[i + 1][0]] if j > i else None
    sides = []
    if i > 0:
        sides.append((text[groups[i - 1][1] : groups[i][0]], groups[i - 1]))
    if j + 1 < len(groups):
        sides.append((text[groups[j][1] : groups[j + 1][0]], groups[j + 1]))
    for separator, (start, end) in sides:
        if inner is None and separator in ("-", "."):
            return True
        if separator == inner and (separator != " " or end - start >= 3):
            return True
    return False


def _card_ok(text: str, groups: Sequence[Span], cued: bool) -> bool:
    digits = _digits(text, groups)
    if not luhn_ok(digits):
        return False
    # Any Luhn-valid 12-19 digits, however written, right after "card", "visa" …
    return cued or _issuer_in(digits, _CARD_ISSUERS)


def _issuer_in(digits: str, table: Sequence[tuple[str, str, tuple[int, ...]]]) -> bool:
    length = len(digits)
    return any(
        low <= digits[: len(low)] <= high and length in lengths for low, high, lengths in table
    )


def luhn_ok(digits: str) -> bool:
    total = 0
    for position, ch in enumerate(reversed(digits)):
        value = ord(ch) - 48
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


# --- phone numbers --------------------------------------------------------------

# Regions whose national formats (no "+") are tried, in this order.
DEFAULT_PHONE_REGIONS: tuple[str, ...] = (
    "US",
    "GB",
    "DE",
    "FR",
    "ES",
    "IT",
    "NL",
    "CA",
    "AU",
    "IN",
)
# North America shares +1; its trunk prefix "1" is optional.
_NANP = frozenset(
    "US CA AG AI AS BB BM BS DM DO GD GU JM KN KY LC MP MS PR SX TC TT VC VG VI".split()
)
_PHONE_CUES = (
    "phone", "tel", "telephone", "mobile", "mob", "cell", "cellphone", "fax", "call", "ring",
    "whatsapp", "sms", "landline", "text me", "contact", "reach me", "dial", "ph", "hotline",
    "téléphone", "tél", "portable", "telefon", "handy", "rufnummer", "teléfono", "móvil",
    "telefono", "cellulare", "telefoon", "mobiel", "número", "numero", "nummer",
    "telefone", "celular", "fone", "ligue", "chiami", "chiamare", "appelez", "appeler",
    "anrufen", "llame", "llamar", "bel", "bellen", "zadzwoń", "mobil", "telefonnummer",
    "mobilnummer", "numer", "numerem", "kontakt", "ping me", "extension", "電話",
    "お問い合わせ", "連絡先", "携帯", "전화",
)  # fmt: skip
# Column names that make a CSV field a phone number ("id,name,email,phone").
_PHONE_COLUMNS = ("phone", "tel", "telephone", "mobile", "cell", "telefon", "telefono",
                  "telefone", "téléphone", "fax")  # fmt: skip
# Words that introduce other numbers ("ISSN 0317-8471", "order 0800 123 456",
# "id 502 254 3143"), unless a phone cue comes too.
_NOT_PHONE_CUES = (
    "isbn", "issn", "doi", "isin", "sku", "ean", "upc", "order", "invoice", "id", "ref",
    "reference", "ticket", "tracking", "serial", "part", "value", "version", "released",
    "build", "account", "acct", "amount", "total", "qty", "iban",
)  # fmt: skip
# "2024-01-15", "15.01.2024", "01/15/2024", at the start of a candidate.
_DATE_START = re.compile(
    r"[0-9]{4}[./\-][0-9]{1,2}[./\-][0-9]{1,2}(?![0-9])|[0-9]{1,2}[./\-][0-9]{1,2}[./\-][0-9]{2,4}$"
)
_EXTENSION = re.compile(r",? ?(?:ext\.?|extension|x|#) ?[0-9]{1,6}(?![0-9A-Za-z])", re.IGNORECASE)


def find_phone(scan: _Scan, regions: Sequence[str] = DEFAULT_PHONE_REGIONS) -> Iterator[Span]:
    """``regions``: ISO 3166 codes whose national formats are accepted
    without a "+" (settings.HYBRIDHUB_PHONE_REGIONS, passed in by the caller)."""
    region_tuple = tuple(regions)
    for run in scan.numbers:
        span = _phone_in_run(scan, run, region_tuple) if len(run) >= 7 else None
        if span:
            yield span


def _phone_in_run(scan: _Scan, run: Run, regions: tuple[str, ...]) -> Span | None:
    text = scan.text
    lead = run.start - 1 if run.start and text[run.start - 1] in "+(" else run.start
    if text[lead] == "(" and text[run.groups[0][1] : run.groups[0][1] + 1] != ")":
        lead = run.start  # "(020) 7946" or "(415) 555-…", not "(3773 5018 …"
    if not clear_before(text, lead) or (lead and text[lead - 1] == "+"):
        return None  # "C+1…", "1+1", "++44"
    groups = run.groups
    # The whole run, or after a cue word the run without its last group or two
    # ("call 020 7946 0958 2 times"); no phone number has more than eight groups.
    longest = min(len(groups), 8)
    cued = cue_before(scan.lower, lead, _PHONE_CUES, 32) or in_named_column(
        scan, lead, groups[-1][1], _PHONE_COLUMNS
    )
    for count in range(longest, max(0, longest - 3), -1):
        end = groups[count - 1][1]
        if count < len(groups) and (text[end] != " " or not cued):
            continue
        if count == len(groups) and not clear_after(text, end) and not _EXTENSION.match(text, end):
            return None
        if _phone_ok(scan, lead, groups[:count], regions, cued=cued):
            extension = _EXTENSION.match(text, end)
            return lead, extension.end() if extension else end
    return None


def _phone_ok(
    scan: _Scan, lead: int, groups: Sequence[Span], regions: tuple[str, ...], *, cued: bool
) -> bool:
    """``cued``: a phone cue word comes before, or the CSV column is named so."""
    text = scan.text
    written = text[lead : groups[-1][1]]
    digits = _digits(text, groups)
    if not 7 <= len(digits) <= 17 or not _phone_shaped(text, written, groups, cued=cued):
        return False
    if written[0] == "+":
        return len(digits) >= 8 and _international_ok(written, bare=len(groups) == 1)
    if digits[:2] == "00" and digits[2:3] != "0":
        international = "+" + written[2:]
        if len(groups) > 1 and _possible_international(international):
            return True  # "0033 6 94 02 43 61"; a bare "00…" run must be valid
        return len(digits) >= 9 and _parsed(international, None, trunk=False) is not None
    other = cue_at(scan.lower, lead, _NOT_PHONE_CUES, 16)
    if other is not None:
        phone_cue = cue_at(scan.lower, lead, _PHONE_CUES, 32)
        if phone_cue is None or phone_cue < other:
            return False  # "contact us about order 605 566 800": the nearer word wins
    if len(groups) == 1 and not (cued and len(digits) >= 8) and not _bare_trunk(digits):
        return False  # a bare digit run is a count or an id unless called a phone
    if _north_american_shape(text, written, groups, regions):
        return True
    for region in regions:
        formatted = _parsed(written, region, trunk=not cued)
        if formatted is None:
            continue
        if cued or _written_as_phone(written, groups, formatted, region):
            return True
    # Called a phone but valid in none of the configured regions: a number of a
    # country the operator did not list ("chiami il 088252093", "605 566 800" in
    # a "phone" column). Its length is still a phone's.
    return cued and len(digits) <= 13


def _international_ok(written: str, *, bare: bool) -> bool:
    """A "+" is a strong sign: a valid number, or one of a possible length
    for its country code (new or unassigned ranges, made-up examples)."""
    if _parsed(written, None, trunk=False) is not None:
        return True
    return _possible_international(written) and (not bare or len(written) >= 11)


@lru_cache(maxsize=4096)
def _possible_international(written: str) -> bool:
    try:
        return phonenumbers.is_possible_number(phonenumbers.parse(written, None))
    except phonenumbers.NumberParseException:
        return False


def _bare_trunk(digits: str) -> bool:
    """ "02327812860" with one trunk "0": a national number written without
    spaces (only counts if valid in one of the regions)."""
    return 10 <= len(digits) <= 11 and digits[0] == "0" and digits[1] != "0"


def _north_american_shape(
    text: str, written: str, groups: Sequence[Span], regions: tuple[str, ...]
) -> bool:
    """ "(415) 555-0132", "415-555-0132", "1.415.555.0132", "415 555-0132": the
    North American layout is distinctive enough even where libphonenumber does
    not know the area code; with spaces only ("200 300 4000") it is not."""
    if not _NANP & set(regions):
        return False
    sizes = [end - start for start, end in groups]
    if sizes[:1] == [1] and text[groups[0][0]] == "1":
        sizes, groups = sizes[1:], groups[1:]
    if sizes != [3, 3, 4] or text[groups[0][0]] in "01":
        return False
    first, last = _separators(text, groups)
    parens = written.lstrip("1 -.").startswith("(")
    return last in ("-", ".") and (parens or first in (last, " "))


def _phone_shaped(text: str, written: str, groups: Sequence[Span], *, cued: bool) -> bool:
    """Not a date, a version or IP ("1.2.3.4"), an SSN's layout, a fraction
    or an ISBN. After a phone cue, dots separate groups ("Phone: 4086.6601")."""
    separators = _separators(text, groups)
    if _DATE_START.match(written.lstrip("+(")):
        return False
    sizes = [end - start for start, end in groups]
    if sizes == [3, 2, 4] and written[0] != "+" and len(set(separators)) == 1:
        return False
    if separators == ["."] and not (cued and len(_digits(text, groups)) <= 12):
        return False  # "0.381094567191384" is a decimal
    pairs = [int(text[s:e]) for s, e in groups[1:]] if set(sizes[1:]) == {2} else []
    if len(pairs) >= 4 and pairs == sorted(set(pairs)) and written[0] != "+":
        return False  # "07 10 20 33 44": drawn numbers, in order
    dotted = "." in separators and len(groups) <= 4 and all(e - s <= 3 for s, e in groups)
    if dotted and written[0] != "+":
        return False
    if any("/" in sep for sep in separators[1:]) or separators.count("/") > 1:
        return False  # "030/1234567" is a phone; "1/2/3" is not
    digits = _digits(text, groups)
    return not (len(digits) == 13 and digits[:3] in ("978", "979"))  # ISBN-13


def _written_as_phone(written: str, groups: Sequence[Span], formatted: str, region: str) -> bool:
    """Without a cue word, a national number must look like one: a trunk
    prefix ("020 7946 0958", "(0)6 12", "0232781286"), an area code in
    parentheses, or groups as the country prints them ("612 34 56 78")."""
    if written[0] == "(" or (written[0] == "0" and written[1:2] != "0"):
        return True
    sizes = [end - start for start, end in groups]
    printed = [len(part) for part in re.split(r"[^0-9]+", formatted) if part]
    north_american = region in _NANP and sizes[-3:] == [3, 3, 4]
    return len(sizes) >= 3 and (sizes == printed or north_american)


@lru_cache(maxsize=4096)
def _parsed(number: str, region: str | None, *, trunk: bool) -> str | None:
    """The number as its country prints it, or None if libphonenumber says it
    is not a valid number (for ``region`` when it has no "+"; ``trunk``: it
    must start with the region's trunk prefix). Cached: every request resends
    the conversation, and parsing costs ~0.1 ms."""
    if region is not None and not _possible_in(number, region, trunk=trunk):
        return None
    try:
        parsed = phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)


def _possible_in(number: str, region: str, *, trunk: bool) -> bool:
    """Cheap checks against the region's metadata before parsing: the length,
    and (``trunk``) the trunk prefix ("0" in the UK, France, Germany …) that
    people there write (libphonenumber accepts "1234 567890" as a UK number)."""
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    if metadata is None or metadata.general_desc is None:
        return False
    digits = "".join(ch for ch in number if ch.isdigit())
    prefix = metadata.national_prefix or ""
    lengths = metadata.general_desc.possible_length or ()
    if trunk and prefix and region not in _NANP:
        return digits.startswith(prefix) and len(digits) - len(prefix) in lengths
    national = digits[len(prefix) :] if prefix and digits.startswith(prefix) else digits
    return len(national) in lengths


# --- US Social Security numbers -------------------------------------------------

_SSN_CUES = (
    "ssn", "ssns", "ss#", "ss #", "ss no", "social security", "social-security", "soc sec",
    "socsec", "social sec",
)  # fmt: skip
# Published in advertising and voided by the SSA: not anyone's number.
_SSN_VOID = frozenset({"078051120", "219099999"})


def find_ssn(scan: _Scan) -> Iterator[Span]:
    text = scan.text
    for run in scan.numbers:
        if len(run) < 9 or not clear_before(text, run.start):
            continue
        if text[run.start - 1 : run.start] in ("+", "("):
            continue
        span = _ssn_in_run(scan, run)
        if span:
            yield span


def _ssn_in_run(scan: _Scan, run: Run) -> Span | None:
    """ddd-dd-dddd (dashes, spaces or dots) anywhere; any other writing of
    nine digits ("123456789", "1234 56 789") only next to "SSN" or "social
    security"."""
    text, groups, count = scan.text, run.groups, 0
    for j, (start, end) in enumerate(groups):
        count += end - start
        if count < 9:
            continue
        if count > 9 or (j < len(groups) - 1 and text[end] != " "):
            return None
        if j == len(groups) - 1 and not clear_after(text, end):
            return None
        window = groups[: j + 1]
        if not ssn_ok(_digits(text, window)):
            return None
        separators = _separators(text, window)
        standard = [e - s for s, e in window] == [3, 2, 4] and len(set(separators)) == 1
        lower = scan.lower
        cued = cue_before(lower, run.start, _SSN_CUES) or cue_after(lower, end, _SSN_CUES)
        if standard or cued or in_named_column(scan, run.start, end, _SSN_CUES):
            return run.start, end
        return None
    return None


def ssn_ok(number: str) -> bool:
    """Never issued: area 000, 666 and 900-999, group 00, serial 0000."""
    area, group, serial = number[:3], number[3:5], number[5:]
    if len(number) != 9 or not number.isdigit() or area in ("000", "666") or area[0] == "9":
        return False
    return group != "00" and serial != "0000" and number not in _SSN_VOID


# --- IP addresses ---------------------------------------------------------------

# "version 1.2.3.4", "v1.2.3.4", "section 8.1.2.2": numbered, not addressed.
_VERSION_BEFORE = re.compile(
    r"(?i)(?:\bversion|\brelease|\bbuild|\bfirmware|\bver\.?|\bv|\bsection|\bchapter"
    r"|\bclause|§)[\s:=#]{0,3}$"
)
# From a "::" or ":hex:" to the end of the colon chain (every repeat ends in a
# ":", so the chain is read once), with a dotted IPv4 tail ("::ffff:1.2.3.4").
_IPV6_CHAIN = re.compile(
    r":[0-9A-Fa-f]{0,4}:(?:[0-9A-Fa-f]{0,4}:)*[0-9A-Fa-f]{0,4}(?:\.[0-9]{1,3}){0,3}"
)
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


# Four dotted octets, not inside a longer dotted run ("1.2.3.4.5" is an OID or a
# version), with an optional "/24" prefix length.
_IPV4 = re.compile(
    r"[0-9](?<![\w.][0-9])[0-9]{0,2}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}(?![\w]|\.[0-9])"
    r"(?:/[0-9]{1,2}(?![\w]|[./][0-9]))?"
)


def find_ip(scan: _Scan) -> Iterator[Span]:
    text = scan.text
    if "." in text:
        for match in _IPV4.finditer(text):
            address, _, prefix = match.group().partition("/")
            if _ipv4_ok(address) and not _after_version_word(text, match.start()):
                end = match.end() if prefix and int(prefix) <= 32 else match.start() + len(address)
                yield match.start(), end
    if ":" in text:
        yield from _ipv6_spans(text)


def _after_version_word(text: str, start: int) -> bool:
    return _VERSION_BEFORE.search(text, max(0, start - 20), start) is not None


def _ipv4_ok(address: str) -> bool:
    octets = address.split(".")
    if any(len(o) > 3 or int(o) > 255 or (len(o) > 1 and o[0] == "0") for o in octets):
        return False  # leading zeros read as octal in some tools: not a plain IP
    # Loopback, "any" and broadcast say nothing about anyone's network; private
    # ranges (10/8, 192.168/16 …) do: they map an internal network.
    return octets[0] != "127" and address not in ("0.0.0.0", "255.255.255.255")


def _ipv6_spans(text: str) -> Iterator[Span]:
    """Each colon chain, from up to four hex digits before it."""
    for chain in _IPV6_CHAIN.finditer(text):
        start, end = chain.span()
        while start > max(0, chain.start() - 4) and text[start - 1] in _HEX_DIGITS:
            start -= 1
        before = text[start - 1] if start else " "
        after = text[end] if end < len(text) else " "
        if before.isalnum() or before in ":._" or after.isalnum() or after in "_:":
            continue
        if _ipv6_ok(text[start:end]):
            yield start, end


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


# --- MAC addresses --------------------------------------------------------------

# "00:1a:2b:3c:4d:5e", "00-1A-2B-3C-4D-5E", Cisco's "001a.2b3c.4d5e". Each
# starts at its first separator (rarer in prose than hex letters, so ``re``
# skips faster), the lookbehind checks the hex before it and that no longer
# hex run or colon list comes before (an SSH fingerprint has 16 pairs).
# A pattern must start with a plain character for ``re`` to skip fast: one
# pattern per separator, with no capture group in front.
_HEX = "[0-9A-Fa-f]"
_MAC_BEFORE = r"(?<![0-9A-Za-z_:\-.])"
_MAC_END = r"(?![0-9A-Za-z_]|[:\-.][0-9A-Za-z])"
_MACS = (
    (re.compile(f":(?<={_MAC_BEFORE}{_HEX}{{2}}:){_HEX}{{2}}(?::{_HEX}{{2}}){{4}}{_MAC_END}"), 2),
    (re.compile(f"-(?<={_MAC_BEFORE}{_HEX}{{2}}-){_HEX}{{2}}(?:-{_HEX}{{2}}){{4}}{_MAC_END}"), 2),
    (re.compile(rf"\.(?<={_MAC_BEFORE}{_HEX}{{4}}\.){_HEX}{{4}}\.{_HEX}{{4}}{_MAC_END}"), 4),
)


def find_mac(scan: _Scan) -> Iterator[Span]:
    text = scan.text
    for pattern, head in _MACS:
        for match in pattern.finditer(text):
            start, end = match.start() - head, match.end()
            hexes = "".join(ch for ch in text[start:end].lower() if ch not in ":-.")
            if any(ch.isdigit() for ch in hexes) and hexes not in ("0" * 12, "f" * 12):
                yield start, end
