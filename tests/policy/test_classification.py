"""The data classifier, table-tested: plain strings in, findings out, no database."""

import base64
import json
import subprocess
import sys
import time
from dataclasses import fields
from pathlib import Path

import pytest

from apps.policy import classification
from apps.policy.classification import (
    BUILTIN_DETECTORS,
    DETECTOR_DESCRIPTIONS,
    LEVELS,
    BuiltinSetting,
    Classifier,
    CustomDetector,
    Deadline,
    Finding,
    custom_pattern_problem,
    redact,
    restore,
)
from apps.policy.detectors import credentials, ner

DEFAULT = Classifier()


def found(text, classifier=DEFAULT):
    """(label, matched text) for each finding."""
    return [(f.label, text[f.start : f.end]) for f in classifier.scan(text)]


def labels(text, classifier=DEFAULT):
    return {f.label for f in classifier.scan(text)}


def jwt(header):
    def part(data):
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    signature = "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
    return f"{part(header)}.{part({'sub': '1234567890', 'iat': 1516239022})}.{signature}"


PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\n"
    "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n"
    "-----END RSA PRIVATE KEY-----"
)

# The value each detector must find, exactly, inside its sentence.
POSITIVES = [
    ("EMAIL", "Mail the contract to {} please", "jane.doe@example.org"),
    ("EMAIL", "write to {}", "a@b.io"),
    ("EMAIL", "<{}>", "first_last+tag@sub.corp.example.co.uk"),
    ("PHONE", "call {} today", "+44 20 7946 0958"),
    ("PHONE", "US office: {}.", "+1 (415) 555-0132"),
    ("PHONE", "Tel {}", "0049 30 123456"),
    ("PHONE", "Dublin: {}", "+353 1 234 5678"),
    ("PHONE", "office {}, room 4", "(415) 555-0132"),
    ("PHONE", "office {}, room 4", "415-555-0132"),
    ("PHONE", "toll free {}", "1-800-555-0199"),
    ("PHONE", "Tel: {} (London)", "020 7946 0958"),
    ("PHONE", "call me on {} tonight", "07700 900123"),
    ("CARD", "card {}, exp 12/27", "4111 1111 1111 1111"),
    ("CARD", "card {}", "5500-0000-0000-0004"),
    ("CARD", "amex {}", "3782 822463 10005"),
    ("CARD", "pan={}", "6011111111111117"),
    ("IBAN", "IBAN {} (EUR)", "DE89 3704 0044 0532 0130 00"),
    ("IBAN", "iban={}", "GB82WEST12345698765432"),
    ("IBAN", "to {} by Friday", "NO9386011117947"),
    ("SSN", "SSN {} on file", "123-45-6789"),
    ("SSN", "ssn {}", "219 09 9998"),
    ("SSN", "social security number: {}", "078051121"),
    ("IP", "server {} is slow.", "10.1.2.3"),
    ("IP", "host={}:8080", "192.168.0.10"),
    ("IP", "ping {} now", "2001:db8::8a2e:370:7334"),
    ("IP", "link-local {}%eth0", "fe80::1"),
    ("SECRET", "key {} is mine", "AKIAIOSFODNN7EXAMPLE"),
    ("SECRET", "token {}", "ghp_" + "a1B2c3D4e5" * 3 + "F6g7h8"),
    ("SECRET", "slack {}", "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"),
    ("SECRET", "stripe {}", "sk_live_4eC39HqLyjWDarjtT1zdp7dc"),
    ("SECRET", "export OPENAI_API_KEY={}", "sk-proj-Ab12Cd34Ef56Gh78Ij90Kl12Mn34"),
    ("SECRET", "maps {}", "AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q"),
    ("SECRET", "Authorization: Bearer {}", jwt({"alg": "HS256", "typ": "JWT"})),
    ("SECRET", "aws_secret_access_key = {}", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    ("SECRET", "DATABASE_URL=postgres://app:{}@db.internal:5432/prod", "S3cr3t!pw"),
    ("SECRET", "password={} in the ini", "hunter2"),
    ("SECRET", '{"password": "{}"}', "Tr0ub4dor&3"),
    ("SECRET", "DB_PASSWORD: '{}'", "c0rrect-h0rse"),
    ("SECRET", "my password is {} ok", "P@ssw0rd"),
    ("SECRET", "X-Api-Key: {}", "Zx81Qp0LmN7vB2cR5tY9wK3s"),
    ("SECRET", "here it is {} thanks", "q8X2mB7vL1kP9sR4tZ6wN3cJ"),
    ("SECRET", "key:\n{}\n", PEM),
    ("PERSON", "Ask Dr. {} about it", "Jane Smith"),
    ("PERSON", "Hi, my name is {} and I need help", "Alice Johnson"),
    ("PERSON", "Best regards,\n{}\n", "John Doe"),
    ("PERSON", "Dear {},\nthe results", "Emily"),
    ("PERSON", "From: {} <maria@example.com>", "Maria Garcia"),
    ("PERSON", "Name: {}\nRole: engineer", "Robert Brown"),
    ("ADDRESS", "Ship it to {}.", "221B Baker Street, London NW1 6XE"),
    ("ADDRESS", "at {} today", "1600 Pennsylvania Avenue NW, Washington, DC 20500"),
    ("ADDRESS", "office: {}\n", "42 Main St, Springfield, IL 62704"),
    ("ADDRESS", "Adresse: {}", "Hauptstraße 5, 10115 Berlin"),
    ("ADDRESS", "chez nous, {}", "12 rue de Rivoli, 75001 Paris"),
]


@pytest.mark.parametrize(("label", "template", "value"), POSITIVES)
def test_detector_finds_exactly_the_value(label, template, value):
    before = template.split("{}")[0]
    text = template.replace("{}", value)
    spans = [(f.start, f.end) for f in DEFAULT.scan(text) if f.label == label]
    assert spans == [(len(before), len(before) + len(value))], found(text)


# Look-alikes that must not be flagged with that label.
NEAR_MISSES = [
    ("EMAIL", "user@localhost, john..doe@example.com, john.@example.com, jane@example"),
    ("EMAIL", "@property def x, npm i @scope/pkg, icon@2x.png, jane @ example.com"),
    ("EMAIL", "clone https://bob@git.example.com/r.git"),
    ("PHONE", "released 2024-01-15, 15.01.2024 and 01/15/2024; v1.2.3"),
    ("PHONE", "id 12345678901234 and order 123-456-7890 (no area code starts with 1)"),
    ("PHONE", "counts 200 300 4000, ISBN 978-3-16-148410-0, ZIP 94105-1234, +5 points"),
    ("PHONE", "INT_MAX is +2147483647; doi:10.1016/0020-7101(88)90067-0"),
    ("CARD", "card 4111 1111 1111 1112"),  # fails Luhn
    ("CARD", "id 9111111111111111 and 1234567812345670"),  # Luhn-valid, no known issuer
    ("CARD", "ts 1700000000000, pairs 41 11 11 11 11 11 11 11"),
    ("IBAN", "IBAN DE89 3704 0044 0532 0130 01"),  # fails mod-97
    ("IBAN", "ref DE89 3704 0044 0532 0130 0 and XY89 3704 0044 0532 0130 00"),
    ("SSN", "000-12-3456 666-12-3456 912-12-3456 123-00-4567 123-45-0000"),
    ("SSN", "078-05-1120 and a bare 123456789 without a cue"),
    ("IP", "version 1.2.3.4, v10.0.0.1, release 2.0.1.3, section 8.1.2.2"),
    ("IP", "300.1.2.3, 10.0.0.256, 1.2.3.4.5, 01.02.03.04, 127.0.0.1, 0.0.0.0"),
    ("IP", "12:30:45, 00:1A:2B:3C:4D:5E, std::vector, a::b, dead::beef, ::1, x[1::3]"),
    ("SECRET", "uuid 550e8400-e29b-41d4-a716-446655440000"),
    ("SECRET", "commit 9fceb02d0ae598e95dc970b74767f19372d61af8"),
    ("SECRET", "getUserAccountBalanceForCustomer2024 and my-very-long-identifier-v2-2024"),
    ("SECRET", "src/components/UserProfile2/index and test-44100Hz-le-1ch-4bytes"),
    ("SECRET", "Please reset your password. The password must be at least 12 characters."),
    ("SECRET", "password: click the link below. Enter your password: the password is incorrect"),
    ("SECRET", 'password = os.environ["DB_PASSWORD"]; def f(password=None): password: str'),
    ("SECRET", 'password = "<your password>", postgres://app:${DB_PASSWORD}@db/prod'),
    ("SECRET", "Paste the -----BEGIN PRIVATE KEY----- block here. sk-learn-is-a-library"),
    ("SECRET", "pk_live_51H8abcDEF123ghiJKL456mno and sha512-" + "Q" * 8 + "ab12CD34ef56GH78"),
    ("SECRET", jwt({"typ": "JWT"}).split(".")[0] + ".eyJhIjoxfQ.c2ln"),  # header without "alg"
    ("PERSON", "Dear Sir,\nDear Hiring Manager,\nBest regards,\nThe Team\nname: String"),
    ("ADDRESS", "Top 10 Ways to learn Rust; In 2024 Apple Released; 5 Easy Steps"),
]


@pytest.mark.parametrize(("label", "text"), NEAR_MISSES)
def test_look_alikes_are_not_flagged(label, text):
    assert label not in labels(text), found(text)


def test_nothing_in_ordinary_text_and_code():
    text = (
        "What's the capital of France? Explain threads vs processes in Python 3.12.\n"
        "```python\ndef fib(n: int) -> int:\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n"
        "```\n"
        "docker run -p 8080:80 nginx:1.25 && git diff HEAD~1 -- src/app/main.py\n"
        "The meeting is on 12/03 at 10:30 in room 4.12; revenue grew 12% to 4.5 million."
    )
    assert DEFAULT.scan(text) == []


def test_findings_hold_offsets_not_text():
    assert [f.name for f in fields(Finding)] == ["detector", "label", "level", "start", "end"]
    (finding,) = DEFAULT.scan("İİ then jane@example.org")  # "İ" changes length when lower-cased
    assert (finding.detector, finding.label, finding.level) == ("email", "EMAIL", 2)
    assert (finding.start, finding.end) == (8, 24)


def test_default_levels_and_descriptions():
    assert LEVELS == ("public", "internal", "confidential", "restricted")
    assert set(DETECTOR_DESCRIPTIONS) == set(BUILTIN_DETECTORS)
    levels = {name: s.level for name, s in BUILTIN_DETECTORS.items()}
    general = {name: level for name, level in levels.items() if BUILTIN_DETECTORS[name].enabled}
    assert general == {"email": 2, "phone": 2, "card": 3, "iban": 3, "ssn": 3, "ip": 1,
                       "secret": 3, "person": 1, "org": 1, "address": 2, "mac": 1}  # fmt: skip
    text = "card 4111 1111 1111 1111 from 10.0.0.7"
    assert DEFAULT.level_of(DEFAULT.scan(text)) == 3
    assert DEFAULT.level_of([]) == 0


def test_builtins_can_be_switched_off_or_re_levelled():
    text = "jane@example.org from 10.0.0.7"
    quiet = Classifier({"email": BuiltinSetting(enabled=False), "ip": BuiltinSetting(True, 3)})
    assert [(f.label, f.level) for f in quiet.scan(text)] == [("IP", 3)]
    assert labels(text, Classifier({"no-such-detector": BuiltinSetting()})) == {"EMAIL", "IP"}
    with pytest.raises(ValueError, match="level 4"):
        Classifier({"email": BuiltinSetting(True, 4)})


def test_overlaps_merge_into_one_finding_named_after_the_highest_level():
    text = "postgres://bob:pa55word@db.example.com/app"
    assert found(text) == [("SECRET", "pa55word")]  # not also an email "pa55word@db…"
    assert found("call 4111 1111 1111 1111") == [("CARD", "4111 1111 1111 1111")]
    spans = [
        Finding("person", "PERSON", 1, 0, 10),
        Finding("custom:x", "X", 3, 5, 20),
        Finding("email", "EMAIL", 2, 30, 40),
        Finding("ip", "IP", 1, 30, 40),  # same span, lower level
    ]
    assert classification._resolve(spans) == [
        Finding("custom:x", "X", 3, 0, 20),
        Finding("email", "EMAIL", 2, 30, 40),
    ]


def test_custom_keywords_are_whole_words_case_insensitive_longest_first():
    codenames = CustomDetector("codenames", "keywords", ("Falcon", "project  falcon", "C++"), 2)
    classifier = Classifier(custom=[codenames])
    text = "Status of PROJECT\nFalcon? falconry and Falcons are fine; falcon is not; C++ too"
    assert found(text, classifier) == [
        ("CODENAMES", "PROJECT\nFalcon"),
        ("CODENAMES", "falcon"),
        ("CODENAMES", "C++"),
    ]
    (finding, *_) = classifier.scan(text)
    assert (finding.detector, finding.level) == ("custom:codenames", 2)


def test_custom_keywords_match_in_any_text_the_shortcut_cannot_hide_them():
    classifier = Classifier(custom=[CustomDetector("places", "keywords", ("Zürich", "!!!"), 1)])
    assert found("from ZÜRICH, ok!!!", classifier) == [("PLACES", "ZÜRICH"), ("PLACES", "!!!")]
    classifier = Classifier(custom=[CustomDetector("k", "keywords", ("e-mail", "blue bird"), 1)])
    assert found("no e-mail about the blue\tbird here", classifier) == [
        ("K", "e-mail"),
        ("K", "blue\tbird"),
    ]
    assert found("no email about the bluebird here", classifier) == []


def test_custom_regex_and_labels():
    tickets = CustomDetector("tickets", "regex", (r"PRJ-\d{4}", r"(?i)case #\d+"), 1, "Ticket id")
    classifier = Classifier(custom=[tickets])
    assert found("see PRJ-1234 and CASE #77", classifier) == [
        ("TICKET_ID", "PRJ-1234"),
        ("TICKET_ID", "CASE #77"),
    ]
    assert (
        Classifier(custom=[CustomDetector("7up", "keywords", ("x",), 0)])._custom[0].label
        == "CUSTOM_7UP"
    )
    with pytest.raises(ValueError, match="tickets"):
        Classifier(custom=[CustomDetector("tickets", "regex", ("(unclosed",), 1)])


def test_custom_detectors_fail_closed_when_the_request_budget_is_spent():
    tickets = CustomDetector("tickets", "regex", (r"PRJ-\d{4}",), 3)
    spent = Deadline(seconds=-1)
    text = "nothing here"
    assert Classifier(custom=[tickets]).scan(text, spent) == [
        Finding("custom:tickets", "TICKETS", 3, 0, len(text))
    ]


def test_a_stored_pattern_that_needs_backtracking_fails_closed():
    """Saved before RE2: it still loads, and matches everything until edited."""
    stored = CustomDetector("legacy", "regex", (r"(\w+)\s\1",), 2)
    text = "the the"
    assert Classifier(custom=[stored]).scan(text) == [
        Finding("custom:legacy", "LEGACY", 2, 0, len(text))
    ]


@pytest.mark.parametrize(
    ("kind", "pattern", "problem"),
    [
        ("keywords", "  ", "is empty"),
        ("regex", "", "is empty"),
        ("regex", "(unclosed", "is not a valid regular expression: missing )"),
        ("regex", "a*", "can match an empty string"),
        ("regex", r"\b", "can match an empty string"),
        ("regex", "(a|a)*", "can match an empty string"),
        ("regex", r"(\w+)\s\1", "needs backtracking (a backreference"),
        ("regex", r"foo(?=bar)", "needs backtracking"),
        ("regex", r"(?<!x)foo", "needs backtracking"),
        ("regex", r"(?>ab)c", "needs backtracking"),
        ("regex", r"a++b", "needs backtracking"),
        ("regex", "x" * 501, "longer than 500"),
        ("sql", "x", "unknown kind"),
    ],
)
def test_unsafe_custom_patterns_are_refused_with_a_reason(kind, pattern, problem):
    assert problem in (custom_pattern_problem(kind, pattern) or "")


@pytest.mark.parametrize(
    ("kind", "pattern"),
    [
        ("keywords", "Project Falcon"),
        ("keywords", "(a+)+"),  # escaped: a literal keyword
        ("regex", r"PRJ-\d{4}"),
        ("regex", r"(?:[a-z]+\.)+[a-z]{2,}"),
        ("regex", r"(?i)\b(?:bluebird|redwing)\b"),
        ("regex", r"(?:\s+\w+)+ end"),
        ("regex", r"[A-Z]{2}\d{6}(?:-\d{2})?"),
        # Exponential on a backtracking engine, linear on RE2: accepted now.
        ("regex", "(a+)+$"),
        ("regex", r"^(\w+\s?)+$"),
        ("regex", "(a|aa)+b"),
        ("regex", r"(?:[a-z0-9]+-?)+\.internal\.example"),
    ],
)
def test_safe_custom_patterns_are_accepted(kind, pattern):
    assert custom_pattern_problem(kind, pattern) is None


@pytest.mark.parametrize(
    "pattern", ["(a+)+$", r"^(\w+\s?)+$", "(a|aa)+b", r"(?:[a-z0-9]+-?)+\.internal\.example"]
)
def test_patterns_that_backtrack_elsewhere_run_in_linear_time(pattern):
    classifier = Classifier(custom=[CustomDetector("hosts", "regex", (pattern,), 2)])
    for text in ("a" * 30_000 + "!", "a-" * 15_000 + "!", "ab " * 100 + "a" * 30_000 + "!"):
        start = time.thread_time()
        classifier.scan(text, Deadline(seconds=60))
        assert time.thread_time() - start < 2.0  # CPU time; a backtracking engine takes hours


def test_redact_gives_each_distinct_value_its_own_typed_placeholder():
    text = "Mail jane@a.org, then bob@b.org, then jane@a.org again; card 4111 1111 1111 1111."
    redacted, mapping = redact(text, DEFAULT.scan(text))
    assert redacted == "Mail [EMAIL_1], then [EMAIL_2], then [EMAIL_1] again; card [CARD_1]."
    assert mapping == {
        "[EMAIL_1]": "jane@a.org",
        "[EMAIL_2]": "bob@b.org",
        "[CARD_1]": "4111 1111 1111 1111",
    }


def test_redact_skips_placeholders_the_text_already_contains():
    text = "[EMAIL_1] is a placeholder; mine is jane@a.org"
    redacted, mapping = redact(text, DEFAULT.scan(text))
    assert redacted == "[EMAIL_1] is a placeholder; mine is [EMAIL_2]"
    assert restore(redacted, mapping) == "[EMAIL_1] is a placeholder; mine is jane@a.org"


def test_redact_covers_overlapping_findings_whole():
    text = "abcdefghij"
    redacted, mapping = redact(text, [Finding("x", "A", 1, 0, 4), Finding("y", "B", 2, 2, 6)])
    assert (redacted, mapping) == ("[B_1]ghij", {"[B_1]": "abcdef"})


def test_restore_puts_originals_back_in_any_order_and_repeated():
    text = "From jane@a.org to bob@b.org"
    redacted, mapping = redact(text, DEFAULT.scan(text))
    answer = "Sure: [EMAIL_2] wrote back to [EMAIL_1]; cc [EMAIL_2]. Also [EMAIL_9] and [email_1]."
    assert restore(answer, mapping) == (
        "Sure: bob@b.org wrote back to jane@a.org; cc bob@b.org. Also [EMAIL_9] and jane@a.org."
    )
    assert restore(redacted, mapping) == text
    assert restore(answer, {}) == answer


def test_restore_does_not_expand_an_original_that_looks_like_a_placeholder():
    assert restore("[A_1] [B_1]", {"[A_1]": "[B_1]", "[B_1]": "x"}) == "[B_1] x"


def test_importable_without_django():
    code = "import sys, apps.policy.classification; print('django' in sys.modules)"
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root
    )
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    "unit",
    [
        "eyJ",
        "sk-",
        "AKIA",
        "1 ",
        "1.",
        "::",
        "a@",
        "password=",
        "Mr Ab ",
        "12 Ab Street ",
        "-----BEGIN PRIVATE KEY-----\nA",
    ],
)
def test_pathological_input_scans_in_linear_time(unit):
    text = unit * (60_000 // len(unit))
    start = time.thread_time()
    DEFAULT.scan(text)
    assert time.thread_time() - start < 2.0  # CPU time; a quadratic scan takes minutes here


# --- remembered scans ----------------------------------------------------------------


@pytest.fixture
def email_scans(monkeypatch):
    """A classifier whose email detector counts the texts it reads."""
    read = []
    real = classification._FINDERS["email"]

    def counting(scan):
        read.append(scan.text)
        return real(scan)

    monkeypatch.setitem(classification._FINDERS, "email", counting)
    return Classifier(), read


def test_a_text_is_scanned_once_while_it_is_remembered(email_scans):
    classifier, read = email_scans
    system = "You are a helpful assistant. Escalate to ops@example.com."
    first = classifier.scan(system)
    assert [f.label for f in first] == ["EMAIL"]
    first.clear()  # callers get their own list
    assert classifier.scan(system) == classifier.scan(system) != []
    assert read == [system]
    classifier.forget()
    classifier.scan(system)
    assert read == [system, system]


def test_a_scan_past_the_deadline_is_not_remembered(email_scans):
    tickets = CustomDetector("tickets", "regex", (r"PRJ-\d{4}",), 3)
    classifier = Classifier(custom=[tickets])
    text = "nothing here"
    failed_closed = classifier.scan(text, Deadline(seconds=-1))
    assert [f.detector for f in failed_closed] == ["custom:tickets"]
    assert classifier.scan(text) == []  # read again with time to spare


def test_reloaded_secret_rules_and_the_ner_switch_are_not_answered_from_memory(
    email_scans, monkeypatch
):
    classifier, read = email_scans
    text = "write to ops@example.com"
    classifier.scan(text)
    credentials.reload_rules()
    classifier.scan(text)
    monkeypatch.setattr(ner, "active", lambda: True)
    monkeypatch.setattr(ner, "_model_entities", lambda scan: {})
    classifier.scan(text)
    assert read == [text, text, text]
