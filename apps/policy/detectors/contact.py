"""Email addresses and IBANs. Pure functions of the text; see docs/classification.md."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from stdnum import iban as stdnum_iban
from stdnum.exceptions import ValidationError

if TYPE_CHECKING:
    from apps.policy.classification import _Scan

Span = tuple[int, int]

# --- email ------------------------------------------------------------------------

# Anchored on the "@" so the engine skips straight to candidates; the local
# part is then walked back by hand (a regex cannot search backwards). Labels
# may be Unicode ("bücher.de", "пример.рф") or punycode ("xn--bcher-kva.de");
# a top-level domain is letters, or punycode ("xn--p1ai").
_EMAIL_DOMAIN = re.compile(
    r"@(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+([^\W\d_]{2,63}|[Xx][Nn]--[A-Za-z0-9-]{1,59})(?![\w-])"
)
# RFC 5322's "atext" less the characters prose puts around addresses ("'",
# "/", "=", "{", "}", "|", "`", "!", "?", "#", "^", "~", "*", "&", "$"), plus
# any Unicode letter or digit (RFC 6531).
_LOCAL_SYMBOLS = frozenset("._%+-")
# File names like "icon@2x.png" are shaped like addresses; no TLD is an image type.
_NOT_TLDS = frozenset({"png", "jpg", "jpeg", "gif", "svg", "webp", "bmp", "ico", "tif", "tiff"})


def find_email(scan: _Scan) -> Iterator[Span]:
    text = scan.text
    if "@" not in text:
        return
    for match in _EMAIL_DOMAIN.finditer(text):
        start = _local_part_start(text, match.start())
        if start is None or match.group(1).lower() in _NOT_TLDS:
            continue
        if not _in_url_authority(text, start):
            yield start, match.end()


def _local_char(ch: str) -> bool:
    return ch in _LOCAL_SYMBOLS or ch.isalnum()


def _local_part_start(text: str, at: int) -> int | None:
    start, floor = at, max(0, at - 65)
    while start > floor and _local_char(text[start - 1]):
        start -= 1
    local = text[start:at]
    if start > 0 and _local_char(text[start - 1]):
        return None  # longer than 64 characters: not an address
    if not local or local[0] == "." or local[-1] == "." or ".." in local:
        return None
    return start


def _in_url_authority(text: str, start: int) -> bool:
    """ "https://bob:pw@host" holds a user and a password, not an address."""
    scheme_end = text.rfind("://", max(0, start - 256), start)
    between = text[scheme_end + 3 : start]
    return scheme_end >= 0 and not any(ch.isspace() or ch == "/" for ch in between)


# --- IBAN -------------------------------------------------------------------------

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
# Two letters and two check digits at the start of a word, in either case.
_IBAN_START = re.compile(r"[0-9](?<=(?<![A-Za-z0-9])[A-Za-z]{2}[0-9])[0-9]")
_IBAN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")


def find_iban(scan: _Scan) -> Iterator[Span]:
    text = scan.text
    for match in _IBAN_START.finditer(text):
        start = match.start() - 2
        length = _IBAN_LENGTHS.get(text[start : start + 2].upper())
        end = _iban_end(text, start, length) if length else None
        if end is not None and iban_ok(text[start:end]):
            yield start, end


def _iban_end(text: str, start: int, length: int) -> int | None:
    """Where an IBAN of this length starting here ends: exactly ``length``
    letters and digits, with single spaces or dashes between any of them
    (people group by four, by three, or not at all), then a word boundary."""
    count, i, n = 0, start, len(text)
    while count < length:
        if i < n and text[i] in _IBAN_CHARS:
            count, i = count + 1, i + 1
        elif count and i + 1 < n and text[i] in " -" and text[i + 1] in _IBAN_CHARS:
            i += 1
        else:
            return None
    return None if i < n and (text[i].isalnum() or text[i] == "_") else i


def iban_ok(written: str) -> bool:
    """mod-97 and the country's BBAN format (letters and digits where the
    SWIFT registry puts them), by python-stdnum; not the national account
    checksums, which generated test data (and some banks' examples) fail."""
    compact = "".join(ch for ch in written if ch.isalnum()).upper()
    if not 2 <= int(compact[2:4]) <= 98:
        return False
    try:
        stdnum_iban.validate(compact, check_country=False)
    except ValidationError:
        return False
    return True
