"""Credentials: API keys, tokens, passwords, private keys, encoded blobs.

Pure like every detector: a text in, spans out, nothing copied or logged.
Four kinds of evidence, each linear in the length of the text:

1. Vendor formats: the denylist regexes of detect-secrets' plugins, read from
   the installed package (Apache-2.0), plus our own rules in gitleaks' TOML
   format (``data/hybridhub.toml``) and any gitleaks-format files an operator
   names in ``HYBRIDHUB_SECRET_RULES``; ``data/PROVENANCE.md`` says where each
   comes from. All run on google-re2, which never backtracks. As in gitleaks,
   a rule runs only when one of its keywords occurs in the lower-cased text
   (for detect-secrets' patterns the keywords are derived from their
   literals); one RE2 set finds all keywords in a single pass, so a prompt
   that has none costs a few microseconds per kilobyte.
2. Credentials by context: a value assigned to a credential-like name in any
   common syntax (``SNYK_TOKEN = "…"``, ``"api_key": "…"``, ``Password=…;``,
   ``--password x``, ``Authorization: Bearer …``), passwords in URLs,
   private key blocks, "my password is …".
3. Random-looking tokens: runs of base64 characters judged by their shape.
4. Encoded blobs: base64 or hex that decodes to text holding a credential.

Validators sit on top of the rules: a JWT's header must decode to JSON with
"alg", an ``sk-`` key must mix letters and digits, a private key block must
have a base64 body. docs/classification.md describes the rules and limits.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import logging
import math
import os
import re
import re._constants as _sre
import re._parser as _sre_parser
import tomllib
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import re2

from .wordset import WordSet

if TYPE_CHECKING:
    from apps.policy.classification import _Scan

Span = tuple[int, int]

DATA = Path(__file__).resolve().parent / "data"
log = logging.getLogger(__name__)

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # a rule RE2 refuses is counted, not printed


def _compile(pattern: str) -> Any:
    return re2.compile(pattern, _OPTIONS)


# --- validators -------------------------------------------------------------


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


# After the BEGIN line: optional "Proc-Type:" style headers, then base64 (also
# with "\n" escapes as in a JSON key file). A mere mention is not a key.
_PEM_BODY = re.compile(r"(?:\s|\\n)*(?:[A-Za-z\-]+:[^\n]{0,200}\n\s*){0,4}[A-Za-z0-9+/=]{20}")
_PEM_HEADER_END = re.compile(r"-----BEGIN[^\n]{0,120}?-----")


def _pem_body_ok(block: str) -> bool:
    header = _PEM_HEADER_END.match(block)
    return header is not None and _PEM_BODY.match(block, header.end()) is not None


# Rule id -> a check the secret must pass, beyond what the rule says.
_CHECKS: dict[str, Callable[[str], bool]] = {
    "jwt": _jwt_header_ok,
    "json-web-token": _jwt_header_ok,  # detect-secrets' plugin
    "openai-style-api-key": _openai_key_ok,
    "private-key": _pem_body_ok,
}
# Rule ids whose own allowlists are not applied (PROVENANCE.md says why).
_DROPPED_ALLOWLISTS = frozenset({"aws-access-token"})


# --- the rule set -------------------------------------------------------------

RULES_ENV = "HYBRIDHUB_SECRET_RULES"  # comma-separated gitleaks-format TOML files


@dataclass(frozen=True, slots=True)
class _Allowlist:
    target: str  # what the regex tests: "secret", "match" or "line"
    regex: Any | None  # the list's regexes as one alternation: one search, not ten
    stopwords: tuple[bytes, ...]  # lower case; a secret containing one is allowed


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    pattern: Any  # a compiled re2 pattern
    keywords: tuple[str, ...]
    entropy: float
    secret_group: int
    allowlists: tuple[_Allowlist, ...]
    check: Callable[[str], bool] | None


@dataclass(frozen=True, slots=True)
class RuleSet:
    rules: tuple[Rule, ...]
    allowlists: tuple[_Allowlist, ...]  # global: apply to every rule
    skipped: tuple[str, ...]  # rule ids RE2 could not compile
    path_only: tuple[str, ...]  # rule ids that only name files

    def __add__(self, other: RuleSet) -> RuleSet:
        return RuleSet(
            self.rules + other.rules,
            self.allowlists + other.allowlists,
            self.skipped + other.skipped,
            self.path_only + other.path_only,
        )


class RuleFileError(ValueError):
    """A rule file named in the settings cannot be read or parsed."""


def load_rules(paths: Sequence[Path]) -> RuleSet:
    """Rules from gitleaks-format TOML files; rules RE2 cannot compile are
    skipped and named in ``skipped``."""
    rules: list[Rule] = []
    allowlists: list[_Allowlist] = []
    skipped: list[str] = []
    path_only: list[str] = []
    for path in paths:
        try:
            config = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
            raise RuleFileError(f"secret rules {path}: {error}") from error
        allowlists += _allowlists(config.get("allowlist"))
        for raw in config.get("rules", []):
            if "regex" not in raw:
                path_only.append(raw["id"])
                continue
            try:
                rules.append(_rule(raw))
            except re2.error:
                skipped.append(raw["id"])
    return RuleSet(tuple(rules), tuple(allowlists), tuple(skipped), tuple(path_only))


def _rule(raw: Mapping[str, Any]) -> Rule:
    rule_id = raw["id"]
    lists = [] if rule_id in _DROPPED_ALLOWLISTS else raw.get("allowlists", [])
    return Rule(
        id=rule_id,
        pattern=_compile(raw["regex"]),
        keywords=tuple(k.lower() for k in raw.get("keywords", ())),
        entropy=float(raw.get("entropy", 0.0)),
        secret_group=int(raw.get("secretGroup", 0)),
        allowlists=tuple(a for raw_list in lists for a in _allowlists(raw_list)),
        check=_CHECKS.get(rule_id),
    )


def _allowlists(raw: Mapping[str, Any] | None) -> list[_Allowlist]:
    """What of an allowlist can apply to a prompt: regexes and stopwords.
    Commits and file paths never match; an AND with a path never holds."""
    if not raw or (raw.get("paths") and raw.get("condition", "OR").upper() == "AND"):
        return []
    patterns = raw.get("regexes", ())
    regex = _compile("|".join(f"(?:{pattern})" for pattern in patterns)) if patterns else None
    stopwords = tuple(word.lower().encode() for word in raw.get("stopwords", ()))
    if regex is None and not stopwords:
        return []
    return [_Allowlist(raw.get("regexTarget", "secret"), regex, stopwords)]


# --- detect-secrets' plugins as rules ---------------------------------------------

# Plugins not used: public IPv4 addresses are not secrets; "BEGIN RSA PRIVATE
# KEY" alone is a mention (private key blocks are found whole, below); the
# Azure pattern has no group, so its finding would include "AccountKey="; the
# Telegram pattern has no literal to prefilter on and would cost an RE2 pass
# over every text. hybridhub.toml's azure-storage-account-key and
# telegram-bot-token rules cover both. KeywordDetector and the entropy plugins
# have no denylist; context and token detection do their job.
_UNUSED_PLUGINS = frozenset({
    "IPPublicDetector", "PrivateKeyDetector", "AzureStorageKeyDetector",
    "TelegramBotTokenDetector",
})  # fmt: skip
# Python flags that have an inline RE2 equivalent; re.UNICODE is the default
# of a str pattern and means nothing more on RE2.
_INLINE_FLAGS = ((re.IGNORECASE, "i"), (re.MULTILINE, "m"), (re.DOTALL, "s"))
_KNOWN_FLAGS = re.IGNORECASE | re.MULTILINE | re.DOTALL | re.UNICODE | re.VERBOSE
# Entropy floors where a plugin's pattern alone flags obvious non-keys
# ("AKIAAAAAAAAAAAAAAAAA" in documentation).
_ENTROPY_FLOORS = {"aws-access-key": 3.0}


def detect_secrets_rules() -> RuleSet:
    """The denylist regexes of detect-secrets' plugins, read from the
    installed package (PROVENANCE.md), compiled on RE2. Patterns RE2 refuses
    (lookarounds) are skipped and named ``<rule id>#<n>`` in ``skipped``."""
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
    from detect_secrets.plugins.base import RegexBasedDetector

    rules: list[Rule] = []
    skipped: list[str] = []
    plugins: dict[str, type] = get_mapping_from_secret_type_to_class()
    for secret_type, plugin in sorted(plugins.items()):
        if not issubclass(plugin, RegexBasedDetector) or plugin.__name__ in _UNUSED_PLUGINS:
            continue
        rule_id = re.sub(r"[^a-z0-9]+", "-", secret_type.lower()).strip("-")
        patterns: Sequence[re.Pattern[str]] = getattr(plugin, "denylist", ())
        for n, regex in enumerate(patterns, 1):
            rule = _plugin_rule(rule_id, regex)
            if rule is None:
                skipped.append(f"{rule_id}#{n}")
            else:
                rules.append(rule)
    return RuleSet(tuple(rules), (), tuple(skipped), ())


def _plugin_rule(rule_id: str, regex: re.Pattern[str]) -> Rule | None:
    """The plugin's pattern as a rule, or None if RE2 refuses it."""
    pattern = _re2_pattern(regex)
    if pattern is None:
        return None
    try:
        compiled = _compile(pattern)
    except re2.error:
        return None
    return Rule(
        id=rule_id,
        pattern=compiled,
        keywords=literal_keywords(regex.pattern, regex.flags),
        entropy=_ENTROPY_FLOORS.get(rule_id, 0.0),
        secret_group=0,  # detect-secrets reports the first non-empty group too
        allowlists=(),
        check=_CHECKS.get(rule_id),
    )


def _re2_pattern(regex: re.Pattern[str]) -> str | None:
    """The Python pattern with its flags written inline, or None where a flag
    changes the syntax (a verbose pattern with whitespace or comments)."""
    if regex.flags & ~_KNOWN_FLAGS:
        return None
    if regex.flags & re.VERBOSE and re.search(r"[\s#]", regex.pattern):
        return None
    inline = "".join(letter for flag, letter in _INLINE_FLAGS if regex.flags & flag)
    return f"(?{inline}){regex.pattern}" if inline else regex.pattern


MIN_KEYWORD = 2  # shorter literals would let a rule run on every text anyway


def literal_keywords(pattern: str, flags: int = 0) -> tuple[str, ...]:
    """Words one of which every match must contain, lower-cased, for the
    keyword prefilter: the longest literal run of the pattern's top-level
    sequence, or one per branch of a group. () when none is long enough
    (the rule then runs on every text)."""
    try:
        parsed = _sre_parser.parse(pattern, flags & ~re.VERBOSE)
    except re.error:
        return ()
    items = list(parsed)
    prefixes = _prefixes(items)[0]
    candidates = [words for words in (prefixes, _required_words(items)) if words]
    if prefixes and min(map(len, prefixes)) < MIN_KEYWORD:
        candidates.remove(prefixes)
    return tuple(sorted(max(candidates, key=_rarity, default=())))


def _rarity(words: set[str]) -> tuple[int, int]:
    """The best set is the one whose shortest word is longest."""
    return min(map(len, words)), -len(words)


MAX_PREFIXES = 32


def _prefixes(items: list[Any]) -> tuple[set[str], bool]:
    """The literal texts a match must start with (AWS's ``(?:AKIA|ASIA…)``
    gives five), and whether they are the whole of ``items``."""
    words = {""}
    for op, arg in items:
        inner, complete = _element_prefixes(op, arg)
        if not inner or len(words) * len(inner) > MAX_PREFIXES:
            return words, False
        words = {word + rest for word in words for rest in inner}
        if not complete:
            return words, False
    return words, True


def _element_prefixes(op: Any, arg: Any) -> tuple[set[str], bool]:
    if op is _sre.LITERAL:
        return {chr(arg).lower()}, True
    if op is _sre.IN and all(kind is _sre.LITERAL for kind, _ in arg):
        return {chr(code).lower() for _, code in arg}, True
    if op is _sre.SUBPATTERN:
        return _prefixes(list(arg[-1]))
    if op is _sre.BRANCH:
        words: set[str] = set()
        complete = True
        for branch in arg[1]:
            found, whole = _prefixes(list(branch))
            words |= found
            complete = complete and whole
        return ({*words}, complete) if "" not in words else (set(), False)
    return set(), False


def _required_words(items: list[Any]) -> set[str] | None:
    candidates: list[set[str]] = []
    run = ""
    for op, arg in [*items, (None, None)]:
        if op is _sre.LITERAL:
            run += chr(arg).lower()
            continue
        if len(run) >= MIN_KEYWORD:
            candidates.append({run})
        run = ""
        inner = _inner_words(op, arg)
        if inner:
            candidates.append(inner)
    return max(candidates, key=_rarity, default=None)


def _inner_words(op: Any, arg: Any) -> set[str] | None:
    """Required words of a group, an alternation, or a repeat of at least one."""
    if op is _sre.SUBPATTERN:
        return _required_words(list(arg[-1]))
    if op is _sre.MAX_REPEAT or op is _sre.MIN_REPEAT:
        return _required_words(list(arg[2])) if arg[0] >= 1 else None
    if op is _sre.BRANCH:
        words: set[str] = set()
        for branch in arg[1]:
            found = _required_words(list(branch))
            if not found:
                return None  # one branch without a word: no word is required
            words |= found
        return words
    return None


def rule_paths(environ: Mapping[str, str]) -> tuple[Path, ...]:
    """Our rule file, then the files an operator names in ``RULES_ENV``."""
    named = [Path(part.strip()) for part in environ.get(RULES_ENV, "").split(",")]
    return (DATA / "hybridhub.toml", *(path for path in named if str(path) != "."))


@dataclass(frozen=True, slots=True)
class _Engine:
    rules: RuleSet
    keywords: _Keywords


@functools.cache
def _engine() -> _Engine:
    """The rule set, built on first use: detect-secrets' plugins, our rules
    and the operator's files (``HYBRIDHUB_SECRET_RULES``, read here)."""
    plugins, files = detect_secrets_rules(), load_rules(rule_paths(os.environ))
    _log_skipped(logging.INFO, "detect-secrets", plugins)  # known: lookarounds
    _log_skipped(logging.WARNING, "rule files", files)
    rules = plugins + files
    return _Engine(rules, _Keywords(rules.rules))


def _log_skipped(level: int, source: str, rules: RuleSet) -> None:
    if rules.skipped:
        log.log(
            level, "secret rules from %s: %d loaded, %d skipped (RE2 cannot compile them): %s",
            source, len(rules.rules), len(rules.skipped), ", ".join(rules.skipped),
        )  # fmt: skip


def rule_set() -> RuleSet:
    """The rules in use (loaded on first call)."""
    return _engine().rules


_generation = 0


def reload_rules() -> None:
    """Forget the loaded rules; the next scan reads them again (tests,
    or after ``HYBRIDHUB_SECRET_RULES`` changed)."""
    global _generation
    _engine.cache_clear()
    _generation += 1


def rules_generation() -> int:
    """How many times the rules were reloaded: remembered scans made with
    other rules are not reused (classification.Classifier)."""
    return _generation


# --- one pass for every keyword -------------------------------------------------

# Words that gate the context detectors, found in the same pass as the rules'
# keywords.
_CONTEXT_CUES = ("pass", "pwd", "secret", "token", "key", "cred", "auth", "contrase",
                 "accessid", "access_id", "access-id")  # fmt: skip
_CLI_CUES = ("mysql", "mariadb", "sshpass", "redis-cli", "docker", "sqlcmd")
# Prose cue words the context cues above do not already cover ("pass" covers
# password, passphrase, passcode, Passwort, mot de passe; "key" API key).
_PROSE_GATES = ("pin", "senha", "wachtwoord", "lösenord", "hasło")


class _Keywords:
    """All keywords (the rules' and the context cues) in one RE2 set: a
    single linear pass over the lower-cased text says which are present."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.set = WordSet(
            {k for rule in rules for k in rule.keywords}
            | {*_CONTEXT_CUES, *_CLI_CUES, *_PROSE_GATES}
        )
        self.rules_of: dict[str, list[Rule]] = {word: [] for word in self.set.words}
        for rule in rules:
            for word in rule.keywords:
                self.rules_of[word].append(rule)
        self.always = [rule for rule in rules if not rule.keywords]

    def present(self, lower: bytes) -> frozenset[str]:
        return self.set.present(lower)

    def rules_for(self, present: frozenset[str]) -> list[Rule]:
        chosen = {id(rule): rule for word in present for rule in self.rules_of[word]}
        return [*self.always, *chosen.values()]


# --- text as bytes --------------------------------------------------------------


class _Bytes:
    """The text as UTF-8 for RE2, and byte offsets back to characters.
    Unencodable characters (lone surrogates) become one "?" byte each."""

    def __init__(self, text: str, lower: str) -> None:
        self.text = text
        self.data = text.encode("utf-8", "replace")
        self.lower = lower.encode("utf-8", "replace")
        self.ascii = len(self.data) == len(text)

    def chars(self, spans: Sequence[Span]) -> list[Span]:
        if self.ascii:
            return list(spans)
        offsets = sorted({offset for span in spans for offset in span})
        to_char: dict[int, int] = {}
        last_byte = last_char = 0
        for offset in offsets:  # one incremental pass, however many spans
            last_char += len(self.data[last_byte:offset].decode("utf-8", "replace"))
            last_byte = offset
            to_char[offset] = last_char
        return [(to_char[start], to_char[end]) for start, end in spans]

    def value(self, start: int, end: int) -> str:
        return self.data[start:end].decode("utf-8", "replace")


def find_secret(scan: _Scan) -> Iterator[Span]:
    """Every credential in the text, as character spans (the value only,
    where a name or a header introduces it)."""
    yield from _find_in(scan.text, scan.lower, blobs=True)


def _find_in(text: str, lower: str, *, blobs: bool) -> Iterator[Span]:
    encoded = _Bytes(text, lower)
    engine = _engine()
    present = engine.keywords.present(encoded.lower)
    spans = [*_rule_spans(engine, encoded, present), *_context_spans(encoded, present)]
    yield from encoded.chars(spans)
    yield from _private_keys(text)
    yield from _prose_passwords(text, lower, present)
    yield from _random_tokens(text, lower, blobs=blobs)


# --- vendor rules ----------------------------------------------------------------


def _rule_spans(engine: _Engine, encoded: _Bytes, present: frozenset[str]) -> Iterator[Span]:
    for rule in engine.keywords.rules_for(present):
        verdicts: dict[bytes, bool] = {}  # a repeated secret is judged once
        for match in rule.pattern.finditer(encoded.data):
            start, end = _trimmed(encoded.data, *match.span(_secret_group(rule, match)))
            if end <= start:
                continue
            secret = encoded.data[start:end]
            if secret not in verdicts:
                verdicts[secret] = _secret_ok(rule, secret)
            if verdicts[secret] and not _allowed_around(rule, encoded.data, match.span()):
                yield start, end


def _trimmed(data: bytes, start: int, end: int) -> Span:
    """Without the separators some patterns include around the secret
    (detect-secrets' ``(?:\\s|=|:|"|^)AKC…(?:\\s|"|$)``)."""
    while start < end and data[start] in _EDGE_BEFORE:
        start += 1
    while end > start and data[end - 1] in _EDGE_AFTER:
        end -= 1
    return start, end


_EDGE_AFTER = frozenset(b" \t\r\n\"'")
_EDGE_BEFORE = _EDGE_AFTER | frozenset(b"=:")


def _secret_group(rule: Rule, match: Any) -> int:
    """gitleaks' choice: ``secretGroup`` if set, else the first non-empty
    group. Named groups are labels (jwt-base64), not the secret."""
    if rule.secret_group:
        return rule.secret_group
    if rule.pattern.groupindex:
        return 0
    for group in range(1, rule.pattern.groups + 1):
        start, end = match.span(group)
        if end > start:
            return group
    return 0


def _secret_ok(rule: Rule, secret: bytes) -> bool:
    if rule.entropy and not _entropy_ok(rule, secret):
        return False
    text = secret.decode("utf-8", "replace")
    if _placeholder(text.strip("\"'`")):
        return False  # rules for one file type (Terraform, NuGet) also see "changeme"
    if any(
        _allowed(allowlist, secret) for allowlist in (*_engine().rules.allowlists, *rule.allowlists)
    ):
        return False
    return rule.check is None or rule.check(text)


def _entropy_ok(rule: Rule, secret: bytes) -> bool:
    if _entropy(secret) <= rule.entropy:
        return False
    # gitleaks: a generic rule's secret must also hold a digit.
    return not rule.id.startswith("generic") or any(48 <= byte <= 57 for byte in secret)


def _allowed(allowlist: _Allowlist, secret: bytes) -> bool:
    """The secret is allowed by the list's stopwords or secret-regexes."""
    lowered = secret.lower()
    if any(word in lowered for word in allowlist.stopwords):
        return True
    regex = allowlist.regex
    return allowlist.target == "secret" and regex is not None and regex.search(secret) is not None


def _allowed_around(rule: Rule, data: bytes, match: Span) -> bool:
    """The whole match or its line is allowed (regexTarget "match"/"line")."""
    for allowlist in (*_engine().rules.allowlists, *rule.allowlists):
        if allowlist.regex is None or allowlist.target == "secret":
            continue
        if allowlist.target == "match":
            target = data[match[0] : match[1]]
        else:
            line_start = data.rfind(b"\n", 0, match[0]) + 1
            line_end = data.find(b"\n", match[1])
            target = data[line_start : line_end if line_end >= 0 else len(data)]
        if allowlist.regex.search(target) is not None:
            return True
    return False


def _entropy(value: bytes | str) -> float:
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values()) if n else 0.0


# --- credentials by context ------------------------------------------------------

# The last word of a name that makes its value a credential, in any case and
# at the end of a longer name (SNYK_TOKEN, hubspotKey, db-password, Pwd).
_NAME_TAIL = (
    r"pass(?:word|wd|phrase|code)?|pwd|contrase(?:ña|na)|secret|token|credentials?|creds"
    r"|key|auth|authorization|access[_-]?id"
)
# Repeats here are unbounded on purpose: counted ones ({1,256}) multiply RE2's
# automaton and make it fall back to a slower engine; lengths are checked after.
_VALUE = (
    r"(?:\"([^\"\r\n]+)\"|'([^'\r\n]+)'|`([^`\r\n]+)`"
    r"|([^\s\"'`,;<>&|)\]}]+))"
)
# name = value, name: value, "name": "value", name := value, name => value,
# <name>value<, Password=value; (ADO.NET), ?password=value& (URLs).
_ASSIGNMENT = _compile(
    rf"(?i)(?:{_NAME_TAIL})[\"'\]]?[\"'\]]?[ \t]*(?::=|=>|==|=|:|>)[ \t]*{_VALUE}"
)
_VALUE_AT = _compile(rf"[ \t]*=[ \t]*{_VALUE}")  # after a type hint: "password: str = …"
# --password x, --api-key=x, -storepass x, --client-secret "x".
_CLI_FLAG = _compile(
    r"(?i)(?:^|[ \t])--?(?:[a-z][a-z0-9-]*?)?"
    r"(?:pass(?:word|wd|phrase)?|pwd|secret|token|api-?key|access-?key|secret-?key"
    rf"|credentials?|auth-?token)(?:[ \t]+|=){_VALUE}"
)
# mysql -pSECRET (attached: "-p name" is a prompt and a database), sshpass -p,
# redis-cli -a, docker login -p, sqlcmd -P.
_CLI_SHORT = _compile(
    r"\b(?:mysql(?:dump|admin)?|mariadb(?:-dump)?)\b[^\r\n]*?[ \t]-p([^\s\"'`;|&<>]+)"
    r"|\bsshpass[ \t]+-p[ \t]*([^\s\"'`;|&<>]+)"
    r"|\bredis-cli\b[^\r\n]*?[ \t]-a[ \t]+([^\s\"'`;|&<>]+)"
    r"|\bdocker[ \t]+login\b[^\r\n]*?[ \t]-p[ \t]+([^\s\"'`;|&<>]+)"
    r"|\bsqlcmd\b[^\r\n]*?[ \t]-P[ \t]*([^\s\"'`;|&<>]+)"
)
# Authorization: Basic …/Bearer …/Token … (the scheme is optional), and a
# bare "Bearer <token>" anywhere.
_AUTH_HEADER = _compile(
    r"(?i)\b(?:proxy-)?authorization[\"']?[ \t]*[:=][ \t]*[\"'`]?[ \t]*"
    r"(?:(?:basic|bearer|token|digest|api-?key|sso-key|jwt|otp)[ \t]+)?"
    r"([^\s\"'`,;<>]+)"
)
_BEARER = _compile(r"(?i)\bbearer[ \t]+([^\s\"'`,;<>]+)")
# scheme://user:password@host: the password runs to the last "@" before the host.
_URL_PASSWORD = _compile(r"://[^\s:/@\"'<>]*:([^\s/\"'<>]+)@[\w\[.\-]")

# Bytes of a name: ASCII letters, digits, "_.-$@", and any non-ASCII (contraseña).
_NAME_CHARS = frozenset(
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-$@"
) | frozenset(range(128, 256))
_PASSWORD_WORDS = ("pass", "password", "passwd", "passphrase", "passcode", "pwd",
                   "contrasena", "contraseña")  # fmt: skip
# A name holding one of these is a credential whatever its last word (detect-
# secrets' keyword list and gitleaks' generic rule).
_SECRET_WORDS = ("secret", "token", "credential", "creds", "apikey", "accesskey", "accessid",
                 "privatekey", "privkey", "clientkey", "servicekey", "accountkey", "dbkey",
                 "databasekey", "authkey", "signingkey", "masterkey", "encryptionkey",
                 "authorization", "password", "passwd", "passphrase")  # fmt: skip
# Names whose value is not a credential although their last word says so.
_NOT_CREDENTIAL_NAMES = (
    "publickey", "pubkey", "primarykey", "foreignkey", "sortkey", "partitionkey", "cachekey",
    "idempotencykey", "hashkey", "rangekey", "rowkey", "uniquekey", "lookupkey", "hotkey",
    "shortcutkey", "translationkey", "i18nkey", "monkey", "turkey", "donkey", "hockey",
    "jockey", "whiskey", "bypass", "compass", "surpass", "trespass", "overpass", "underpass",
    "nexttoken", "pagetoken", "continuationtoken", "synctoken", "csrftoken", "xsrftoken",
    "maxtoken", "author", "keykey",
)  # fmt: skip
PASSWORD, SECRET, WEAK = range(3)
MAX_VALUE = 1024  # longer values are payloads, left to the blob and token checks

# Values that stand for a secret without being one: templates, env vars, stars.
_PLACEHOLDER_VALUE = re.compile(
    r"(?i)<[^>]*>|\{.*\}|\$\{?\w+\}?|%\(?\w*\)?[sd]|%\w+%|:\w+|\?|\*+|x{3,}|\.{3}|…|(.)\1*"
    r"|(?:your|my|the|new|old|some)?[_\-]?(?:password|passwd|pass|pwd|secret|token|api[_\-]?key"
    r"|changeme|changeit|redacted|hidden|example|placeholder|dummy|secret123|password123)"
)
_TEMPLATE_START = ("$", "{{", "<", "#{", "@")  # "%(name)s" and "%VAR%": _PLACEHOLDER_VALUE
_NOT_VALUE_START = ("-", "/", "./", "../", "~/", "C:\\")  # a flag or a path
# Code, not a value: "None", "str", "os.environ.get(...)", "settings.DB_PASSWORD",
# "(bool, optional)".
_CODE_VALUE = re.compile(
    r"[A-Za-z_]+[!?]?|[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+.*|[A-Za-z_][\w.]*[(\[].*|[(\[{].*"
)
_CONSTANT_NAME = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+")  # FORCE_CHANGE_PASSWORD
_WORDY = re.compile(r"[A-Za-z_.:\-]+")  # gitleaks' allowlist: no digit, no symbol


def _context_spans(encoded: _Bytes, present: frozenset[str]) -> Iterator[Span]:
    if any(cue in present for cue in _CONTEXT_CUES):
        yield from _assignments(encoded)
        yield from _cli_flags(encoded)
    if any(cue in present for cue in _CLI_CUES):
        yield from _group_spans(_CLI_SHORT, encoded, PASSWORD)
    if "auth" in present:
        yield from _group_spans(_AUTH_HEADER, encoded, SECRET)
    if b"earer" in encoded.lower:  # a bearer token is never a flag: "-" may start one
        yield from _group_spans(_BEARER, encoded, WEAK, dash_ok=True)
    if b"://" in encoded.data:
        yield from _url_passwords(encoded)


def _assignments(encoded: _Bytes) -> Iterator[Span]:
    verdicts: dict[tuple[bytes, int, int], bool] = {}
    for match in _ASSIGNMENT.finditer(encoded.data):
        tier = _name_tier(encoded.data, match.start())
        if tier is None:
            continue
        found = _value_span(encoded, match, tier, verdicts)
        if found is None and match.lastindex == 4:  # "password: str = 'x'": a type hint
            after = _VALUE_AT.match(encoded.data, match.end())
            found = _value_span(encoded, after, tier, verdicts) if after else None
        if found:
            yield found


def _name_tier(data: bytes, cue_start: int) -> int | None:
    """How strong the name ending at the cue is, or None if it is no
    credential name (a primary key, a pagination token, a monkey)."""
    start, end = _name_start(data, cue_start), cue_start
    while end < len(data) and data[end] in _NAME_CHARS:
        end += 1
    name = data[start:end].decode("utf-8", "replace").lower().translate(_NAME_STRIP)
    if name.endswith(_NOT_CREDENTIAL_NAMES):
        return None
    if name == "pass":  # "Pass: 12/15" in a test report; db_pass, PASS= in .env are passwords
        return SECRET
    if name.endswith(_PASSWORD_WORDS):
        return PASSWORD
    return SECRET if any(word in name for word in _SECRET_WORDS) else WEAK


def _name_start(data: bytes, cue_start: int) -> int:
    """Where the name holding the cue starts (at most 64 bytes before it)."""
    start, floor = cue_start, max(0, cue_start - 64)
    while start > floor and data[start - 1] in _NAME_CHARS:
        start -= 1
    return start


_NAME_STRIP = str.maketrans("", "", "_.-$@\"'")


def _value_span(
    encoded: _Bytes, match: Any, tier: int, verdicts: dict[tuple[bytes, int, int], bool]
) -> Span | None:
    """The span of the value group, if the value passes; ``verdicts``
    remembers values already judged in this text."""
    group = match.lastindex or 0
    start, end = match.span(group)
    if group == 4:
        if encoded.data[end : end + 1] == b"&" and not _in_query(encoded.data, match.start()):
            # "Password=vyXo&VbB=p;"; at most MAX_VALUE more, so that a run of
            # "password=a&password=a&…" stays linear.
            rest = _UNQUOTED_REST.match(encoded.data, end, end + MAX_VALUE)
            end = rest.end() if rest else end
        # An escaped line break ends an unquoted value ("A=x\\nB=y" in JSON).
        breaks = [
            i
            for i in (encoded.data.find(b"\\n", start, end), encoded.data.find(b"\\r", start, end))
            if i > start
        ]
        end = min(breaks, default=end)
    key = (encoded.data[start:end], tier, group)
    if key not in verdicts:
        verdicts[key] = _value_ok(encoded.value(start, end), tier, quoted=group < 4)
    return (start, end) if verdicts[key] else None


# An unquoted value runs on through "&" where no URL query surrounds it (an
# ADO.NET or YAML password may hold one): to a blank, a quote or a separator.
_UNQUOTED_REST = re.compile(rb"[^\s\"'`,;<>|)\]}]*")


def _in_query(data: bytes, cue_start: int) -> bool:
    """Whether the assignment's name follows "?" or "&" (a URL's query, where
    "&" ends the value)."""
    start = _name_start(data, cue_start)
    return data[start - 1 : start] in (b"?", b"&")


def _value_ok(value: str, tier: int, *, quoted: bool, dash_ok: bool = False) -> bool:
    value = value.strip()
    if not 4 <= len(value) <= MAX_VALUE:
        return False
    if value.startswith(_NOT_VALUE_START) and not (dash_ok and value[:1] == "-"):
        return False  # --next-flag, PWD=/app (a path)
    if _placeholder(value):
        return False  # ${VAR}, <your-key>, ****
    if quoted and (any(ch.isspace() for ch in value) or _CONSTANT_NAME.fullmatch(value)):
        return False  # "Enter your password" is a label, FORCE_CHANGE_PASSWORD an enum value
    if not quoted and _CODE_VALUE.fullmatch(value) and not _random_letters(value):
        return False  # None, str, settings.X, os.environ[...]
    if _globally_allowed(value):
        return False
    if tier == PASSWORD:
        return True
    if tier == SECRET:
        return len(value) >= 8 and (not _WORDY.fullmatch(value) or _random_letters(value))
    return _random_enough(value)


def _random_letters(value: str) -> bool:
    """ "sukdRFpMukJglJ": letters only, but cases switching like a generated
    key's, not a word's or an identifier's ("ServiceAccountName")."""
    if len(value) < 12 or not value.isalpha():
        return False
    _, upper, _ = _class_counts(value)
    runs = len(_CLASS_RUNS.findall(value)) / len(value)
    return upper >= 3 and runs >= MIN_RUN_RATIO and _wordiness(value) <= MAX_WORDINESS


def _placeholder(value: str) -> bool:
    return value.startswith(_TEMPLATE_START) or _PLACEHOLDER_VALUE.fullmatch(value) is not None


def _globally_allowed(value: str) -> bool:
    """The rule files' global allowlists (true/false/null, $VAR, %s, paths …)."""
    data = value.encode("utf-8", "replace")
    return any(_allowed(allowlist, data) for allowlist in _engine().rules.allowlists)


def _random_enough(value: str) -> bool:
    """For a weak name ("key", "auth"): a long value that looks generated,
    like a UUID or a hex or base64 key, not a word, path or URL."""
    if len(value) < 16 or "://" in value or not any(ch.isdigit() for ch in value):
        return False
    if not any(ch.isalpha() for ch in value):
        return False
    return _wordiness(value) <= MAX_WORDINESS and _entropy(value) >= 3.0


def _cli_flags(encoded: _Bytes) -> Iterator[Span]:
    if b"-" not in encoded.data:
        return
    verdicts: dict[tuple[bytes, int, int], bool] = {}
    for match in _CLI_FLAG.finditer(encoded.data):
        flag = encoded.data[match.start() : match.start(match.lastindex or 0)].lower()
        tier = PASSWORD if b"pass" in flag or b"pwd" in flag else SECRET
        found = _value_span(encoded, match, tier, verdicts)
        if found:
            yield found


def _group_spans(
    pattern: Any, encoded: _Bytes, tier: int, *, dash_ok: bool = False
) -> Iterator[Span]:
    """The first matched group of each match, if it is a plausible value."""
    verdicts: dict[bytes, bool] = {}
    for match in pattern.finditer(encoded.data):
        start, end = match.span(match.lastindex or 0)
        value = encoded.data[start:end]
        if value not in verdicts:
            verdicts[value] = _value_ok(
                encoded.value(start, end), tier, quoted=True, dash_ok=dash_ok
            )
        if verdicts[value]:
            yield start, end


def _url_passwords(encoded: _Bytes) -> Iterator[Span]:
    for match in _URL_PASSWORD.finditer(encoded.data):
        value = encoded.value(*match.span(1))
        if len(value) <= MAX_VALUE and not _placeholder(value):
            yield match.span(1)


# --- private keys ---------------------------------------------------------------------

_PRIVATE_KEY_HEADER = re.compile(r"-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----")
_PRIVATE_KEY_END = re.compile(r"-----END[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----")


def _private_keys(text: str) -> Iterator[Span]:
    """From the BEGIN line up to the END line, or to the end of the text if
    it was cut off. Each search starts where the last one stopped: linear."""
    if "PRIVATE KEY" not in text:
        return
    at = text.find("-----BEGIN")
    while at >= 0:
        header = _PRIVATE_KEY_HEADER.match(text, at)
        if header and _PEM_BODY.match(text, header.end(), header.end() + 2048):
            end = _PRIVATE_KEY_END.search(text, header.end())
            stop = end.end() if end else len(text)
            yield at, stop
            at = text.find("-----BEGIN", stop)
        else:
            at = text.find("-----BEGIN", at + 1)


# --- prose --------------------------------------------------------------------------

# Prose that names a credential and then gives it: "my password is hunter2",
# "The password for the staging box is qwerty357?", "the snyk key … the new one
# is 4869a82e-…", "my generic token Monkey1456 stopped working".
_PROSE_PASSWORD_CUES = ("password", "passphrase", "passcode", "pin", "contraseña", "passwort",
                        "mot de passe", "senha", "wachtwoord", "lösenord", "hasło")  # fmt: skip
_PROSE_SECRET_CUES = ("token", "api key", "apikey", "secret", "access key")
_PROSE_KEY_CUES = ("key",)  # "the key is to …": only a value that looks generated
# Keywords of the one-pass keyword set that every cue word above contains.
_PROSE_GATE_WORDS = frozenset({"pass", "contrase", "token", "key", "secret", *_PROSE_GATES})
PROSE_WINDOW = 64  # characters after the cue word where "is …" may follow
# " is ", " was ", " es ", " ist ", " est ", " é ", " är ", " jest ", ": " after a few
# words on the same line.
_PROSE_VERB = re.compile(
    r"[ \t](?i:is|was|es|ist|est|é|är|jest|is now|now is)[ \t]*:?[ \t]+|:[ \t]+"
)
_PROSE_VALUE = re.compile(r"[\"'`]?([^\s\"'`\\]{4,128})")  # "\\n" in JSON ends it
_PROSE_DIRECT = re.compile(r"[ \t]+([^\s\"'`\\]{8,128})")
_CLOSERS = ".,;:)]}"  # sentence punctuation after a value ("?", "!" stay: "qwerty357?")


def _prose_passwords(text: str, lower: str, present: frozenset[str]) -> Iterator[Span]:
    """Credentials given in prose. For a password, any value with a digit or a
    symbol ("the password is incorrect" is far more common than an all-letter
    password); for a token or key, a value that looks generated or mixes
    letters and digits. The span covers the value as written, punctuation
    after it included: redacting a full stop is harmless, leaking a "$" is not."""
    if present.isdisjoint(_PROSE_GATE_WORDS):
        return  # none of the cue words below: one RE2 pass said so, not 17 finds
    tiers = (
        (_PROSE_PASSWORD_CUES, PASSWORD),
        (_PROSE_SECRET_CUES, SECRET),
        (_PROSE_KEY_CUES, WEAK),
    )
    for cues, tier in tiers:
        for cue in cues:
            at = lower.find(cue)
            while at >= 0:
                end = at + len(cue)
                if _prose_word(lower, at) and _outside_word(lower, end):
                    found = _prose_value(text, end, tier)
                    if found:
                        yield found
                at = lower.find(cue, end)


def _prose_word(lower: str, at: int) -> bool:
    """A word of prose, not the tail of an identifier (API_TOKEN, cfg.secret)."""
    return at == 0 or lower[at - 1] in " \t\r\n(\"'`*"


def _prose_value(text: str, end: int, tier: int) -> Span | None:
    line_end = text.find("\n", end, end + PROSE_WINDOW)
    window_end = line_end if line_end >= 0 else min(len(text), end + PROSE_WINDOW)
    verb = _PROSE_VERB.search(text, end, window_end)
    if verb is not None:
        match = _PROSE_VALUE.match(text, verb.end())
        if match:
            start, stop = match.span(1)
            stop = start + len(match.group(1).rstrip(_CLOSERS))
            if _prose_value_ok(text[start:stop], tier, direct=False):
                return start, stop
    direct = _PROSE_DIRECT.match(text, end)
    if direct:
        start, stop = direct.span(1)
        stop = start + len(direct.group(1).rstrip(_CLOSERS))
        if _prose_value_ok(text[start:stop], tier, direct=True):
            return start, stop
    return None


def _prose_value_ok(value: str, tier: int, *, direct: bool) -> bool:
    bare = value.rstrip("?")
    if len(bare) < 4 or bare.isalpha() or "://" in value or not value[0].isalnum():
        return False
    if not _value_ok(value, PASSWORD, quoted=False):
        return False  # a placeholder, a path, code (os.environ[...]), an allowlisted value
    letters = any(ch.isalpha() for ch in value)
    digits = any(ch.isdigit() for ch in value)
    if tier == WEAK:
        return _random_enough(value)
    if direct:  # "token Monkey1456": no verb, so the value must look like a credential
        return letters and digits and len(value) >= 8
    if tier == PASSWORD:
        return True
    return (letters and digits and len(value) >= 8) or _random_enough(value)


def _outside_word(text: str, i: int) -> bool:
    return not (0 <= i < len(text) and text[i].isalnum())


# --- random tokens and encoded blobs --------------------------------------------------

# Runs of 20+ base64/base64url characters, found by mapping every such
# character to "a" and searching for "a" * 20 (a C-speed string search),
# then judged in Python.
_TOKEN_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/_-"  # no "="
_RUN_MAP = str.maketrans({chr(i): "a" if chr(i) in _TOKEN_CHARS else " " for i in range(128)})
_MIN_TOKEN = 20
_HEX = re.compile(r"[0-9a-fA-F]+")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
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
MAX_TOKEN = 512  # longer runs are payloads, not keys: only their decoding can tell
MAX_BLOB = 8192  # characters of a blob that are decoded
MAX_DECODES = 32  # blobs decoded per text: a bound on the work an input can cause


def _random_tokens(text: str, lower: str, *, blobs: bool) -> Iterator[Span]:
    has_pem = "-----BEGIN" in text
    decodes = MAX_DECODES if blobs else 0
    verdicts: dict[tuple[str, bool], bool] = {}  # a repeated token is judged once
    for start, end in _long_runs(text):
        end += 2 if text.startswith("==", end) else 1 if text.startswith("=", end) else 0
        token, window = text[start:end], lower[max(0, start - 32) : start]
        if _public_material(token, window) or (has_pem and _in_public_pem(text, start)):
            continue
        key = (token, _TOKEN_CUE.search(window) is not None)
        if key not in verdicts:
            verdicts[key] = _looks_random(token, cued=key[1])
        if verdicts[key]:
            yield start, end
        elif decodes and len(token) >= 24 and not _UUID.fullmatch(token):
            decodes -= 1
            if _blob_is_secret(token):
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
    if len(token) > MAX_TOKEN or _HEX.fullmatch(token) or _UUID.fullmatch(token):
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


# "user:password", as in a Basic authorization header once decoded.
_USER_PASSWORD = re.compile(r"[\w.@+\-]{1,64}:[^\s:/]{4,128}")


def _blob_is_secret(token: str) -> bool:
    """Base64 or hex that decodes to text holding a credential (a password
    assignment, a vendor key, a private key, a "user:password" pair), or a
    long high-entropy base64 blob of binary that is no known media type:
    encrypted or packed data is a credential until shown otherwise."""
    raw = _decode_bytes(token[:MAX_BLOB])
    if raw is None:
        return False
    decoded = _as_text(raw)
    if decoded is None:
        return (
            len(token) > MAX_TOKEN
            and not _HEX.fullmatch(token)
            and not raw.startswith(_MEDIA_MAGIC)
            and _entropy(token[:MAX_BLOB]) >= MIN_BLOB_ENTROPY
        )
    if _USER_PASSWORD.fullmatch(decoded.strip()):
        return True
    return next(_find_in(decoded, decoded.lower(), blobs=False), None) is not None


# Images, fonts and PDFs pasted as base64 without a data: URI.
_MEDIA_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"%PDF", b"wOFF", b"wOF2", b"RIFF", b"BM")
MIN_BLOB_ENTROPY = 5.0  # bits per character; random base64 has close to 6


def _decode_bytes(token: str) -> bytes | None:
    try:
        if _HEX.fullmatch(token):
            return bytes.fromhex(token[: len(token) // 2 * 2])
        body = token.rstrip("=").replace("-", "+").replace("_", "/")
        body = body[: len(body) // 4 * 4 + (len(body) % 4 if len(body) % 4 > 1 else 0)]
        return base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except (ValueError, binascii.Error):
        return None


def _as_text(raw: bytes) -> str | None:
    """The bytes as text, if they are (nearly all) printable UTF-8; a cut
    at the end of a truncated blob is forgiven."""
    decoded = raw.decode("utf-8", "ignore")
    if not decoded or len(decoded.encode("utf-8")) < len(raw) - 3:
        return None
    printable = sum(ch.isprintable() or ch in "\n\r\t" for ch in decoded)
    return decoded if printable >= 0.95 * len(decoded) else None
