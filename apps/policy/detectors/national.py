"""National identifier packs (UK, US, EU, CA): off by default, switched on
per organisation in the policy console. Pure functions of the text.

Each identifier is a shape (a linear regex), a validator (python-stdnum's
checksums where the identifier has one: NHS mod 11, SIN Luhn, routing
numbers, the German IdNr, the French NIR's key, Spanish and Italian check
letters, the Dutch 11-test, PESEL) and a rule for context words:

* ``never``: the shape and check are proof enough ("AB 12 34 56 C",
  "12345678Z", "RSSMRA85T10A562S");
* ``unless_grouped``: digits written in the identifier's usual groups
  ("046 454 286") stand alone; a bare digit run needs a cue word before it,
  as a mod-10 or mod-11 check lets one random number in ten through;
* ``always``: no checksum (passports, driving licences, bank accounts) or a
  bare number with a weak one: only right after a cue word ("passport",
  "routing number", "BSN").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from stdnum import luhn
from stdnum.br import cnpj as br_cnpj
from stdnum.br import cpf as br_cpf
from stdnum.ca import sin as ca_sin
from stdnum.de import idnr as de_idnr
from stdnum.es import dni as es_dni
from stdnum.es import nie as es_nie
from stdnum.fr import nir as fr_nir
from stdnum.gb import nhs as gb_nhs
from stdnum.in_ import aadhaar as in_aadhaar
from stdnum.in_ import pan as in_pan
from stdnum.it import codicefiscale as it_codicefiscale
from stdnum.jp import in_ as jp_in
from stdnum.nl import bsn as nl_bsn
from stdnum.pl import pesel as pl_pesel
from stdnum.us import itin as us_itin
from stdnum.us import rtn as us_rtn

from .numbers import cue_after, cue_before

if TYPE_CHECKING:
    from apps.policy.classification import _Scan

Span = tuple[int, int]
Finder = Callable[["_Scan"], Iterator[Span]]


@dataclass(frozen=True)
class _Identifier:
    description: str
    shape: re.Pattern[str]
    valid: Callable[[str], bool]  # on the value without spaces, dashes and dots
    context: str  # "never", "unless_grouped" or "always"
    cues: tuple[str, ...] = ()


def _word(first: str, rest: str) -> re.Pattern[str]:
    """A whole word starting with the class ``first``: the lookbehind after
    the first character (not before it) lets ``re`` skip to candidates fast."""
    return re.compile(
        rf"{first}(?<![A-Za-z0-9_]{first}){rest}(?![A-Za-z0-9_]|[.\-][A-Za-z0-9])",
    )


def _digits(n: int, sep: str = "[ -]?") -> str:
    """``n`` digits (the first one excluded) with optional separators."""
    return f"(?:{sep}[0-9]){{{n}}}"


def _compact(value: str) -> str:
    return "".join(ch for ch in value if ch.isalnum()).upper()


def _stdnum(module: object) -> Callable[[str], bool]:
    return lambda value: bool(module.is_valid(value))  # type: ignore[attr-defined]


def _not_repeated(value: str) -> bool:
    return len(set(value.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))) > 1  # "000000000", "A11111111"


# --- UK -----------------------------------------------------------------------------

# HMRC: neither letter D, F, I, Q, U, V; the second not O; these pairs never issued.
_NINO_NEVER = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})


def _nino_ok(value: str) -> bool:
    prefix = value[:2]
    return prefix[0] not in "DFIQUV" and prefix[1] not in "DFIQUVO" and prefix not in _NINO_NEVER


def _uk_licence_ok(value: str) -> bool:
    """DVLA: surname (5), decade digit, month (+50 for women), day, year digit, …"""
    month, day = int(value[6:8]), int(value[8:10])
    return (1 <= month <= 12 or 51 <= month <= 62) and 1 <= day <= 31


_LICENCE_CUES = (
    "driving licence", "driving license", "driver's license", "driver\u2019s license",
    "drivers license", "driver license", "driver's licence", "licence", "license", "dl", "dl#",
    "dln", "dvla",
)  # fmt: skip
_PASSPORT_CUES = ("passport", "passport no", "passport number", "passport #")

UK = {
    "uk_nino": _Identifier(
        "UK National Insurance numbers (AB 12 34 56 C; HMRC's prefix rules)",
        _word("[A-Z]", r"[A-Z] ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-D]"),
        _nino_ok,
        "never",
    ),
    "uk_nhs": _Identifier(
        "UK NHS numbers (943 476 5919; mod-11 check)",
        _word("[0-9]", r"[0-9]{2}[ -]?[0-9]{3}[ -]?[0-9]{4}"),
        _stdnum(gb_nhs),
        "unless_grouped",
        ("nhs", "nhs number", "nhs no"),
    ),
    "uk_passport": _Identifier(
        "UK passport numbers (9 digits) after 'passport'",
        _word("[0-9]", r"[0-9]{8}"),
        _not_repeated,
        "always",
        _PASSPORT_CUES,
    ),
    "uk_driving_licence": _Identifier(
        "UK driving licence numbers (MORGA657054SM9IJ) after 'driving licence'",
        _word("[A-Z9]", r"[A-Z9]{4} ?[0-9]{6} ?[A-Z9]{2}[0-9][A-Z]{2}"),
        _uk_licence_ok,
        "always",
        _LICENCE_CUES,
    ),
}

# --- US -----------------------------------------------------------------------------

_MBI_LETTER = "[AC-HJKMNP-RT-Y]"  # no S, L, O, I, B, Z
_MBI_ALNUM = "[AC-HJKMNP-RT-Y0-9]"


def _npi_ok(value: str) -> bool:
    return value[0] in "12" and luhn.is_valid("80840" + value)


def _bank_account_ok(value: str) -> bool:
    return 6 <= len(value) <= 17 and _not_repeated(value)


US = {
    "us_itin": _Identifier(
        "US ITINs (9XX-7X-XXXX; IRS group ranges)",
        _word("9", _digits(2, "") + "[ -]?[0-9]{2}[ -]?[0-9]{4}"),
        _stdnum(us_itin),
        "unless_grouped",
        ("itin", "taxpayer identification", "tin"),
    ),
    "us_passport": _Identifier(
        "US passport numbers (9 digits, or a letter and 8) after 'passport'",
        _word("[A-Z0-9]", r"[0-9]{8}"),
        _not_repeated,
        "always",
        _PASSPORT_CUES,
    ),
    "us_driver_licence": _Identifier(
        "US driver's licence numbers (state formats) after 'driver's license', 'DL'",
        # a letter and up to 14 digits (FL, NJ, IL …), digits only, or Washington's
        # older "WDL" and eight letters or digits
        _word("[A-Z0-9]", r"(?:[A-Z]?(?:[ -]?[0-9]){5,14}|DL[A-Z0-9*]{8})"),
        lambda value: (
            value.startswith("WDL")
            or (sum(ch.isdigit() for ch in value) >= 6 and _not_repeated(value))
        ),
        "always",
        _LICENCE_CUES,
    ),
    "us_mbi": _Identifier(
        "US Medicare Beneficiary Identifiers (1EG4-TE5-MK73)",
        _word(
            "[1-9]",
            f"{_MBI_LETTER}{_MBI_ALNUM}[0-9]-?{_MBI_LETTER}{_MBI_ALNUM}[0-9]-?"
            f"{_MBI_LETTER}{{2}}[0-9]{{2}}",
        ),
        lambda value: True,
        "unless_grouped",
        ("mbi", "medicare", "beneficiary"),
    ),
    "us_npi": _Identifier(
        "US National Provider Identifiers (10 digits, Luhn) after 'NPI'",
        _word("[12]", r"[0-9]{9}"),
        _npi_ok,
        "always",
        ("npi", "national provider", "provider id"),
    ),
    "us_aba_routing": _Identifier(
        "US ABA routing numbers (9 digits, checksum) after 'routing', 'ABA'",
        _word("[0-9]", r"[0-9]{8}"),
        _stdnum(us_rtn),
        "always",
        ("routing", "routing number", "aba", "rtn", "transit", "routing no"),
    ),
    "us_bank_account": _Identifier(
        "Bank account numbers (6-17 digits) after 'account number', 'acct'",
        _word("[0-9]", r"(?:[ -]?[0-9]){5,16}"),
        _bank_account_ok,
        "always",
        (
            "account number",
            "account no",
            "account #",
            "acct",
            "acct no",
            "bank account",
            "checking account",
            "savings account",
            "a/c",
        ),
    ),
}

# --- Canada -------------------------------------------------------------------------

CA = {
    "ca_sin": _Identifier(
        "Canadian Social Insurance Numbers (046 454 286; Luhn)",
        _word("[0-9]", r"[0-9]{2}[ -]?[0-9]{3}[ -]?[0-9]{3}"),
        _stdnum(ca_sin),
        "unless_grouped",
        ("sin", "social insurance", "nas", "assurance sociale"),
    ),
}

# --- EU -----------------------------------------------------------------------------

_CF_DIGIT = "[0-9LMNP-V]"  # Italian codes replace digits by letters for homonyms

EU = {
    "de_tax_id": _Identifier(
        "German tax IDs (Steuer-IdNr, 11 digits, ISO 7064 check)",
        _word("[0-9]", r"[0-9] ?[0-9]{3} ?[0-9]{3} ?[0-9]{3}"),
        _stdnum(de_idnr),
        "unless_grouped",
        (
            "steuer-id",
            "steuerid",
            "steuer id",
            "idnr",
            "identifikationsnummer",
            "tax id",
            "steueridentifikationsnummer",
            "tin",
        ),
    ),
    "fr_nir": _Identifier(
        "French social security numbers (NIR, 15 characters, mod-97 key)",
        _word("[12]", r" ?[0-9]{2} ?[0-9]{2} ?(?:[0-9]{2}|2[ABab]) ?[0-9]{3} ?[0-9]{3} ?[0-9]{2}"),
        _stdnum(fr_nir),
        "never",
    ),
    "es_dni": _Identifier(
        "Spanish DNI (12345678Z) and NIE (X1234567L) numbers, check letter",
        _word("[0-9XYZ]", r"-?[0-9]{7}-? ?[A-Z]"),
        lambda value: bool(es_dni.is_valid(value) or es_nie.is_valid(value)),
        "never",
    ),
    "it_fiscal_code": _Identifier(
        "Italian fiscal codes (codice fiscale, 16 characters, check letter)",
        _word(
            "[A-Z]",
            f"[A-Z]{{5}}{_CF_DIGIT}{{2}}[A-EHLMPR-T]{_CF_DIGIT}{{2}}[A-Z]{_CF_DIGIT}{{3}}[A-Z]",
        ),
        _stdnum(it_codicefiscale),
        "never",
    ),
    "nl_bsn": _Identifier(
        "Dutch citizen service numbers (BSN, 9 digits, 11-test) after 'BSN'",
        _word("[0-9]", r"[0-9]{3}\.?[0-9]{2}\.?[0-9]{3}"),
        _stdnum(nl_bsn),
        "always",
        ("bsn", "burgerservicenummer", "sofinummer", "sofi"),
    ),
    "pl_pesel": _Identifier(
        "Polish PESEL numbers (11 digits, birth date and check digit) after 'PESEL'",
        _word("[0-9]", r"[0-9]{10}"),
        _stdnum(pl_pesel),
        "always",
        ("pesel",),
    ),
}

# --- Brazil, India, Japan ---------------------------------------------------------


BR = {
    "br_cpf": _Identifier(
        "Brazilian CPF numbers (123.456.789-09; two check digits)",
        _word("[0-9]", r"[0-9]{2}\.?[0-9]{3}\.?[0-9]{3}-?[0-9]{2}"),
        _stdnum(br_cpf),
        "unless_grouped",
        ("cpf", "cadastro de pessoas"),
    ),
    "br_cnpj": _Identifier(
        "Brazilian CNPJ numbers (12.345.678/0001-95; two check digits)",
        _word("[0-9]", r"[0-9]\.?[0-9]{3}\.?[0-9]{3}/?[0-9]{4}-?[0-9]{2}"),
        _stdnum(br_cnpj),
        "unless_grouped",
        ("cnpj",),
    ),
}
IN = {
    "in_aadhaar": _Identifier(
        "Indian Aadhaar numbers (2345 6789 0123; Verhoeff check)",
        _word("[2-9]", r"[0-9]{3}[ -]?[0-9]{4}[ -]?[0-9]{4}"),
        _stdnum(in_aadhaar),
        "unless_grouped",
        ("aadhaar", "aadhar", "uidai", "uid", "\u0906\u0927\u093e\u0930"),
    ),
    "in_pan": _Identifier(
        "Indian PAN numbers (ABCPE1234F; holder-type letter)",
        _word("[A-Z]", r"[A-Z]{4}[0-9]{4}[A-Z]"),
        _stdnum(in_pan),  # the fourth letter says who holds it (P a person, C a company …)
        "always",
        ("pan", "permanent account number", "pan card", "pan no"),
    ),
}
JP = {
    "jp_my_number": _Identifier(
        "Japanese My Number (Individual Number, 12 digits, check digit) after 'マイナンバー'",
        _word("[0-9]", r"[0-9]{3}[ -]?[0-9]{4}[ -]?[0-9]{4}"),
        _stdnum(jp_in),
        "always",
        (
            "\u30de\u30a4\u30ca\u30f3\u30d0\u30fc",
            "\u500b\u4eba\u756a\u53f7",
            "my number",
            "mynumber",
            "individual number",
        ),
    ),
}

IDENTIFIERS: dict[str, _Identifier] = {**UK, **US, **CA, **EU, **BR, **IN, **JP}
PACKS: dict[str, tuple[str, ...]] = {
    "uk": tuple(UK),
    "us": tuple(US),
    "eu": tuple(EU),
    "ca": tuple(CA),
    "br": tuple(BR),
    "in": tuple(IN),
    "jp": tuple(JP),
}
DESCRIPTIONS: dict[str, str] = {name: ident.description for name, ident in IDENTIFIERS.items()}


def _find(identifier: _Identifier, scan: _Scan) -> Iterator[Span]:
    if identifier.context == "always" and not any(cue in scan.lower for cue in identifier.cues):
        return  # str.find in C: most texts hold none of the words
    text = scan.text
    for match in identifier.shape.finditer(text):
        value = match.group()
        if _inside_longer_number(text, *match.span()) or not identifier.valid(_compact(value)):
            continue
        grouped = any(not ch.isalnum() for ch in value)
        needs_cue = identifier.context == "always" or (
            identifier.context == "unless_grouped" and not grouped
        )
        if not needs_cue or _cued(scan.lower, *match.span(), identifier.cues):
            yield match.span()


def _inside_longer_number(text: str, start: int, end: int) -> bool:
    """Digit groups that continue on either side ("DE89 3704 0044 0532 0130 00",
    "+55 85 6989-5949 …") belong to a longer number: an IBAN, a card, a phone."""
    before = text[max(0, start - 2) : start]
    after = text[end : end + 2]
    return (len(before) == 2 and before[0].isdigit() and before[1] in " -") or (
        len(after) == 2 and after[0] in " -" and after[1].isdigit()
    )


def _cued(lower: str, start: int, end: int, cues: tuple[str, ...]) -> bool:
    """A cue word just before, or just after ("… 698712055 is the right BSN")."""
    return cue_before(lower, start, cues) or cue_after(lower, end, cues)


def _finder(identifier: _Identifier) -> Finder:
    def find(scan: _Scan) -> Iterator[Span]:
        return _find(identifier, scan)

    return find


FINDERS: dict[str, Finder] = {name: _finder(ident) for name, ident in IDENTIFIERS.items()}
