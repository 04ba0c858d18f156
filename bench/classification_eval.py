"""Precision, recall and speed of the data classifier, on a labelled
synthetic set built here from a fixed seed (no data files, no Django).

    .venv/bin/python bench/classification_eval.py

For each detector the set holds positives in varied wording and near-misses
that a careless detector would flag: card numbers failing Luhn, IBANs failing
mod-97, never-issued SSNs, random 16-digit numbers, version strings, UUIDs,
git SHAs, "password" in prose, malformed emails and so on. A finding counts as
a true positive when it overlaps a labelled span of the same label.

Prints a markdown table and the timing of a 4 KB and a 200 KB prompt; writes
both to bench/results/classification_eval.json.

    .venv/bin/python bench/classification_eval.py --corpus DIR

instead counts findings in real, unlabelled text files under DIR.
"""

from __future__ import annotations

import base64
import json
import platform
import random
import statistics
import string
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from apps.policy.classification import Classifier, CustomDetector  # noqa: E402

SEED = 20261115
LABELS = ("EMAIL", "PHONE", "CARD", "IBAN", "SSN", "IP", "SECRET", "PERSON", "ADDRESS")
STRUCTURED = ("EMAIL", "CARD", "IBAN", "SSN", "SECRET")
RESULTS = ROOT / "bench" / "results" / "classification_eval.json"

B62 = string.ascii_letters + string.digits
HEX = "0123456789abcdef"

# --- building labelled samples ------------------------------------------------


@dataclass
class Sample:
    kind: str  # what the sample tests, e.g. "card: luhn fails"
    text: str = ""
    gold: list[tuple[str, int, int]] = field(default_factory=list)

    def add(self, piece: str, label: str | None = None) -> Sample:
        if label:
            self.gold.append((label, len(self.text), len(self.text) + len(piece)))
        self.text += piece
        return self


def sample(kind: str, template: str, value: str, label: str | None) -> Sample:
    """``template`` holds one "{}" where ``value`` goes."""
    before, after = template.split("{}")
    return Sample(kind).add(before).add(value, label).add(after)


def positives(
    rng: random.Random, label: str, kind: str, values: list[str], templates: list[str]
) -> list[Sample]:
    return [sample(f"{label.lower()}: {kind}", rng.choice(templates), v, label) for v in values]


def negatives(
    rng: random.Random, kind: str, values: list[str], templates: list[str]
) -> list[Sample]:
    return [sample(f"near-miss: {kind}", rng.choice(templates), v, None) for v in values]


def rand(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def digits(rng: random.Random, n: int) -> str:
    return rand(rng, string.digits, n)


# --- email --------------------------------------------------------------------

FIRST = [
    "jane",
    "john",
    "maria",
    "li",
    "ahmed",
    "olga",
    "sam",
    "priya",
    "lucas",
    "emma",
    "noah",
    "yuki",
]
LAST = [
    "smith",
    "garcia",
    "mueller",
    "chen",
    "okafor",
    "rossi",
    "kowalski",
    "dubois",
    "tanaka",
    "silva",
]
DOMAINS = [
    "example.com",
    "corp.example",
    "mail.co.uk",
    "uni-heidelberg.de",
    "acme.io",
    "gmail.com",
    "sub.domain.example.org",
    "startup.ai",
    "b.io",
    "x-y.travel",
]


def email_samples(rng: random.Random) -> list[Sample]:
    def address() -> str:
        f, last = rng.choice(FIRST), rng.choice(LAST)
        local = rng.choice(
            [
                f"{f}.{last}",
                f"{f}_{last}{rng.randint(1, 99)}",
                f"{f[0]}{last}",
                f"{f}+news",
                f"{f}.{last}-{digits(rng, 2)}",
                f"{f}%x",
            ]
        )
        return f"{local}@{rng.choice(DOMAINS)}"

    templates = [
        "Contact me at {}.",
        "Send the invoice to <{}> today",
        "email: {}",
        '{"user": {"email": "{}"}}',
        "cc {} and the team",
        "mailto:{}",
        "({})",
        "Reply to {}, thanks!",
        "From the log: user={} failed login",
    ]
    near = [
        "user@localhost",
        "john..doe@example.com",
        "john.@example.com",
        ".john@example.com",
        "jane@example",
        "jane@-example.com",
        "jane@example.c",
        "@property",
        "@scope/pkg",
        "jane @ example.com",
        "jane(at)example.com",
        "example.com",
        "icon@2x.png",
        "@jane on Mastodon",
        "a@b",
        "price@ 5 EUR",
        "git@",
        "https://bob@git.example.com/r.git",
    ]
    near_templates = ["Check {} in the code", "We saw {} in the config", "value: {}", "{}"]
    return positives(
        rng, "EMAIL", "address", [address() for _ in range(300)], templates
    ) + negatives(rng, "email", near * 4, near_templates)


# --- phone --------------------------------------------------------------------


def phone_samples(rng: random.Random) -> list[Sample]:
    def nanp() -> tuple[str, str, str]:
        return (
            f"{rng.randint(2, 9)}{digits(rng, 2)}",
            f"{rng.randint(2, 9)}{digits(rng, 2)}",
            digits(rng, 4),
        )

    def intl() -> str:
        a, b, c = nanp()
        return rng.choice(
            [
                f"+44 20 {digits(rng, 4)} {digits(rng, 4)}",
                f"+44 7700 {digits(rng, 6)}",
                f"+1 ({a}) {b}-{c}",
                f"+1-{a}-{b}-{c}",
                f"+49 30 {digits(rng, 7)}",
                f"+33 1 {digits(rng, 2)} {digits(rng, 2)} {digits(rng, 2)} {digits(rng, 2)}",
                f"+81 3-{digits(rng, 4)}-{digits(rng, 4)}",
                f"+61 2 {digits(rng, 4)} {digits(rng, 4)}",
                f"0049 30 {digits(rng, 6)}",
                f"0033 6 {digits(rng, 2)} {digits(rng, 2)} {digits(rng, 2)} {digits(rng, 2)}",
                f"+1{a}{b}{c}",
                f"+44 (0)20 {digits(rng, 4)} {digits(rng, 4)}",
                f"+91 {digits(rng, 5)} {digits(rng, 5)}",
            ]
        )

    def us() -> str:
        a, b, c = nanp()
        return rng.choice(
            [f"{a}-{b}-{c}", f"({a}) {b}-{c}", f"{a}.{b}.{c}", f"1-{a}-{b}-{c}", f"({a}){b}-{c}"]
        )

    templates = [
        "Call me at {} after lunch.",
        "Phone: {}",
        "reach the desk on {} or by mail",
        "Mobile {}",
        "The number is {}.",
        "customer phone={};",
    ]
    context_templates = [
        "Tel: {}",
        "call me on {} tomorrow",
        "Mobile: {}",
        "fax {}",
        "WhatsApp: {}",
    ]
    context_numbers = [f"020 {digits(rng, 4)} {digits(rng, 4)}" for _ in range(15)]
    context_numbers += [f"07700 {digits(rng, 6)}" for _ in range(15)]
    context_numbers += [f"030 {digits(rng, 6)}" for _ in range(10)]
    near = (
        [f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}" for _ in range(20)]
        + [
            f"{rng.randint(1, 28):02d}.{rng.randint(1, 12):02d}.20{digits(rng, 2)}"
            for _ in range(20)
        ]
        + [f"{rng.randint(1, 12):02d}/{rng.randint(1, 28):02d}/2023" for _ in range(10)]
        + [f"{rng.randint(0, 9)}.{rng.randint(0, 30)}.{rng.randint(0, 99)}" for _ in range(15)]
        + [digits(rng, rng.randint(8, 14)) for _ in range(25)]
        + [
            f"1{digits(rng, 2)}-{digits(rng, 3)}-{digits(rng, 4)}" for _ in range(10)
        ]  # area code 1xx
        + [f"978-3-16-{digits(rng, 6)}-0" for _ in range(5)]
        + [f"{digits(rng, 2)}:{digits(rng, 2)}:{digits(rng, 2)}" for _ in range(10)]
        + [f"{digits(rng, 5)}-{digits(rng, 4)}" for _ in range(10)]  # ZIP+4
        + [f"+{rng.randint(1, 9)} points" for _ in range(5)]
        + [f"{rng.randint(200, 999)} {rng.randint(200, 999)} {digits(rng, 4)}" for _ in range(15)]
    )
    near_templates = [
        "released on {} as planned",
        "order #{} shipped",
        "id {}",
        "value: {}",
        "({})",
    ]
    return (
        positives(rng, "PHONE", "international", [intl() for _ in range(150)], templates)
        + positives(rng, "PHONE", "US", [us() for _ in range(100)], templates)
        + positives(rng, "PHONE", "national after a cue", context_numbers, context_templates)
        + negatives(rng, "phone", near, near_templates)
    )


# --- payment cards ------------------------------------------------------------


def luhn_digit(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return str(-total % 10)


def card_number(rng: random.Random, prefix: str, length: int) -> str:
    body = prefix + digits(rng, length - len(prefix) - 1)
    return body + luhn_digit(body)


CARD_BRANDS = [
    ("4", 16),
    ("4", 13),
    ("51", 16),
    ("55", 16),
    ("2221", 16),
    ("2720", 16),
    ("34", 15),
    ("37", 15),
    ("6011", 16),
    ("65", 16),
    ("3530", 16),
    ("36", 14),
    ("62", 16),
    ("4", 19),
]


def grouped(number: str, sep: str) -> str:
    sizes = {15: [4, 6, 5], 14: [4, 6, 4], 13: [4, 4, 5]}.get(len(number), [4] * 5)
    out, i = [], 0
    for size in sizes:
        if i < len(number):
            out.append(number[i : i + size])
            i += size
    return sep.join(out)


def card_samples(rng: random.Random) -> list[Sample]:
    def card(valid: bool = True) -> str:
        number = card_number(rng, *rng.choice(CARD_BRANDS))
        if not valid:
            number = number[:-1] + str((int(number[-1]) + rng.randint(1, 9)) % 10)
        return rng.choice([number, grouped(number, " "), grouped(number, "-")])

    templates = [
        "card {} exp 12/27",
        "Charge {} please",
        "My Visa is {}.",
        "cc_number={}",
        "paid with {} yesterday",
        '{"pan": "{}"}',
    ]
    near = (
        [card(valid=False) for _ in range(80)]
        + [f"{rng.randint(1, 9)}{digits(rng, 15)}" for _ in range(80)]  # random 16 digits
        + [card_number(rng, "9", 16) for _ in range(10)]  # Luhn-valid, no issuer
        + [f"17{digits(rng, 11)}" for _ in range(10)]  # epoch milliseconds
        + [" ".join(digits(rng, 2) for _ in range(8)) for _ in range(10)]  # pairs
        + [digits(rng, 20) for _ in range(10)]
    )
    near_templates = ["order {} shipped", "tracking number {}", "id={}", "ts {}", "{}"]
    return positives(rng, "CARD", "valid", [card() for _ in range(300)], templates) + negatives(
        rng, "card", near, near_templates
    )


# --- IBAN ---------------------------------------------------------------------

IBAN_FORMATS = {  # country: BBAN shape, "a" = letter, "n" = digit
    "DE": "n" * 18,
    "GB": "aaaa" + "n" * 14,
    "FR": "n" * 23,
    "NL": "aaaa" + "n" * 10,
    "ES": "n" * 20,
    "IT": "a" + "n" * 22,
    "CH": "n" * 17,
    "BE": "n" * 12,
    "NO": "n" * 11,
    "PL": "n" * 24,
    "SE": "n" * 20,
    "AT": "n" * 16,
}


def iban(rng: random.Random, country: str) -> str:
    bban = "".join(
        rng.choice(string.ascii_uppercase if c == "a" else string.digits)
        for c in IBAN_FORMATS[country]
    )
    numeric = int("".join(str(int(ch, 36)) for ch in bban + country + "00"))
    return f"{country}{98 - numeric % 97:02d}{bban}"


def iban_samples(rng: random.Random) -> list[Sample]:
    def show(value: str) -> str:
        return rng.choice([value, " ".join(value[i : i + 4] for i in range(0, len(value), 4))])

    def broken(value: str) -> str:
        i = rng.choice([i for i, ch in enumerate(value) if ch.isdigit() and i >= 4])
        return value[:i] + str((int(value[i]) + rng.randint(1, 9)) % 10) + value[i + 1 :]

    countries = list(IBAN_FORMATS)
    templates = ["IBAN: {}", "Please transfer to {} by Friday.", "account {} (EUR)", "iban={}"]
    near = (
        [show(broken(iban(rng, rng.choice(countries)))) for _ in range(80)]
        + [show(iban(rng, rng.choice(countries))[:-1]) for _ in range(30)]  # too short
        + [show("XY" + iban(rng, "DE")[2:]) for _ in range(20)]  # no such country
    )
    return positives(
        rng,
        "IBAN",
        "valid",
        [show(iban(rng, rng.choice(countries))) for _ in range(250)],
        templates,
    ) + negatives(rng, "iban", near, ["ref {} noted", "code {}", "{}"])


# --- SSN ----------------------------------------------------------------------


def ssn_samples(rng: random.Random) -> list[Sample]:
    def area() -> str:
        return f"{rng.choice([rng.randint(1, 665), rng.randint(667, 899)]):03d}"

    def ssn(sep: str) -> str:
        return f"{area()}{sep}{rng.randint(1, 99):02d}{sep}{rng.randint(1, 9999):04d}"

    templates = ["SSN {}", "social security number: {}.", "her number is {} on file", "ssn={}"]
    valid = [ssn(rng.choice("- ")) for _ in range(200)]
    context = [ssn("") for _ in range(30)]
    near = (
        [f"000-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}" for _ in range(20)]
        + [f"666-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}" for _ in range(20)]
        + [
            f"9{digits(rng, 2)}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"
            for _ in range(20)
        ]
        + [f"{area()}-00-{rng.randint(1, 9999):04d}" for _ in range(20)]
        + [f"{area()}-{rng.randint(1, 99):02d}-0000" for _ in range(20)]
        + [ssn("") for _ in range(20)]  # bare 9 digits without a cue
        + [f"{area()}-{digits(rng, 3)}-{digits(rng, 3)}" for _ in range(10)]
        + ["078-05-1120", "219-09-9999"] * 3
    )
    return (
        positives(rng, "SSN", "formatted", valid, templates)
        + positives(rng, "SSN", "bare after a cue", context, ["SSN: {}", "social security no. {}"])
        + negatives(rng, "ssn", near, ["ticket {} closed", "part no. {}", "id {}", "{}"])
    )


# --- IP -----------------------------------------------------------------------


def ip_samples(rng: random.Random) -> list[Sample]:
    def octet() -> int:
        return rng.randint(0, 255)

    def v4() -> str:
        return rng.choice(
            [
                f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
                f"192.168.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
                f"{rng.randint(1, 223)}.{octet()}.{octet()}.{rng.randint(1, 254)}",
            ]
        )

    def v6() -> str:
        groups = [f"{rng.randint(0, 65535):x}" for _ in range(8)]
        return rng.choice(
            [
                ":".join(groups),
                f"2001:db8::{groups[0]}:{groups[1]}",
                f"fe80::{groups[2]}:{rng.randint(1, 99)}",
            ]
        )

    templates = [
        "connect to {} on port 22",
        "host={}",
        "ping {}",
        "Server {} is down.",
        "allow from {};",
        "[{}]",
    ]
    # A bare "4.5.2.2" is a valid IPv4 address; only with a version word (below)
    # is it a near-miss, so the set holds no cue-less version numbers.
    near = (
        [f"{rng.randint(256, 999)}.{octet()}.{octet()}.{octet()}" for _ in range(15)]
        + [f"10.0.{rng.randint(0, 255)}.{rng.randint(256, 999)}" for _ in range(10)]
        + [
            f"1.{rng.randint(0, 9)}.{rng.randint(0, 9)}.{rng.randint(0, 9)}.{rng.randint(0, 9)}"
            for _ in range(10)
        ]
        + ["127.0.0.1", "0.0.0.0", "255.255.255.255", "::1", "::"] * 2
        + [
            f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}"
            for _ in range(10)
        ]
        + [":".join(f"{rng.randint(0, 255):02X}" for _ in range(6)) for _ in range(10)]  # MAC
        + ["std::vector", "a::b", "Foo::bar()", "dead::beef"]
        + [f"{rng.randint(0, 99)}.{digits(rng, 5)}" for _ in range(10)]
    )
    version_templates = ["version {}", "v{}", "release {} is out", "firmware {}", "Build: {}"]
    versions = [
        f"{rng.randint(1, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 20)}.{rng.randint(0, 999)}"
        for _ in range(30)
    ]
    return (
        positives(rng, "IP", "IPv4", [v4() for _ in range(150)], templates)
        + positives(rng, "IP", "IPv6", [v6() for _ in range(60)], templates)
        + negatives(rng, "ip", near, ["{} in the log", "value {}", "{}"])
        + negatives(rng, "ip version", versions, version_templates)
    )


# --- secrets ------------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(rng: random.Random, header: dict[str, str]) -> str:
    payload = {
        "sub": digits(rng, 8),
        "name": rng.choice(FIRST),
        "iat": 1700000000 + rng.randint(0, 10**7),
    }
    parts = [json.dumps(header).encode(), json.dumps(payload).encode(), rng.randbytes(32)]
    return ".".join(b64url(p) for p in parts)


def private_key(rng: random.Random) -> str:
    kind = rng.choice(["RSA PRIVATE KEY", "PRIVATE KEY", "OPENSSH PRIVATE KEY", "EC PRIVATE KEY"])
    body = "\n".join(rand(rng, B62 + "+/", 64) for _ in range(rng.randint(3, 8)))
    return f"-----BEGIN {kind}-----\n{body}\n-----END {kind}-----"


def secret_samples(rng: random.Random) -> list[Sample]:
    tokens = (
        [f"AKIA{rand(rng, string.ascii_uppercase + string.digits, 16)}" for _ in range(20)]
        + [f"ghp_{rand(rng, B62, 36)}" for _ in range(20)]
        + [f"github_pat_{rand(rng, B62 + '_', 82)}" for _ in range(10)]
        + [f"xoxb-{digits(rng, 12)}-{digits(rng, 13)}-{rand(rng, B62, 24)}" for _ in range(15)]
        + [f"sk_live_{rand(rng, B62, 24)}" for _ in range(15)]
        + [f"sk-proj-{rand(rng, B62 + '-_', 48)}" for _ in range(15)]
        + [f"sk-{rand(rng, B62, 48)}" for _ in range(10)]
        + [f"AIza{rand(rng, B62 + '-_', 35)}" for _ in range(15)]
        + [jwt(rng, {"alg": "HS256", "typ": "JWT"}) for _ in range(15)]
        + [private_key(rng) for _ in range(15)]
        + [rand(rng, B62, rng.choice([24, 32, 40, 64])) for _ in range(40)]  # generic tokens
    )
    token_templates = [
        "token: {}",
        "Authorization: Bearer {}",
        "export API_KEY={}",
        "key = '{}'",
        "here it is {} ok",
        '{"credential": "{}"}',
    ]
    values = [
        rng.choice(["hunter", "S3cure", "Tr0ub4dor", "p@ss"])
        + rand(rng, B62 + "!#%&", rng.randint(3, 8))
        for _ in range(60)
    ]
    assignments = [
        ("password={}", values[i])
        if i % 6 == 0
        else ("DB_PASSWORD: '{}'", values[i])
        if i % 6 == 1
        else ('{"password": "{}"}', values[i])
        if i % 6 == 2
        else ("passwd = {}", values[i])
        if i % 6 == 3
        else ("my password is {}", values[i])
        if i % 6 == 4
        else ("postgres://app:{}@db.internal:5432/prod", values[i])
        for i in range(60)
    ]
    aws = [f"aws_secret_access_key = {rand(rng, B62 + '/+', 40)}" for _ in range(10)]
    samples = positives(rng, "SECRET", "token", tokens, token_templates)
    samples += [sample("secret: password", t, v, "SECRET") for t, v in assignments]
    samples += [Sample("secret: aws secret key").add(a[:24]).add(a[24:], "SECRET") for a in aws]
    return samples + secret_near_misses(rng)


def secret_near_misses(rng: random.Random) -> list[Sample]:
    uuids = [
        "-".join(
            [
                rand(rng, HEX, 8),
                rand(rng, HEX, 4),
                "4" + rand(rng, HEX, 3),
                "a" + rand(rng, HEX, 3),
                rand(rng, HEX, 12),
            ]
        )
        for _ in range(30)
    ]
    shas = [rand(rng, HEX, 40) for _ in range(30)] + [rand(rng, HEX, 64) for _ in range(10)]
    identifiers = [
        "getUserAccountBalanceForCustomer2024",
        "AbstractSingletonProxyFactoryBean",
        "test_user_profile_2024_final",
        "src/components/UserProfile2/index",
        "my-very-long-identifier-v2-2024",
        "HTTP_X_FORWARDED_FOR_2",
        "com/example/service/v1/UserService",
        "MAX_RETRY_COUNT_FOR_UPLOADS_V2",
        "sk-learn-is-a-python-library",
        "ghp_short",
        "AKIAshort",
        "eyJub3Q.eyJzdWIiOjF9.c2ln",
        "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg",
        "node_modules/@types/react-dom/index.d.ts",
        "2024-01-15T10:30:00Z_backup_file_v3",
        "ThisIsNotASecretButALongCamelCase1",
    ]
    # JWT-shaped but the header has no "alg"; parts kept short, as a random
    # 20+ character part would rightly be flagged as a token on its own.
    jwt_like = [
        ".".join([b64url(b'{"typ":"JWT"}'), b64url(b'{"n":%d}' % i), "c2ln"]) for i in range(5)
    ]
    prose = [
        "Please reset your password before Monday.",
        "The password must be at least 12 characters long.",
        "password: click the link below to choose a new one",
        "Enter your password:",
        "Forgot password?",
        'password = os.environ["DB_PASSWORD"]',
        "password: str",
        "def login(user, password=None):",
        'password = "<your password>"',
        "password: ${DB_PASSWORD}",
        "the password is incorrect",
        "postgres://app:${DB_PASSWORD}@db/prod",
        "https://example.com:8443/login",
        "password = getpass.getpass()",
        "password: String!",
        "api_key: YOUR_API_KEY",
        "secret = settings.SECRET_KEY",
        "token=%s",
        "Paste the -----BEGIN PRIVATE KEY----- block into the form.",
        "passwords are hashed with bcrypt",
        "the PIN is 4 digits",
        "password_reset_timeout = 3600",
        '"password": "Enter your password"',
    ]
    templates = ["see {} for details", "value {}", "{}", "Run it with {} set."]
    return (
        negatives(rng, "secret uuid", uuids, templates)
        + negatives(rng, "secret git sha", shas, ["commit {}", "sha256: {}", "{}"])
        + negatives(rng, "secret identifier", identifiers * 2, templates)
        + negatives(rng, "secret jwt without alg", jwt_like, templates)
        + negatives(rng, "secret prose", prose * 2, ["{}"])
    )


# --- person and address --------------------------------------------------------

GIVEN = [
    "Jane",
    "John",
    "Maria",
    "Ahmed",
    "Olga",
    "Priya",
    "Lucas",
    "Emma",
    "Hans",
    "Zoë",
    "Seán",
    "Mei",
]
FAMILY = [
    "Smith",
    "Garcia",
    "Müller",
    "Chen",
    "Okafor",
    "O'Neil",
    "McDonald",
    "Rossi",
    "Kowalski",
    "Dubois",
    "Tanaka",
    "Silva",
    "van der Berg",
    "Nguyen",
]


def person_samples(rng: random.Random) -> list[Sample]:
    def name() -> str:
        return rng.choice([f"{rng.choice(GIVEN)} {rng.choice(FAMILY)}", rng.choice(FAMILY)])

    def full() -> str:
        return f"{rng.choice(GIVEN)} {rng.choice(FAMILY)}"

    cued = [
        (
            rng.choice(
                [
                    "Dr. {} will see you",
                    "Ask Mr {} about it.",
                    "Prof. {} wrote",
                    "Ms. {}, please sign",
                ]
            ),
            name(),
        )
        for _ in range(60)
    ] + [(rng.choice(["Hi, my name is {} and I", "My name is {}."]), full()) for _ in range(40)]
    cued += [
        (rng.choice(["Best regards,\n{}", "Thanks,\n{}\n", "Kind regards,\n{}"]), full())
        for _ in range(40)
    ]
    cued += [(rng.choice(["Dear {},\nThe results", "From: {} <x>"]), full()) for _ in range(30)]
    cued += [("Name: {}\nRole: engineer", full()) for _ in range(20)]
    uncued = [
        (
            rng.choice(["{} joined the call late.", "I met {} yesterday.", "Forward this to {}."]),
            full(),
        )
        for _ in range(60)
    ]
    near = [
        "Dear Sir,",
        "Dear Hiring Manager,",
        "Best regards,\nThe Team",
        "name: String",
        "Thanks,\nSupport",
        "Dear All,",
        "Mr. Monday",
        "My name is not important",
        "The Smith chart",
        "Call me Monday",
    ]
    samples = [sample("person: cued", t, v, "PERSON") for t, v in cued]
    samples += [sample("person: no cue", t, v, "PERSON") for t, v in uncued]
    return samples + negatives(rng, "person", near * 3, ["{}"])


def address_samples(rng: random.Random) -> list[Sample]:
    streets = [
        "Baker",
        "Main",
        "Elm",
        "Pennsylvania",
        "Fifth",
        "Oak",
        "Martin Luther King",
        "Maple",
        "Park",
    ]
    types = ["Street", "St", "Avenue", "Ave", "Road", "Rd", "Lane", "Blvd", "Drive", "Court", "Way"]
    cities = [
        ", Springfield, IL 62704",
        ", London NW1 6XE",
        ", Boston, MA 02118",
        "",
        "",
        ", Austin",
    ]

    def en() -> str:
        number = f"{rng.randint(1, 9999)}{rng.choice(['', 'B'])}"
        return f"{number} {rng.choice(streets)} {rng.choice(types)}{rng.choice(cities)}"

    def eu() -> str:
        return rng.choice(
            [
                f"Hauptstraße {rng.randint(1, 200)}, {digits(rng, 5)} Berlin",
                f"Goethestr. {rng.randint(1, 99)}",
                f"Kerkstraat {rng.randint(1, 99)}",
                f"{rng.randint(1, 99)} rue de Rivoli, 75001 Paris",
                f"{rng.randint(1, 99)} avenue Victor Hugo",
            ]
        )

    hard = [
        "PO Box 1234",
        "Flat 3, Rose Court",
        "Unit 7 Industrial Estate",
    ]  # not covered, reported honestly
    templates = ["Ship it to {}.", "Address: {}", "I live at {} with my family", "office: {}\n"]
    near = [
        "Top 10 Ways to learn Rust",
        "In 2024 Apple Released a phone",
        "5 Easy Steps",
        "the 3 Main Points",
        "Section 4 Court rulings",
        "Chapter 12 Park life",
        "7 Habits",
        "route 66",
        "1 Way Street sign",
        "Room 101",
    ]
    return (
        positives(
            rng,
            "ADDRESS",
            "street",
            [en() for _ in range(120)] + [eu() for _ in range(40)],
            templates,
        )
        + positives(rng, "ADDRESS", "not covered", hard * 5, templates)
        + negatives(rng, "address", near * 3, ["{}", "Read: {}"])
    )


# --- hard cases ---------------------------------------------------------------


def hard_samples(rng: random.Random) -> list[Sample]:
    """Cases outside what the detectors were written for, on both sides: the
    positives are real sensitive data in formats no rule covers (they count
    against recall), the negatives are common technical text."""
    b64 = base64.b64encode
    missed = [
        ("EMAIL", "write to {} today", "jane dot doe at example dot com"),
        ("PHONE", "the office is on {} (London)", "020 7946 0958"),
        ("PHONE", "ring the desk, {}", "415 555 0132"),
        ("IBAN", "iban {}", "de89 3704 0044 0532 0130 00"),
        ("CARD", "card {}", "4111.1111.1111.1111"),
        ("SECRET", "password: {}", "correcthorsebatterystaple"),
    ]
    caught = [
        (
            "SECRET",
            "AccountKey={};EndpointSuffix=core.windows.net",
            b64(rng.randbytes(64)).decode(),
        ),
        (
            "SECRET",
            '"private_key": "{}"',
            "-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC",
        ),
        ("SECRET", "OPENAI_API_KEY={}", f"sk-proj-{rand(rng, B62, 40)}"),
        ("PHONE", "+44 (0) 20 {}", "7946 0958"),
    ]
    samples = [
        sample(f"hard: {label.lower()} not covered", t, v, label) for label, t, v in missed * 3
    ]
    samples += [sample(f"hard: {label.lower()} covered", t, v, label) for label, t, v in caught * 3]
    header = Sample("hard: mail header").add("From: ").add("Jane Doe", "PERSON").add(" <")
    samples += [header.add("JANE.DOE@Example.COM", "EMAIL").add(">")]
    cert = "\n".join(rand(rng, B62 + "+/", 64) for _ in range(4))
    technical = [
        "pip install torch==2.1.0 numpy>=1.26.4 'pydantic<3'",
        f"docker pull nginx@sha256:{rand(rng, HEX, 64)}",
        f'"integrity": "sha512-{b64(rng.randbytes(64)).decode()}"',
        "arn:aws:iam::123456789012:role/deploy-prod",
        "gtag('config', 'UA-12345678-1');",
        "Shipped via UPS 1Z999AA10123456784 on 2024-03-02T10:30:00.123Z",
        "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0.6099.109 Safari/537.36",
        "lat 51.5074, lon -0.1278; total $1,234,567.89",
        f"stripe.js publishable key pk_live_{rand(rng, B62, 24)}",
        f"-----BEGIN CERTIFICATE-----\n{cert}\n-----END CERTIFICATE-----",
        f"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{rand(rng, B62, 43)} me@laptop",
        "git checkout -b feature/JIRA-4521-add-oauth2-login-flow",
        "SELECT * FROM events WHERE id IN (1234567, 2345678, 3456789);",
        "Call stack: at Object.<anonymous> (/app/src/index.js:42:17)",
        "Mr. Robot is a TV series; Dr. Pepper is a drink.",
    ]
    return samples + negatives(rng, "hard technical text", technical * 3, ["{}"])


# --- clean text -----------------------------------------------------------------

PROSE = [
    "What's the capital of France? Please answer in one sentence.",
    "Summarise the attached meeting notes and list three action items for next week.",
    "Explain the difference between a process and a thread, with an example in Python 3.12.",
    "Our Q3 revenue grew 12% to 4.5 million; draft a short note for the board.",
    "Translate 'good morning, how are you?' into German and Japanese.",
    "The build failed on step 3 of 7 after 42 seconds; what could cause exit code 137?",
    "Write a haiku about autumn leaves and a cup of tea.",
    "Compare PostgreSQL 16 and MySQL 8.0 for a write-heavy workload of 5000 rows per second.",
    "Rewrite this paragraph to be more formal and at most 120 words long.",
    "Give me a regex that matches ISO dates like 2024-05-01, and explain each part.",
    "In 1969, Apollo 11 landed on the Moon; describe the mission in 200 words.",
    "The meeting is on 12/03 at 10:30 in room 4.12; send a reminder to the team.",
]
CODE = [
    "```python\ndef fib(n: int) -> int:\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n```",
    "```js\nconst total = items.reduce((sum, item) => sum + item.price * item.qty, 0);\n```",
    "SELECT user_id, COUNT(*) FROM orders WHERE created_at > '2024-01-01' GROUP BY user_id;",
    "docker run -p 8080:80 -v $(pwd)/data:/data nginx:1.25",
    "import numpy as np\nx = np.linspace(0, 1, 100)\ny = np.sin(2 * np.pi * x)",
    "for (int i = 0; i < n; ++i) { total += values[i] * weights[i]; }",
    "@dataclass(frozen=True)\nclass Point:\n    x: float\n    y: float",
    "git log --oneline -n 20 && git diff HEAD~1 -- src/app/main.py",
]


def clean_samples(rng: random.Random) -> list[Sample]:
    return [Sample("clean").add(rng.choice(PROSE + CODE)) for _ in range(300)]


# --- scoring ------------------------------------------------------------------


def build_set() -> list[Sample]:
    rng = random.Random(SEED)
    builders = [
        email_samples,
        phone_samples,
        card_samples,
        iban_samples,
        ssn_samples,
        ip_samples,
        secret_samples,
        person_samples,
        address_samples,
        hard_samples,
        clean_samples,
    ]
    samples = [s for build in builders for s in build(rng)]
    for s in samples:  # surround each with ordinary text, as in a real prompt
        s.gold = [(label, a + 1, b + 1) for label, a, b in s.gold]
        s.text = " " + s.text + "\n\n" + rng.choice(PROSE)
    return samples


def overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def score(
    classifier: Classifier, samples: list[Sample]
) -> tuple[dict[str, dict[str, float]], list[str]]:
    counts = {label: {"gold": 0, "found": 0, "tp_found": 0, "tp_gold": 0} for label in LABELS}
    misses: list[str] = []
    for s in samples:
        found = [(f.label, f.start, f.end) for f in classifier.scan(s.text)]
        for label, a, b in found:
            # a detector this set has no labels for yet (e.g. MAC) still gets a row
            counts.setdefault(label, dict.fromkeys(counts["EMAIL"], 0))
            counts[label]["found"] += 1
            hit = any(g == label and overlaps((a, b), (ga, gb)) for g, ga, gb in s.gold)
            counts[label]["tp_found"] += hit
            if not hit:
                misses.append(f"FP {label:8} {s.kind}")
        for label, a, b in s.gold:
            counts[label]["gold"] += 1
            hit = any(f == label and overlaps((a, b), (fa, fb)) for f, fa, fb in found)
            counts[label]["tp_gold"] += hit
            if not hit:
                misses.append(f"FN {label:8} {s.kind}")
    table = {label: _metrics(c) for label, c in counts.items()}
    total = {k: sum(counts[label][k] for label in STRUCTURED) for k in counts["EMAIL"]}
    table["structured (email, card, iban, ssn, secret)"] = _metrics(total)
    return table, misses


def _metrics(c: dict[str, int]) -> dict[str, float]:
    return {
        "labelled": c["gold"],
        "found": c["found"],
        "precision": round(c["tp_found"] / c["found"], 4) if c["found"] else 1.0,
        "recall": round(c["tp_gold"] / c["gold"], 4) if c["gold"] else 1.0,
    }


# --- speed --------------------------------------------------------------------


def prompt_of(size: int, rng: random.Random) -> str:
    """Prose and code, with a few identifiers, as a pasted work prompt might be."""
    extras = [
        "Contact jane.doe@example.com if the job fails.",
        "The staging box is 10.20.30.40.",
        "Ticket 48213 was reopened on 2024-03-02.",
    ]
    pieces: list[str] = []
    while sum(len(p) + 1 for p in pieces) < size:
        pieces.append(rng.choice(PROSE + CODE + PROSE + extras))
    return "\n".join(pieces)[:size]


def timings(classifier: Classifier) -> dict[str, float]:
    rng = random.Random(SEED)
    small, large = prompt_of(4096, rng), prompt_of(200 * 1024, rng)
    for _ in range(200):
        classifier.scan(small)  # warm up
    runs = sorted(_seconds(classifier, small) for _ in range(2000))
    large_runs = [_seconds(classifier, large) for _ in range(10)]
    return {
        "4kb_p50_ms": round(runs[len(runs) // 2] * 1000, 3),
        "4kb_p99_ms": round(runs[int(len(runs) * 0.99)] * 1000, 3),
        "200kb_median_ms": round(statistics.median(large_runs) * 1000, 2),
    }


def _seconds(classifier: Classifier, text: str) -> float:
    classifier.forget()  # a cold scan: the text is new to the classifier
    start = time.perf_counter()
    classifier.scan(text)
    return time.perf_counter() - start


def with_custom_detectors() -> Classifier:
    """A team's typical additions: a 100-word codename list and two regexes."""
    rng = random.Random(SEED)
    words = tuple(rand(rng, string.ascii_lowercase, rng.randint(5, 10)) for _ in range(100))
    return Classifier(
        custom=[
            CustomDetector("codenames", "keywords", words, 2),
            CustomDetector("tickets", "regex", (r"PRJ-\d{4,6}", r"(?i)\bcase #\d+"), 1),
        ]
    )


def markdown(table: dict[str, dict[str, float]]) -> str:
    lines = ["| detector | labelled | found | precision | recall |", "|---|---:|---:|---:|---:|"]
    for label, m in table.items():
        counts = f"{m['labelled']} | {m['found']}"
        lines.append(f"| {label} | {counts} | {m['precision']:.3f} | {m['recall']:.3f} |")
    return "\n".join(lines)


def corpus_counts(root: Path) -> None:
    """Findings per label in real text without labels (for example your own
    documents or a source tree): every one is a false positive unless the
    text really holds such data, so it bounds the false-positive rate."""
    classifier, counts, size = Classifier(), Counter[str](), 0
    for path in sorted(root.rglob("*")):
        if path.suffix not in (".py", ".md", ".txt", ".rst", ".json", ".yaml", ".yml", ".toml"):
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        size += len(text)
        counts.update(f.label for f in classifier.scan(text))
    print(f"{size / 1e6:.1f} million characters under {root}")
    for label in LABELS:
        print(
            f"  {label:8} {counts[label]:6}  ({counts[label] / max(size, 1) * 1e6:.1f} per million)"
        )


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--corpus":
        corpus_counts(Path(sys.argv[2]))
        return
    samples = build_set()
    classifier = Classifier()
    table, misses = score(classifier, samples)
    speed = {"built-in detectors": timings(classifier)}
    speed["with custom detectors"] = timings(with_custom_detectors())
    print(f"{len(samples)} samples, seed {SEED}\n")
    print(markdown(table))
    for setup, s in speed.items():
        print(
            f"\n{setup}: 4 KB prompt p50 {s['4kb_p50_ms']} ms, p99 {s['4kb_p99_ms']} ms "
            f"(2000 runs); 200 KB prompt median {s['200kb_median_ms']} ms (10 runs)"
        )
    summary: dict[str, int] = {}
    for miss in misses:
        summary[miss] = summary.get(miss, 0) + 1
    if summary:
        print("\nErrors by kind (FP = false positive, FN = missed):")
        for kind, n in sorted(summary.items(), key=lambda kv: -kv[1]):
            print(f"  {n:4}  {kind}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "seed": SEED,
                "samples": len(samples),
                "detectors": table,
                "errors_by_kind": summary,
                "speed": speed,
                "python": platform.python_version(),
                "machine": platform.processor() or platform.machine(),
            },
            indent=2,
            ensure_ascii=False,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
