"""Build the labelled privacy evaluation set from a seed.

    .venv/bin/python -m bench.privacy_eval.build            # writes data/set.jsonl
    .venv/bin/python -m bench.privacy_eval.build --seed 7 --scale 0.1 --out /tmp/x.jsonl

Positives: values from values.py placed in chat-like paragraphs (support
tickets, emails, HR and CRM notes, forms), CSV rows, logs, and code and
config files, some of them disguised (zero-width characters, soft hyphens,
NBSP, full-width or Arabic-Indic digits, a full-width "@"). Negatives: text
with no sensitive value: number-heavy near-misses (negatives.py), prose from
Python's own docstrings, and code that names credentials without holding one.
Every span is recorded as it is written in the text, disguise included.
"""

# Templates and generators are one text per line: easier to read than wrapped.
# ruff: noqa: E501

from __future__ import annotations

import argparse
import random
import re
import sys
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from faker import Faker
from faker.providers.address.it_IT import Provider as ItalianAddresses

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.privacy_eval import code, negatives, values
from bench.privacy_eval.common import DATA, SEED, Record, Span, split_of, write_records

LOCALES = (
    "en_US",
    "en_GB",
    "de_DE",
    "fr_FR",
    "es_ES",
    "it_IT",
    "nl_NL",
    "pl_PL",
    "pt_BR",
    "en_IN",
    "ja_JP",
    "en_CA",
    "en_AU",
    "sv_SE",
    "de_AT",
    "en_IE",
)

# --- disguises ----------------------------------------------------------------

_INVISIBLE = {"zwsp": "\u200b", "zwj": "\u200d", "wj": "\u2060", "bom": "\ufeff", "shy": "\u00ad"}
_DIGIT_CATEGORIES = frozenset({"card", "phone", "ssn", "iban", "national_id"})
_FULLWIDTH = str.maketrans("0123456789", "".join(map(chr, range(0xFF10, 0xFF1A))))
_ARABIC_INDIC = str.maketrans("0123456789", "".join(map(chr, range(0x0660, 0x066A))))


def disguise(rng: random.Random, kind: str, value: str, category: str) -> str | None:
    """The value as someone evading a filter would write it; None where the
    disguise does not apply to this value."""
    if kind in _INVISIBLE:
        inner = [i for i in range(1, len(value)) if value[i - 1].isalnum() and value[i].isalnum()]
        if len(inner) < 2 or "\n" in value:
            return None
        cuts = sorted(rng.sample(inner, min(len(inner), rng.choice((1, 2, 3)))))
        pieces = [value[a:b] for a, b in zip([0, *cuts], [*cuts, len(value)], strict=True)]
        return _INVISIBLE[kind].join(pieces)
    if kind == "nbsp":
        return value.replace(" ", "\u00a0") if " " in value.strip() else None
    if kind in ("fullwidth_digits", "arabic_indic_digits"):
        if category not in _DIGIT_CATEGORIES or sum(c.isdigit() for c in value) < 4:
            return None
        return value.translate(_FULLWIDTH if kind == "fullwidth_digits" else _ARABIC_INDIC)
    if kind == "fullwidth_at":
        return value.replace("@", "\uff20") if category == "email" else None
    return value


# --- one text being written -----------------------------------------------------


@dataclass
class Doc:
    kind: str
    locale: str
    disguise: str = "none"
    rng: random.Random = field(default_factory=random.Random)
    parts: list[str] = field(default_factory=list)
    spans: list[Span] = field(default_factory=list)
    size: int = 0

    def add(self, text: str) -> Doc:
        self.parts.append(text)
        self.size += len(text)
        return self

    def value(self, value: str, category: str, type_: str) -> Doc:
        value = value.strip()  # Faker leaves a trailing space in a few street names
        written = disguise(self.rng, self.disguise, value, category)
        applied = self.disguise if written is not None else "none"
        written = value if written is None else written
        self.spans.append(Span(self.size, self.size + len(written), category, type_, applied))
        return self.add(written)

    @property
    def text(self) -> str:
        return "".join(self.parts)


# A template is text with {fields}; each field is filled from a Person/locale
# context and labelled with its category, or written as plain filler.
_FIELD = re.compile(r"\{(\w+)\}")


def fill(doc: Doc, template: str, ctx: Context) -> None:
    cursor = 0
    for match in _FIELD.finditer(template):
        doc.add(template[cursor : match.start()])
        ctx.emit(doc, match.group(1))
        cursor = match.end()
    doc.add(template[cursor:])


# --- the people and places a text talks about -------------------------------------


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z]", "", folded.lower())


class Context:
    """One text's cast: a person, a colleague, an employer, a place, all from
    the text's locale, drawn lazily and kept so a name repeats consistently."""

    def __init__(self, rng: random.Random, fake: Faker, locale: str) -> None:
        self.rng, self.fake, self.locale = rng, fake, locale
        self.cache: dict[str, tuple[str, str | None, str]] = {}
        first, last = fake.first_name(), fake.last_name()
        self.first, self.last = first, last
        self.full = f"{last} {first}" if locale == "ja_JP" else f"{first} {last}"
        self.nid_label = "ID"
        self.colleague_first, self.colleague_last = fake.first_name(), fake.last_name()

    def emit(self, doc: Doc, name: str) -> None:
        value, category, type_ = self.get(name)
        if category is None:
            doc.add(value)
        else:
            doc.value(value, category, type_)

    def get(self, name: str) -> tuple[str, str | None, str]:
        if name not in self.cache:
            self.cache[name] = _FIELDS[name](self)
        value, category, type_ = self.cache[name]
        return value, category, type_ or ""


def _person(ctx: Context) -> tuple[str, str, str]:
    return ctx.full, "person", "person:full_name"


def _first(ctx: Context) -> tuple[str, str, str]:
    return ctx.first, "person", "person:first_name"


def _last(ctx: Context) -> tuple[str, str, str]:
    return ctx.last, "person", "person:last_name"


def _colleague(ctx: Context) -> tuple[str, str, str]:
    first, last = ctx.colleague_first, ctx.colleague_last
    full = f"{last} {first}" if ctx.locale == "ja_JP" else f"{first} {last}"
    return full, "person", "person:full_name"


def _email(ctx: Context) -> tuple[str, str, str]:
    local = f"{_ascii(ctx.first)}.{_ascii(ctx.last)}"
    if ctx.rng.random() < 0.5 and len(local) > 3:
        domain = ctx.fake.free_email_domain() if ctx.rng.random() < 0.5 else ctx.fake.domain_name()
        return f"{local}@{domain}", "email", "email:from_name"
    value, type_ = values.email(ctx.rng, ctx.fake)
    return value, "email", type_


def _phone(ctx: Context) -> tuple[str, str, str]:
    for _ in range(20):
        got = values.phone(ctx.rng, ctx.fake, ctx.locale)
        if got:
            return got[0], "phone", got[1]
    raise RuntimeError(f"no possible phone number for {ctx.locale}")


def _street(ctx: Context) -> tuple[str, str, str]:
    if ctx.locale == "ja_JP":
        return ctx.fake.address().replace("\n", " "), "address", "address:ja_JP"
    street = ctx.fake.street_address().replace("\n", ", ")
    return street, "address", f"address:{ctx.locale}"


def _city_line(ctx: Context) -> tuple[str, None, str]:
    if ctx.locale == "ja_JP":
        return "", None, ""
    fake = ctx.fake
    if ctx.locale in ("en_US", "en_CA", "en_AU"):
        state = fake.state_abbr() if hasattr(fake, "state_abbr") else ""
        return f"{_city(ctx)}, {state} {fake.postcode()}", None, ""
    if ctx.locale in ("en_GB", "en_IE", "en_IN"):
        return f"{_city(ctx)} {fake.postcode()}", None, ""
    return f"{fake.postcode()} {_city(ctx)}", None, ""


_IT_CITIES = sorted(ItalianAddresses.cities)


def _city(ctx: Context) -> str:
    """Faker's it_IT city list is built from a set, so its order changes with
    PYTHONHASHSEED: draw from it sorted instead."""
    if ctx.locale == "it_IT":
        return ctx.rng.choice(_IT_CITIES)
    return ctx.fake.city()


def _org(ctx: Context) -> tuple[str, str, str]:
    return ctx.fake.company(), "org", f"org:{ctx.locale}"


def _card(ctx: Context) -> tuple[str, str, str]:
    number, type_ = values.card_number(ctx.rng, ctx.fake)
    return values.format_card(ctx.rng, number), "card", type_


def _iban(ctx: Context) -> tuple[str, str, str]:
    locale = (
        ctx.locale if ctx.locale in values.IBAN_LOCALES else ctx.rng.choice(values.IBAN_LOCALES)
    )
    raw = values.iban(ctx.rng, _faker(locale, ctx.rng))
    return values.format_iban(ctx.rng, raw), "iban", f"iban:{raw[:2]}"


def _ssn(ctx: Context) -> tuple[str, str, str]:
    value, type_ = values.ssn(ctx.rng, _faker("en_US", ctx.rng))
    return value, "ssn", type_


def _ip(ctx: Context) -> tuple[str, str, str]:
    value, type_ = values.ip_address(ctx.rng, ctx.fake)
    return value, "ip", type_


def _mac(ctx: Context) -> tuple[str, str, str]:
    value, type_ = values.mac_address(ctx.rng, ctx.fake)
    return value, "mac", type_


def _nid(ctx: Context) -> tuple[str, str, str]:
    """A national identifier of the locale with the words people put before it."""
    ctx.nid_label, value, type_ = national_id(ctx)
    return value, "national_id", type_


def _nid_label(ctx: Context) -> tuple[str, None, str]:
    ctx.get("nid")  # draws the identifier, which decides its label
    return ctx.nid_label, None, ""


def _secret(ctx: Context) -> tuple[str, str, str]:
    _, value, type_ = values.vendor_token(ctx.rng)
    return value, "credential", type_


def _filler(make: Callable[[Context], str]) -> Callable[[Context], tuple[str, None, str]]:
    return lambda ctx: (make(ctx), None, "")


_FIELDS: dict[str, Callable[[Context], tuple[str, str | None, str]]] = {
    "name": _person,
    "first": _first,
    "last": _last,
    "colleague": _colleague,
    "email": _email,
    "phone": _phone,
    "street": _street,
    "city_line": _city_line,
    "org": _org,
    "card": _card,
    "iban": _iban,
    "ssn": _ssn,
    "ip": _ip,
    "mac": _mac,
    "nid": _nid,
    "nid_label": _nid_label,
    "secret": _secret,
    "date": _filler(lambda c: values.day(c.rng).strftime("%d.%m.%Y")),
    "amount": _filler(lambda c: f"{c.rng.randint(5, 4000)}.{c.rng.randint(0, 99):02d}"),
    "order": _filler(
        lambda c: f"{c.rng.choice(('ORD', 'SO', 'INV', '#'))}{c.rng.randint(10000, 9999999)}"
    ),
    "ticket": _filler(
        lambda c: f"{c.rng.choice(('SUP', 'HD', 'CASE'))}-{c.rng.randint(1000, 99999)}"
    ),
    "job": _filler(lambda c: c.fake.job()),
    "time": _filler(lambda c: f"{c.rng.randint(7, 19):02d}:{c.rng.randrange(0, 60, 5):02d}"),
}

_FAKERS: dict[str, Faker] = {}


def _faker(locale: str, rng: random.Random) -> Faker:
    """One Faker per locale, reseeded from the text's rng at each use so
    that every text depends on the seed and its own position only."""
    if locale not in _FAKERS:
        _FAKERS[locale] = Faker(locale)
    fake = _FAKERS[locale]
    fake.seed_instance(rng.getrandbits(32))
    return fake


# --- national identifiers by locale -------------------------------------------------


def national_id(ctx: Context) -> tuple[str, str, str]:
    """(words before it, value, type)."""
    rng, fake = ctx.rng, ctx.fake
    choices: dict[str, list[Callable[[], tuple[str, str, str]]]] = {
        "en_GB": [
            lambda: (
                rng.choice(("NI number", "National Insurance number", "NINO")),
                values.uk_nino(rng),
                "uk_nino",
            ),
            lambda: (rng.choice(("NHS number", "NHS no.")), values.uk_nhs(rng), "uk_nhs"),
            lambda: ("passport number", values.uk_passport(rng), "uk_passport"),
            lambda: (
                "driving licence number",
                values.uk_driving_licence(rng, fake),
                "uk_driving_licence",
            ),
        ],
        "en_US": [
            lambda: ("ITIN", values.us_itin_value(_faker("en_US", rng)), "us_itin"),
            lambda: ("passport no.", values.us_passport(rng), "us_passport"),
            lambda: _us_dl(rng),
            lambda: (rng.choice(("Medicare number (MBI)", "MBI")), values.us_mbi(rng), "us_mbi"),
            lambda: ("NPI", values.us_npi(rng), "us_npi"),
            lambda: (
                rng.choice(("routing number", "ABA")),
                values.us_routing(_faker("en_US", rng)),
                "us_routing",
            ),
            lambda: (
                rng.choice(("account number", "checking account #")),
                values.us_bank_account(rng),
                "us_bank_account",
            ),
        ],
        "en_CA": [
            lambda: (
                rng.choice(("SIN", "social insurance number")),
                values.ca_sin_value(_faker("en_CA", rng)),
                "ca_sin",
            )
        ],
        "fr_FR": [lambda: ("numéro de sécurité sociale", _faker("fr_FR", rng).ssn(), "fr_nir")],
        "it_IT": [lambda: ("codice fiscale", _faker("it_IT", rng).ssn(), "it_codice_fiscale")],
        "nl_NL": [lambda: ("BSN", _faker("nl_NL", rng).ssn(), "nl_bsn")],
        "pl_PL": [lambda: ("PESEL", _faker("pl_PL", rng).ssn(), "pl_pesel")],
        "pt_BR": [lambda: ("CPF", _faker("pt_BR", rng).cpf(), "br_cpf")],
        "es_ES": [lambda: (rng.choice(("DNI", "NIF")), _faker("es_ES", rng).nif(), "es_dni")],
        "de_DE": [lambda: ("Steuer-ID", values.de_tax_id(rng), "de_tax_id")],
        "en_IN": [lambda: ("Aadhaar", values.in_aadhaar(rng), "in_aadhaar")],
        "ja_JP": [lambda: ("マイナンバー", values.jp_individual_number(rng), "jp_my_number")],
    }
    options = choices.get(ctx.locale) or choices[rng.choice(("en_GB", "en_US", "en_CA"))]
    label, value, type_ = rng.choice(options)()
    return label, value, f"national_id:{type_}"


def _us_dl(rng: random.Random) -> tuple[str, str, str]:
    value, state = values.us_driver_licence(rng)
    return f"{state} driver's license", value, "us_driver_licence"


# --- texts --------------------------------------------------------------------------

PROSE = {
    "ticket": (
        "Hi, this is {name} from {org}. I can't log in since yesterday. You can reach me on {phone} or at {email}. Ticket {ticket}.",
        "Support ticket {ticket}\nCustomer: {name}\nCompany: {org}\nPhone: {phone}\nEmail: {email}\nIssue: refund for order {order} not received; card used {card}.",
        "Hello support, my name is {name} and the invoice for {order} went to the wrong address. Please send it to {street}, {city_line} instead. Thanks, {first}",
        "Customer {name} called about a double charge of {amount} on card {card}. Call back on {phone} before {time}.",
        "The refund for {first} {last} should go to IBAN {iban} (account holder {name}). Confirmation to {email} please.",
        "User reports the router with MAC {mac} drops off the network; it was last seen at {ip}. Contact: {name}, {phone}.",
        "{first} here again - the VPN gives me {ip} but the portal blocks me. Could {colleague} from IT look at it? My extension is {phone}.",
    ),
    "email": (
        "Dear {name},\n\nthank you for your order {order}. We will ship it to {street}, {city_line}. If anything is wrong, reply to this email or call {phone}.\n\nKind regards,\n{colleague}\n{org}",
        "Hi {first},\n\nas discussed, please transfer the deposit of {amount} EUR to {iban}. The contract with {org} is attached.\n\nBest,\n{colleague}",
        "From: {email}\nTo: Billing\nSubject: card change\n\nPlease charge my new card {card} from now on. {name}",
        "Hello {colleague},\n\n{name} ({email}) starts on Monday at our {street} office. Her {nid_label} is {nid} for payroll.\n\nThanks",
        "Good morning,\n\nI'm {name}, {job} at {org}. Could you call me back on {phone}? I'd like to discuss the renewal.\n\n{first}",
    ),
    "hr": (
        "HR note {date}: {name} ({job}) moved to {street}, {city_line}. New phone {phone}. {nid_label}: {nid}.",
        "Onboarding checklist for {name}\n- {nid_label}: {nid}\n- salary account: {iban}\n- personal email: {email}\n- emergency contact: {colleague}, {phone}",
        "Employee {name} (SSN {ssn}) asked to update the direct deposit to {iban}. Approved by {colleague}.",
        "Reference check: {colleague} worked with {name} at {org} for three years and recommends her warmly.",
        "Sick leave: {first} {last} until {date}. Manager {colleague} informed. Home address {street}.",
    ),
    "crm": (
        "Met {name} ({job}, {org}) at the trade fair. Interested in the enterprise plan. Follow up at {email} / {phone}.",
        "Account: {org}\nContact: {name}\nBilling address: {street}, {city_line}\nVAT invoice to {email}",
        "Call log {date} {time}: spoke with {first} from {org}; she wants a demo next week. Her colleague {colleague} decides on budget.",
        "Lead from {org} - {name} asked us to quote 40 seats. Phone {phone}.",
        "{org} signed today. Main contact {name}, deputy {colleague}. Payments from {iban}.",
    ),
    "chat": (
        "hey can you send the package to {name}, {street} {city_line}? thx",
        "my ssn is {ssn} and my card is {card}, why was the payment declined??",
        "{first} said the new server is on {ip}, mac {mac}, can you whitelist it",
        "ping me on {phone} or {email} if the build breaks again - {first}",
        "do you know {colleague}? she used to work at {org} with {name}",
        "my {nid_label} is {nid}, is that what the form needs?",
    ),
    "form": (
        "Name: {name}\nDate of birth: {date}\nAddress: {street}, {city_line}\nPhone: {phone}\nEmail: {email}\n{nid_label}: {nid}",
        "Full name: {name}\nEmployer: {org}\nCard number: {card}\nExpiry: 0{expiry}/29\nBilling phone: {phone}",
        "Applicant: {name}\nSSN: {ssn}\nCurrent address: {street}, {city_line}\nBank (IBAN): {iban}",
        "Device registration\nOwner: {name}\nMAC address: {mac}\nAssigned IP: {ip}\nContact: {email}",
    ),
}
_FIELDS["expiry"] = _filler(lambda c: str(c.rng.randint(1, 9)))

# Short notes in the locale's own language, so names sit in real surroundings.
LOCAL_PROSE = {
    "de_DE": (
        "Hallo {first},\nbitte überweise die Kaution auf {iban}. Bei Fragen erreichst du mich unter {phone}.\nViele Grüße\n{colleague}",
        "Rückrufbitte: {name} von {org} hat angerufen, Telefon {phone}. Lieferadresse: {street}, {city_line}.",
        "Neue Mitarbeiterin {name}, Steuer-ID {nid}, wohnt in der {street}.",
    ),
    "de_AT": (
        "Sehr geehrte Frau {last},\nIhre Bestellung {order} geht an {street}, {city_line}. Bei Rückfragen: {phone}.\nMit freundlichen Grüßen\n{colleague}",
    ),
    "fr_FR": (
        "Bonjour {first},\nmerci de virer le montant sur {iban}. Vous pouvez me joindre au {phone}.\nCordialement,\n{colleague}, {org}",
        "Client : {name}\nAdresse : {street}, {city_line}\nNuméro de sécurité sociale : {nid}",
    ),
    "es_ES": (
        "Hola {first}, soy {colleague} de {org}. Te envío la factura a {email}. Mi móvil es {phone}.",
        "Cliente: {name}, DNI {nid}, domicilio {street}, {city_line}.",
    ),
    "it_IT": (
        "Gentile {name},\nla consegna è prevista in {street}, {city_line}. Per informazioni chiami il {phone}.\nCordiali saluti,\n{org}",
    ),
    "nl_NL": (
        "Beste {first},\nwil je het bedrag overmaken naar {iban}? Bel me gerust op {phone}.\nGroet,\n{colleague}",
    ),
    "pl_PL": (
        "Dzień dobry, nazywam się {name}, PESEL {nid}. Proszę o kontakt pod numerem {phone}.",
    ),
    "pt_BR": (
        "Olá {first}, o boleto foi enviado para {email}. Meu CPF é {nid} e o telefone {phone}. Abraço, {colleague}",
    ),
    "sv_SE": (
        "Hej {first}! Paketet skickas till {street}, {city_line}. Ring mig på {phone}. /{colleague}",
    ),
    "ja_JP": (
        "{name}様\nご注文{order}は{street}へお届けします。お問い合わせは{phone}までお願いします。\n{org}",
        "担当：{name}（{org}）\nメール：{email}\n電話：{phone}",  # noqa: RUF001
    ),
}


def prose_doc(doc: Doc, ctx: Context) -> None:
    kinds = [*PROSE] + (["local"] * 2 if ctx.locale in LOCAL_PROSE else [])
    kind = ctx.rng.choice(kinds)
    templates = LOCAL_PROSE[ctx.locale] if kind == "local" else PROSE[kind]
    doc.kind = f"prose:{kind}"
    fill(doc, ctx.rng.choice(templates), ctx)


def csv_doc(doc: Doc, ctx: Context, make_ctx: Callable[[], Context]) -> None:
    doc.kind = "csv"
    columns = ctx.rng.choice(
        (
            ("name", "email", "phone"),
            ("name", "street", "phone", "card"),
            ("name", "org", "email", "iban"),
            ("name", "ssn", "street"),
            ("name", "email", "ip"),
        )
    )
    doc.add("id," + ",".join(columns) + "\n")
    for row in range(ctx.rng.randint(2, 5)):
        person = make_ctx() if row else ctx
        doc.add(f"{ctx.rng.randint(1000, 99999)}")
        for column in columns:
            doc.add(',"' if column in ("street", "org", "name") else ",")
            person.emit(doc, column)
            doc.add('"' if column in ("street", "org", "name") else "")
        doc.add("\n")


_LOG_LINES = (
    "{ts} INFO  auth: login succeeded user={email} src={ip}\n",
    "{ts} WARN  dhcp: lease renewed for {mac} -> {ip}\n",
    "{ts} ERROR payment: charge failed card={card} amount={amount}\n",
    '{ts} INFO  crm: contact updated name="{name}" phone={phone}\n',
    "{ts} DEBUG net: connection from {ip} (client {mac})\n",
    "{ts} INFO  mail: delivered to {email} in 412ms\n",
)


def log_doc(doc: Doc, ctx: Context, make_ctx: Callable[[], Context]) -> None:
    doc.kind = "log"
    for index in range(ctx.rng.randint(2, 5)):
        person = make_ctx() if index else ctx
        stamp = values.moment(ctx.rng).isoformat(timespec="milliseconds") + "Z"
        person.cache["ts"] = (stamp, None, "")
        fill(doc, ctx.rng.choice(_LOG_LINES), person)


def code_doc(doc: Doc, ctx: Context) -> None:
    doc.kind = code.write(doc, ctx.rng, negative=False)


def nid_doc(doc: Doc, ctx: Context) -> None:
    doc.kind = "prose:identifier"
    templates = (
        "{nid_label}: {nid}",
        "Please verify {name}'s {nid_label} {nid} before approving.",
        "Patient {name}, {nid_label} {nid}, seen on {date}.",
        "{nid_label} of the applicant: {nid}\nName: {name}",
        "Can you check whether {nid} is the right {nid_label} for {first}?",
    )
    fill(doc, ctx.rng.choice(templates), ctx)


# --- the whole set ------------------------------------------------------------------

# (kind, texts at scale 1)
PLAN = (("prose", 2600), ("nid", 700), ("csv", 250), ("log", 300), ("code", 1300))
NEGATIVE_PLAN = (("numbers", 900), ("prose", 500), ("code", 400))
DISGUISE_SHARE = 0.25
# Digit and "@" disguises apply to fewer values, so they are drawn more often.
_DISGUISE_DRAW = (
    ("zwsp", "zwj", "wj", "bom", "shy", "nbsp")
    + ("fullwidth_digits", "arabic_indic_digits") * 2
    + ("fullwidth_at",) * 3
)


def build(seed: int = SEED, scale: float = 1.0) -> list[Record]:
    _FAKERS.clear()
    rng = random.Random(seed)
    records: list[Record] = []
    for kind, count in PLAN:
        for index in range(max(1, round(count * scale))):
            text_rng = random.Random(rng.getrandbits(64))
            records.append(_positive(f"{kind}-{index:05d}", kind, text_rng))
    for kind, count in NEGATIVE_PLAN:
        for index, text in enumerate(negatives.make(kind, rng, max(1, round(count * scale)))):
            text_id = f"neg-{kind}-{index:05d}"
            records.append(
                Record(text_id, f"negative:{kind}", "", "none", text, [], split_of(text_id))
            )
    return records


def _positive(text_id: str, kind: str, rng: random.Random) -> Record:
    locale = rng.choice(LOCALES)
    style = "none"
    if rng.random() < DISGUISE_SHARE:
        style = rng.choice(_DISGUISE_DRAW)
    doc = Doc(kind, locale, style, rng)

    def make_ctx() -> Context:
        return Context(rng, _faker(locale, rng), locale)

    ctx = make_ctx()
    if kind == "prose":
        prose_doc(doc, ctx)
    elif kind == "nid":
        nid_doc(doc, ctx)
    elif kind == "csv":
        csv_doc(doc, ctx, make_ctx)
    elif kind == "log":
        log_doc(doc, ctx, make_ctx)
    else:
        code_doc(doc, ctx)
    text = doc.text
    applied = style if any(span.disguise != "none" for span in doc.spans) else "none"
    return Record(text_id, doc.kind, locale, applied, text, doc.spans, split_of(text_id))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the full set")
    parser.add_argument("--out", type=Path, default=DATA)
    args = parser.parse_args()
    records = build(args.seed, args.scale)
    write_records(records, args.out)
    print(f"{len(records)} texts -> {args.out}")


if __name__ == "__main__":
    main()
