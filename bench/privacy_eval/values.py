"""Sensitive values in real-world formats, each from a seeded ``random.Random``.

Where Faker has a generator that yields a valid value it is used (and
checked); otherwise the value is built here from the issuer's published
format and check-digit algorithm and checked with python-stdnum where it has
a validator. Vendor credential formats follow each vendor's public
documentation of its token prefixes and lengths.
"""

from __future__ import annotations

import base64
import datetime
import random
import string
import uuid

import phonenumbers
from faker import Faker
from stdnum import iban as stdnum_iban
from stdnum import luhn, verhoeff
from stdnum.ca import sin as ca_sin
from stdnum.de import idnr as de_idnr
from stdnum.gb import nhs as gb_nhs
from stdnum.in_ import aadhaar
from stdnum.iso7064 import mod_11_10
from stdnum.jp import in_ as jp_my_number
from stdnum.us import itin as us_itin
from stdnum.us import rtn as us_rtn
from stdnum.us import ssn as us_ssn

UPPER = string.ascii_uppercase
LOWER = string.ascii_lowercase
DIGITS = string.digits
HEX = "0123456789abcdef"
ALNUM = string.ascii_letters + string.digits
B64 = ALNUM + "+/"
URLSAFE = ALNUM + "-_"
BASE32 = UPPER + "234567"


def pick(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def digits(rng: random.Random, n: int) -> str:
    return pick(rng, DIGITS, n)


def day(rng: random.Random, first: int = 2019, last: int = 2026) -> datetime.date:
    """A date from the seed alone (Faker's relative dates move with today)."""
    start = datetime.date(first, 1, 1).toordinal()
    return datetime.date.fromordinal(rng.randint(start, datetime.date(last, 12, 31).toordinal()))


def moment(rng: random.Random) -> datetime.datetime:
    midnight = datetime.datetime.combine(day(rng), datetime.time())
    return midnight + datetime.timedelta(milliseconds=rng.randrange(86_400_000))


# --- payment cards ------------------------------------------------------------

# (network, IIN prefixes, lengths), from the networks' published IIN ranges.
CARD_NETWORKS: tuple[tuple[str, tuple[str, ...], tuple[int, ...]], ...] = (
    ("visa", ("4",), (13, 16, 19)),
    ("mastercard", ("51", "52", "53", "54", "55", "2221", "2500", "2720"), (16,)),
    ("amex", ("34", "37"), (15,)),
    ("discover", ("6011", "644", "649", "65"), (16, 19)),
    ("jcb", ("3528", "3540", "3589"), (16, 17, 18, 19)),
    ("jcb15", ("1800", "2131"), (15,)),
    ("diners14", ("300", "305", "36"), (14,)),
    ("diners16", ("38", "39"), (16,)),
    (
        "maestro",
        ("5018", "5020", "5038", "5893", "6304", "6759", "6761", "6763"),
        (12, 13, 15, 16, 19),
    ),
    ("unionpay", ("62", "6212", "6282"), (16, 17, 18, 19)),
    ("mir", ("2200", "2204"), (16,)),
    ("rupay", ("60", "6521", "508"), (16,)),
    ("troy", ("9792",), (16,)),
    ("verve", ("5061", "6500"), (16, 19)),
)
_FAKER_CARD_TYPES = ("visa", "mastercard", "amex", "discover", "diners", "jcb", "maestro")


def luhn_complete(rng: random.Random, prefix: str, length: int) -> str:
    body = prefix + digits(rng, length - len(prefix) - 1)
    return body + luhn.calc_check_digit(body)


def card_number(rng: random.Random, fake: Faker) -> tuple[str, str]:
    """A Luhn-valid number: a third from Faker's generator, the rest from the
    networks Faker lacks or covers at one length only."""
    if rng.random() < 0.3:
        network = rng.choice(_FAKER_CARD_TYPES)
        number = fake.credit_card_number(network)
    else:
        network, prefixes, lengths = rng.choice(CARD_NETWORKS)
        number = luhn_complete(rng, rng.choice(prefixes), rng.choice(lengths))
    assert luhn.is_valid(number), (network, number)
    return number, f"card:{network}"


def format_card(rng: random.Random, number: str) -> str:
    style = rng.choice(("plain", "space4", "space4", "dash4", "dot4", "issuer"))
    if style == "plain":
        return number
    if style == "issuer" and len(number) in (14, 15):  # Amex 4-6-5, Diners 4-6-4
        return f"{number[:4]} {number[4:10]} {number[10:]}"
    sep = {"space4": " ", "dash4": "-", "dot4": ".", "issuer": " "}[style]
    return sep.join(number[i : i + 4] for i in range(0, len(number), 4))


# --- bank accounts ------------------------------------------------------------

IBAN_LOCALES = ("de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pl_PL", "pt_BR", "en_GB")


def iban(rng: random.Random, fake: Faker) -> str:
    value = fake.iban()
    assert stdnum_iban.is_valid(value), value
    return value


def format_iban(rng: random.Random, value: str) -> str:
    style = rng.choice(("compact", "print", "print", "lower", "dash"))
    grouped = " ".join(value[i : i + 4] for i in range(0, len(value), 4))
    if style == "compact":
        return value
    if style == "lower":
        return rng.choice((value, grouped)).lower()
    if style == "dash":
        return grouped.replace(" ", "-")
    return grouped


# --- phones -------------------------------------------------------------------

_REGION = {
    "en_US": "US",
    "en_GB": "GB",
    "de_DE": "DE",
    "fr_FR": "FR",
    "es_ES": "ES",
    "it_IT": "IT",
    "nl_NL": "NL",
    "pl_PL": "PL",
    "pt_BR": "BR",
    "en_IN": "IN",
    "ja_JP": "JP",
    "en_CA": "CA",
    "en_AU": "AU",
    "sv_SE": "SE",
    "de_AT": "AT",
    "de_CH": "CH",
    "en_IE": "IE",
    "da_DK": "DK",
}
_FORMATS = (
    phonenumbers.PhoneNumberFormat.INTERNATIONAL,
    phonenumbers.PhoneNumberFormat.NATIONAL,
    phonenumbers.PhoneNumberFormat.E164,
)


def phone(rng: random.Random, fake: Faker, locale: str) -> tuple[str, str] | None:
    """Faker's number for the locale as written, or re-formatted by
    libphonenumber (international, national, E.164); extensions dropped.
    None when libphonenumber says no number of that length exists there."""
    raw = fake.phone_number()
    for mark in ("x", " ext", "#"):
        raw = raw.split(mark)[0].rstrip()
    region = _REGION[locale]
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    if rng.random() < 0.5:
        return raw, f"phone:{region}:faker"
    return phonenumbers.format_number(
        parsed, rng.choice(_FORMATS)
    ), f"phone:{region}:libphonenumber"


# --- network ------------------------------------------------------------------


def ip_address(rng: random.Random, fake: Faker) -> tuple[str, str]:
    kind = rng.choice(("v4", "v4_private", "v4_private", "v6", "v6_ula", "v6_link_local"))
    if kind == "v4":
        return fake.ipv4_public(), "ip:v4_public"
    if kind == "v4_private":
        return fake.ipv4_private(), "ip:v4_private"
    if kind == "v6":
        return fake.ipv6(), "ip:v6"
    groups = [f"{rng.randrange(65536):x}" for _ in range(4)]
    if kind == "v6_ula":
        return f"fd{rng.randrange(256):02x}:{rng.randrange(65536):x}::" + ":".join(groups[:2]), (
            "ip:v6_ula"
        )
    return "fe80::" + ":".join(groups), "ip:v6_link_local"


def mac_address(rng: random.Random, fake: Faker) -> tuple[str, str]:
    octets = fake.mac_address().split(":")
    style = rng.choice(("colon", "colon", "dash", "cisco", "upper"))
    if style == "dash":
        return "-".join(octets).upper(), "mac:dash"
    if style == "cisco":
        joined = "".join(octets)
        return ".".join(joined[i : i + 4] for i in (0, 4, 8)), "mac:cisco"
    if style == "upper":
        return ":".join(octets).upper(), "mac:colon"
    return ":".join(octets), "mac:colon"


# --- emails -------------------------------------------------------------------

_IDN_HOSTS = (
    "müller-bau.de",
    "bücher.example",
    "straße.de",
    "café-paris.fr",
    "españa-viajes.es",
    "łódź-net.pl",
    "ação.com.br",
    "日本語.jp",
    "société.fr",
    "zürich-versicherung.ch",
)


def email(rng: random.Random, fake: Faker) -> tuple[str, str]:
    kind = rng.choice(("plain", "plain", "free", "company", "idn", "punycode", "plus"))
    if kind == "free":
        return fake.free_email(), "email:free"
    if kind == "company":
        return fake.company_email(), "email:company"
    if kind in ("idn", "punycode"):
        local = fake.user_name()
        host = rng.choice(_IDN_HOSTS)
        if kind == "punycode":
            host = host.encode("idna").decode("ascii")
        return f"{local}@{host}", f"email:{kind}"
    if kind == "plus":
        local, host = fake.email().split("@")
        return f"{local}+{fake.word()}@{host}", "email:plus_tag"
    return fake.email(), "email:plain"


# --- US social security numbers ------------------------------------------------


def ssn(rng: random.Random, fake: Faker) -> tuple[str, str]:
    value = fake.ssn()
    assert us_ssn.is_valid(value), value
    style = rng.choice(("dash", "dash", "dash", "space", "dot", "plain"))
    compact = value.replace("-", "")
    sep = {"dash": "-", "space": " ", "dot": ".", "plain": ""}[style]
    return sep.join((compact[:3], compact[3:5], compact[5:])), f"ssn:{style}"


# --- national identifiers -----------------------------------------------------


def uk_nino(rng: random.Random) -> str:
    """HMRC's format: two prefix letters (D, F, I, Q, U, V never; O not
    second; BG GB KN NK NT TN ZZ not allocated), six digits, suffix A-D."""
    first = [c for c in UPPER if c not in "DFIQUV"]
    second = [c for c in UPPER if c not in "DFIQUVO"]
    while True:
        prefix = rng.choice(first) + rng.choice(second)
        if prefix not in ("BG", "GB", "KN", "NK", "NT", "TN", "ZZ"):
            break
    number = digits(rng, 6)
    suffix = rng.choice("ABCD")
    if rng.random() < 0.5:
        return f"{prefix} {number[:2]} {number[2:4]} {number[4:]} {suffix}"
    return f"{prefix}{number}{suffix}"


def uk_nhs(rng: random.Random) -> str:
    """Ten digits, the last a mod-11 check digit (NHS Digital)."""
    while True:
        body = digits(rng, 9)
        check = 11 - sum(int(d) * (10 - i) for i, d in enumerate(body)) % 11
        if check == 11:
            check = 0
        if check != 10:
            value = body + str(check)
            assert gb_nhs.is_valid(value)
            return f"{value[:3]} {value[3:6]} {value[6:]}" if rng.random() < 0.6 else value


def uk_passport(rng: random.Random) -> str:
    return digits(rng, 9)


def uk_driving_licence(rng: random.Random, fake: Faker) -> str:
    """DVLA: 5 surname letters (9-padded), decade digit, month (+50 for
    women), day, year digit, two initials (9-padded), a digit, two letters."""
    surname = "".join(c for c in fake.last_name().upper() if c in UPPER)[:5].ljust(5, "9")
    birth = day(rng, 1936, 2008)
    month = birth.month + (50 if rng.random() < 0.5 else 0)
    initials = (rng.choice(UPPER) + rng.choice(UPPER + "9"))[:2]
    return (
        f"{surname}{str(birth.year)[2]}{month:02d}{birth.day:02d}{str(birth.year)[3]}"
        f"{initials}9{pick(rng, UPPER, 2)}"
    )


def us_itin_value(fake: Faker) -> str:
    value = fake.itin()
    assert us_itin.is_valid(value), value
    return value


def us_passport(rng: random.Random) -> str:
    """9 digits (older books) or a letter and 8 digits (Next Generation)."""
    return (
        digits(rng, 9)
        if rng.random() < 0.5
        else rng.choice("ACEFGHJKLMNPRSTUVWXYZ") + digits(rng, 8)
    )


_US_DL = (  # state, shape (A = letter, 9 = digit) from the states' DMV formats
    ("CA", "A9999999"),
    ("NY", "999999999"),
    ("FL", "A999999999999"),
    ("TX", "99999999"),
    ("IL", "A99999999999"),
    ("WA", "WDL" + "A" * 2 + "99" + "AA" + "9A"),
    ("PA", "99999999"),
    ("NJ", "A99999999999999"),
)


def us_driver_licence(rng: random.Random) -> tuple[str, str]:
    state, shape = rng.choice(_US_DL)
    value = "".join(
        rng.choice(UPPER) if c == "A" else digits(rng, 1) if c == "9" else c for c in shape
    )
    return value, state


def us_mbi(rng: random.Random) -> str:
    """CMS Medicare Beneficiary Identifier: C A AN N A AN N A A N N, letters
    S L O I B Z excluded; often written with dashes 4-3-4."""
    letters = [c for c in UPPER if c not in "SLOIBZ"]
    alnum = letters + list(DIGITS)
    shape = "1", "A", "X", "9", "A", "X", "9", "A", "A", "9", "9"
    chars = []
    for slot in shape:
        if slot == "1":
            chars.append(rng.choice("123456789"))
        elif slot == "9":
            chars.append(rng.choice(DIGITS))
        elif slot == "A":
            chars.append(rng.choice(letters))
        else:
            chars.append(rng.choice(alnum))
    value = "".join(chars)
    return f"{value[:4]}-{value[4:7]}-{value[7:]}" if rng.random() < 0.4 else value


def us_npi(rng: random.Random) -> str:
    """Ten digits starting 1 or 2; the check digit is Luhn over "80840" + the first nine."""
    body = rng.choice("12") + digits(rng, 8)
    return body + luhn.calc_check_digit("80840" + body)


def us_routing(fake: Faker) -> str:
    value = fake.aba()
    assert us_rtn.is_valid(value), value
    return value


def us_bank_account(rng: random.Random) -> str:
    return digits(rng, rng.randint(8, 17))


def ca_sin_value(fake: Faker) -> str:
    value = fake.ssn()
    assert ca_sin.is_valid(value), value
    return value


def in_aadhaar(rng: random.Random) -> str:
    while True:
        body = rng.choice("23456789") + digits(rng, 10)
        value = body + verhoeff.calc_check_digit(body)
        if aadhaar.is_valid(value):
            return f"{value[:4]} {value[4:8]} {value[8:]}" if rng.random() < 0.6 else value


def de_tax_id(rng: random.Random) -> str:
    """Steuerliche Identifikationsnummer: 10 digits (first not 0, one digit
    repeated), then an ISO 7064 mod 11,10 check digit."""
    while True:
        body = rng.choice("123456789") + digits(rng, 9)
        value = body + mod_11_10.calc_check_digit(body)
        if de_idnr.is_valid(value):
            return (
                f"{value[:2]} {value[2:5]} {value[5:8]} {value[8:]}"
                if rng.random() < 0.4
                else value
            )


def jp_individual_number(rng: random.Random) -> str:
    """My Number: 11 digits and a check digit (Cabinet Office ordinance)."""
    body = digits(rng, 11)
    value = body + jp_my_number.calc_check_digit(body)
    assert jp_my_number.is_valid(value)
    return f"{value[:4]} {value[4:8]} {value[8:]}" if rng.random() < 0.5 else value


# --- credentials --------------------------------------------------------------


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _pem(rng: random.Random, kind: str) -> str:
    size = {"RSA PRIVATE KEY": 1190, "PRIVATE KEY": 1216, "EC PRIVATE KEY": 160}.get(kind, 400)
    body = base64.b64encode(rng.randbytes(size * 3 // 4)).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return f"-----BEGIN {kind}-----\n" + "\n".join(lines) + f"\n-----END {kind}-----"


# name: (variable names people give it, value generator); formats from the
# vendors' documentation of their token prefixes and lengths.
VENDOR_TOKENS: dict[str, tuple[tuple[str, ...], object]] = {
    "aws_access_key_id": (
        ("AWS_ACCESS_KEY_ID", "aws_access_key_id", "accessKeyId"),
        lambda r: r.choice(("AKIA", "ASIA")) + pick(r, BASE32, 16),
    ),
    "aws_secret_access_key": (
        ("AWS_SECRET_ACCESS_KEY", "aws_secret_access_key", "secretAccessKey"),
        lambda r: pick(r, B64, 40),
    ),
    "github_pat": (
        ("GITHUB_TOKEN", "GH_TOKEN", "github_token"),
        lambda r: "ghp_" + pick(r, ALNUM, 36),
    ),
    "github_oauth": (("GITHUB_OAUTH_TOKEN", "gh_oauth"), lambda r: "gho_" + pick(r, ALNUM, 36)),
    "github_app": (
        ("GITHUB_APP_TOKEN",),
        lambda r: r.choice(("ghs_", "ghu_")) + pick(r, ALNUM, 36),
    ),
    "github_fine_grained": (
        ("GITHUB_PAT", "github_pat"),
        lambda r: "github_pat_" + pick(r, ALNUM, 22) + "_" + pick(r, ALNUM, 59),
    ),
    "gitlab_pat": (
        ("GITLAB_TOKEN", "CI_JOB_TOKEN_PRIVATE", "gitlab_private_token"),
        lambda r: "glpat-" + pick(r, URLSAFE, 20),
    ),
    "gitlab_runner": (
        ("RUNNER_TOKEN", "gitlab_runner_token"),
        lambda r: "glrt-" + pick(r, URLSAFE, 20),
    ),
    "slack_bot": (
        ("SLACK_BOT_TOKEN", "slack_token"),
        lambda r: f"xoxb-{digits(r, 12)}-{digits(r, 13)}-{pick(r, ALNUM, 24)}",
    ),
    "slack_user": (
        ("SLACK_USER_TOKEN",),
        lambda r: f"xoxp-{digits(r, 12)}-{digits(r, 12)}-{digits(r, 13)}-{pick(r, HEX, 32)}",
    ),
    "slack_webhook": (
        ("SLACK_WEBHOOK_URL", "slack_webhook"),
        lambda r: (
            "https://hooks.slack.com/services/T"
            + pick(r, UPPER + DIGITS, 10)
            + "/B"
            + pick(r, UPPER + DIGITS, 10)
            + "/"
            + pick(r, ALNUM, 24)
        ),
    ),
    "stripe_secret": (
        ("STRIPE_SECRET_KEY", "stripe_api_key", "stripeKey"),
        lambda r: r.choice(("sk_live_", "rk_live_", "sk_test_")) + pick(r, ALNUM, 99),
    ),
    "stripe_webhook": (("STRIPE_WEBHOOK_SECRET",), lambda r: "whsec_" + pick(r, ALNUM, 32)),
    "google_api_key": (
        ("GOOGLE_API_KEY", "GOOGLE_MAPS_KEY", "firebaseApiKey"),
        lambda r: "AIza" + pick(r, URLSAFE, 35),
    ),
    "google_oauth_secret": (
        ("GOOGLE_CLIENT_SECRET", "client_secret"),
        lambda r: "GOCSPX-" + pick(r, URLSAFE, 28),
    ),
    "azure_storage_key": (
        ("AZURE_STORAGE_KEY", "AccountKey", "azure_storage_account_key"),
        lambda r: base64.b64encode(r.randbytes(64)).decode(),
    ),
    "azure_client_secret": (
        ("AZURE_CLIENT_SECRET", "azure_client_secret"),
        lambda r: pick(r, ALNUM, 3) + r.choice("0123456789") + "Q~" + pick(r, ALNUM + "-_.~", 34),
    ),
    "twilio_auth_token": (("TWILIO_AUTH_TOKEN", "twilioAuthToken"), lambda r: pick(r, HEX, 32)),
    "twilio_api_key": (("TWILIO_API_KEY",), lambda r: "SK" + pick(r, HEX, 32)),
    "sendgrid": (
        ("SENDGRID_API_KEY", "sendgrid_key"),
        lambda r: "SG." + pick(r, URLSAFE, 22) + "." + pick(r, URLSAFE, 43),
    ),
    "hubspot_private_app": (
        ("HUBSPOT_ACCESS_TOKEN", "hubspotToken"),
        lambda r: "pat-na1-" + _uuid(r),
    ),
    "hubspot_legacy_key": (("hubspotKey", "HUBSPOT_API_KEY", "hapikey"), _uuid),
    "snyk": (("SNYK_TOKEN", "snyk_api_token"), _uuid),
    "heroku": (("HEROKU_API_KEY",), _uuid),
    "npm": (
        ("NPM_TOKEN", "NODE_AUTH_TOKEN", "_authToken"),
        lambda r: "npm_" + pick(r, ALNUM, 36),
    ),
    "pypi": (
        ("PYPI_API_TOKEN", "TWINE_PASSWORD", "pypi_token"),
        lambda r: "pypi-AgEIcHlwaS5vcmc" + pick(r, URLSAFE, r.randint(50, 160)),
    ),
    "databricks": (("DATABRICKS_TOKEN",), lambda r: "dapi" + pick(r, HEX, 32)),
    "shopify": (
        ("SHOPIFY_ACCESS_TOKEN", "shopify_api_secret"),
        lambda r: r.choice(("shpat_", "shpss_", "shpca_", "shppa_")) + pick(r, HEX, 32),
    ),
    "atlassian": (
        ("JIRA_API_TOKEN", "ATLASSIAN_API_TOKEN", "confluence_token"),
        lambda r: "ATATT3xFfGF0" + pick(r, URLSAFE, 170) + "=" + pick(r, HEX.upper(), 8),
    ),
    "datadog_api": (("DD_API_KEY", "DATADOG_API_KEY"), lambda r: pick(r, HEX, 32)),
    "datadog_app": (("DD_APP_KEY", "DATADOG_APP_KEY"), lambda r: pick(r, HEX, 40)),
    "openai": (
        ("OPENAI_API_KEY", "openai.api_key", "openaiKey"),
        lambda r: r.choice(
            (
                "sk-" + pick(r, ALNUM, 20) + "T3BlbkFJ" + pick(r, ALNUM, 20),
                "sk-proj-" + pick(r, URLSAFE, 156),
                "sk-svcacct-" + pick(r, URLSAFE, 120),
            ),
        ),
    ),
    "anthropic": (
        ("ANTHROPIC_API_KEY", "anthropic_key"),
        lambda r: "sk-ant-api03-" + pick(r, URLSAFE, 93) + "AA",
    ),
    "huggingface": (
        ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"),
        lambda r: "hf_" + pick(r, string.ascii_letters, 34),
    ),
    "mailgun": (("MAILGUN_API_KEY",), lambda r: "key-" + pick(r, HEX, 32)),
    "mailchimp": (
        ("MAILCHIMP_API_KEY",),
        lambda r: pick(r, HEX, 32) + "-us" + str(r.randint(1, 21)),
    ),
    "digitalocean": (("DIGITALOCEAN_TOKEN", "DO_TOKEN"), lambda r: "dop_v1_" + pick(r, HEX, 64)),
    "telegram_bot": (
        ("TELEGRAM_BOT_TOKEN",),
        lambda r: f"{digits(r, 10)}:AA{pick(r, URLSAFE, 33)}",
    ),
    "sumologic": (("SUMOLOGIC_ACCESSID", "SUMO_ACCESS_ID"), lambda r: "su" + pick(r, ALNUM, 12)),
    "sumologic_key": (("SUMOLOGIC_ACCESSKEY", "SUMO_ACCESS_KEY"), lambda r: pick(r, ALNUM, 64)),
    "square": (("SQUARE_ACCESS_TOKEN",), lambda r: "EAAA" + pick(r, URLSAFE, 60)),
    "jwt": (("ID_TOKEN", "jwt", "access_token"), lambda r: _jwt(r)),
}


def _jwt(rng: random.Random) -> str:
    def part(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    header = part(b'{"alg":"RS256","typ":"JWT"}')
    claims = part(
        (
            f'{{"sub":"{rng.randrange(10**9)}","iat":{1700000000 + rng.randrange(10**7)},'
            f'"scope":"read write"}}'
        ).encode()
    )
    return f"{header}.{claims}.{part(rng.randbytes(256))}"


PEM_KINDS = ("RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY")

GENERIC_NAMES = (
    "password",
    "passwd",
    "pwd",
    "db_password",
    "DB_PASS",
    "MYSQL_ROOT_PASSWORD",
    "POSTGRES_PASSWORD",
    "secret",
    "secret_key",
    "SECRET_KEY",
    "api_key",
    "apiKey",
    "API_TOKEN",
    "auth_token",
    "access_token",
    "client_secret",
    "private_token",
    "REDIS_PASSWORD",
    "SMTP_PASSWORD",
    "admin_pass",
    "encryption_key",
    "signing_secret",
    "webhook_secret",
    "master_key",
    "LDAP_BIND_PASSWORD",
    "keystore_password",
)
_WORDS = (
    "summer",
    "winter",
    "dragon",
    "monkey",
    "sunshine",
    "football",
    "princess",
    "welcome",
    "shadow",
    "master",
    "coffee",
    "banana",
    "tiger",
    "london",
    "berlin",
    "secret",
    "admin",
    "qwerty",
    "letmein",
    "trustno",
    "orange",
    "purple",
    "falcon",
    "rocket",
    "pepper",
)


def generic_secret(rng: random.Random) -> tuple[str, str]:
    """What people actually put under a credential-like name: human passwords
    (word, digits, symbol), random passwords, hex and base64 tokens."""
    kind = rng.choice(("human", "human", "random", "hex", "base64", "urlsafe"))
    if kind == "human":
        word = rng.choice(_WORDS)
        word = word.capitalize() if rng.random() < 0.6 else word
        value = word + str(rng.randint(1, 2025)) + rng.choice(("", "!", "#", "$", "@", "?"))
    elif kind == "random":
        value = pick(rng, ALNUM + "!#$%&*+-=?@^_", rng.randint(10, 24))
    elif kind == "hex":
        value = pick(rng, HEX, rng.choice((32, 40, 64)))
    elif kind == "base64":
        value = base64.b64encode(rng.randbytes(rng.choice((24, 32, 48)))).decode()
    else:
        value = pick(rng, URLSAFE, rng.randint(24, 48))
    return value, f"credential:generic_{kind}"


def vendor_token(rng: random.Random) -> tuple[str, str, str]:
    """(variable name, value, type) for a random vendor."""
    vendor = rng.choice(sorted(VENDOR_TOKENS))
    names, make = VENDOR_TOKENS[vendor]
    return rng.choice(names), make(rng), f"credential:{vendor}"  # type: ignore[operator]
