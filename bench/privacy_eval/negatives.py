"""Texts without any sensitive value.

- ``numbers``: number-heavy near-misses written here: UUIDs, hashes, version
  strings, order and invoice numbers, timestamps and dates, log lines, maths
  and statistics, prices, tracking-style codes, ISBNs, build ids, coordinates.
- ``prose``: paragraphs of the docstrings in CPython's own standard library
  (read with ``ast`` from the interpreter's ``Lib/`` directory, nothing
  imported), kept only when they pass ``prose_is_clean``.
- ``code``: code and configuration that names credentials without holding
  one (code.py with ``negative=True``).
"""

# Templates and generators are one text per line: easier to read than wrapped.
# ruff: noqa: E501

from __future__ import annotations

import ast
import hashlib
import math
import random
import re
import sysconfig
import uuid
from collections.abc import Callable
from functools import cache
from pathlib import Path

from stdnum import ean, isbn

from bench.privacy_eval import code

# --- number-heavy near-misses ---------------------------------------------------


def _hash(rng: random.Random, algo: str) -> str:
    return hashlib.new(algo, rng.randbytes(16)).hexdigest()


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _semver(rng: random.Random) -> str:
    base = f"{rng.randint(0, 30)}.{rng.randint(0, 40)}.{rng.randint(0, 120)}"
    return base + rng.choice(("", "", f"-rc.{rng.randint(1, 5)}", f"+build.{rng.randint(1, 9999)}"))


def _iso_time(rng: random.Random) -> str:
    return (
        f"20{rng.randint(15, 26)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        f"T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}"
        f".{rng.randint(0, 999):03d}Z"
    )


def _isbn(rng: random.Random) -> str:
    body = "978" + "".join(rng.choice("0123456789") for _ in range(9))
    number = body + ean.calc_check_digit(body)
    return isbn.format(number)


_ITEMS: tuple[Callable[[random.Random], str], ...] = (
    lambda r: f"request_id={_uuid(r)} trace_id={_hash(r, 'md5')} span={r.getrandbits(64):016x}",
    lambda r: f"sha256:{_hash(r, 'sha256')}  dist/app-{_semver(r)}.tar.gz",
    lambda r: f"commit {_hash(r, 'sha1')}\nMerge: {_hash(r, 'sha1')[:7]} {_hash(r, 'sha1')[:7]}",
    lambda r: f"md5 {_hash(r, 'md5')}  backup-{r.randint(1, 365):03d}.img",
    lambda r: (
        f"Upgraded numpy from {_semver(r)} to {_semver(r)}; node v{r.randint(14, 22)}.{r.randint(0, 20)}.{r.randint(0, 9)}"
    ),
    lambda r: (
        f"Order #{r.randint(10_000_000, 99_999_999)} shipped on {_iso_time(r)[:10]}, {r.randint(1, 9)} items"
    ),
    lambda r: (
        f"Invoice INV-{r.randint(2019, 2026)}-{r.randint(1, 999_999):06d}, total €{r.randint(1, 9)},{r.randint(0, 999):03d}.{r.randint(0, 99):02d}, due in {r.choice((14, 30, 60))} days"
    ),
    lambda r: (
        f"{_iso_time(r)} INFO worker[{r.randint(1, 16)}] processed {r.randint(1, 99999)} items in {r.uniform(0.1, 99):.3f}s (p99 {r.uniform(1, 500):.1f} ms)"
    ),
    lambda r: (
        f"{_iso_time(r)} WARN gc pause {r.randint(1, 900)}ms heap {r.randint(100, 16000)}MB/{r.randint(16000, 64000)}MB"
    ),
    lambda r: (
        f"epoch {r.randint(1_500_000_000, 1_800_000_000)} = {r.randint(1_500_000_000_000, 1_800_000_000_000)} ms"
    ),
    lambda r: (
        f"mean = {r.uniform(0, 100):.2f}, sd = {r.uniform(0, 5):.2f}, n = {r.randint(20, 50000)}, p = {r.uniform(0, 0.05):.4f}, 95% CI [{r.uniform(0, 50):.2f}, {r.uniform(50, 100):.2f}]"
    ),
    lambda r: (
        f"x = {r.uniform(-1000, 1000):.10f}; y = {r.uniform(-1, 1):.15f}; x*y = {r.uniform(-1000, 1000):.12f}"
    ),
    lambda r: f"{r.randint(10, 25)}! = {math.factorial(r.randint(10, 25))}",
    lambda r: (
        "["
        + ", ".join(f"[{r.random():.4f}, {r.random():.4f}, {r.random():.4f}]" for _ in range(3))
        + "]"
    ),
    lambda r: (
        f"Price: ${r.randint(1, 9)},{r.randint(0, 999):03d}.{r.randint(0, 99):02d} (was ${r.randint(1, 9)},{r.randint(0, 999):03d}.99); ¥{r.randint(1000, 999999):,}"
    ),
    lambda r: (
        f"Tracking: 1Z{''.join(r.choice('ABCDEFGHJKLMNPRSTUVWXYZ0123456789') for _ in range(6))}{r.randint(10**9, 10**10 - 1)} - parcel {r.randint(1, 4)} of 4"
    ),
    lambda r: f"ISBN {_isbn(r)}, {r.randint(100, 900)} pages, {r.randint(1, 12)}th edition",
    lambda r: (
        f"Build #{r.randint(2019, 2026)}{r.randint(1, 12):02d}{r.randint(1, 28):02d}.{r.randint(1, 40)} (job {r.randint(1_000_000, 9_999_999)}, runner {r.randint(1, 64)})"
    ),
    lambda r: (
        f"Coordinates {r.uniform(-90, 90):.6f}, {r.uniform(-180, 180):.6f} (elevation {r.randint(0, 4000)} m)"
    ),
    lambda r: (
        f"resolution {r.choice((1920, 2560, 3840))}x{r.choice((1080, 1440, 2160))} @ {r.choice((60, 120, 144))} Hz, {r.uniform(1, 32):.1f} GB of {r.choice((16, 32, 64))} GB used"
    ),
    lambda r: (
        f"HTTP/1.1 {r.choice((200, 201, 304, 404, 500, 503))} in {r.randint(1, 9999)} ms, {r.randint(100, 10**7)} bytes, cache hit ratio {r.uniform(0, 1):.3f}"
    ),
    lambda r: (
        "t,value\n" + "\n".join(f"{i},{r.uniform(-100, 100):.4f}" for i in range(r.randint(3, 8)))
    ),
    lambda r: (
        f"Part no. {r.randint(1000, 9999)}-{r.randint(100, 999)}-{r.randint(10, 99)}, batch {r.randint(100000, 999999)}, qty {r.randint(1, 500)}"
    ),
    lambda r: (
        f"Python {r.randint(3, 3)}.{r.randint(8, 14)}.{r.randint(0, 12)} on linux, pid {r.randint(100, 4_194_304)}, uptime {r.randint(0, 999)}d {r.randint(0, 23)}h"
    ),
    lambda r: (
        f"Sprint {r.randint(1, 80)}: {r.randint(10, 99)} of {r.randint(100, 140)} points, velocity {r.uniform(10, 60):.1f}, {r.randint(0, 100)}% done"
    ),
    lambda r: (
        f"Meeting moved to {r.randint(1, 28)}/{r.randint(1, 12)}/{r.randint(2024, 2027)} at {r.randint(8, 18)}:{r.choice(('00', '15', '30', '45'))}, room {r.randint(100, 999)}"
    ),
    lambda r: f"Temperatures: {', '.join(f'{r.uniform(-10, 35):.1f}°C' for _ in range(6))}",
    lambda r: (
        f"docker image {_hash(r, 'sha256')[:12]} {r.randint(10, 999)}MB created {r.randint(2, 59)} minutes ago"
    ),
    lambda r: (
        f"Population {_spaced(r.randint(10**6, 10**9))} ({r.randint(2010, 2024)} census), area {_spaced(r.randint(10**4, 10**7))} km²"
    ),
    lambda r: (
        f"Revenue {_spaced(r.randint(10**5, 10**8))},{r.randint(0, 99):02d} € (+{r.uniform(0, 30):.1f} % year on year), costs {_spaced(r.randint(10**5, 10**8))},{r.randint(0, 99):02d} €"
    ),
    lambda r: (
        f"elapsed {r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}.{r.randint(0, 999):03d}, cpu {r.randint(0, 9):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}.{r.randint(0, 999):03d}, exit code {r.choice((0, 1, 2, 137, 143))}"
    ),
    lambda r: (
        "Numbers drawn: "
        + " ".join(f"{n:02d}" for n in sorted(r.sample(range(1, 50), 6)))
        + f", bonus {r.randint(1, 10):02d}"
    ),
    lambda r: (
        f"Serial SN-{r.getrandbits(16):04X}-{r.getrandbits(16):04X}-{r.getrandbits(16):04X}, firmware {_semver(r)}"
    ),
    lambda r: (
        f"Model with {_spaced(r.randint(10**6, 10**10))} parameters, input {r.choice((224, 384, 512))} x {r.choice((224, 384, 512))} x 3, batch {r.choice((8, 16, 32, 64))}"
    ),
    lambda r: f"Readings every 15 min: {' '.join(f'{r.uniform(18, 26):.1f}' for _ in range(8))}",
    lambda r: (
        f"Score {r.randint(0, 120)} - {r.randint(0, 120)} after {r.randint(1, 4)} quarters; standings +{r.randint(1, 99)} / -{r.randint(1, 99)}"
    ),
    lambda r: (
        f"Chapter {r.randint(1, 40)}, verses {r.randint(1, 20)}-{r.randint(21, 60)}; pages {r.randint(100, 900)}-{r.randint(901, 1500)}"
    ),
    lambda r: (
        f"Rack {r.randint(1, 40)} slot {r.randint(1, 16)} port {r.randint(1, 48)}, {r.choice((10, 25, 40, 100))} Gbit/s, {r.randint(0, 10**6)} errors since {r.randint(2019, 2026)}-{r.randint(1, 12):02d}"
    ),
)


def _spaced(number: int) -> str:
    """Thousands separated by spaces, as much of Europe writes them."""
    return f"{number:,}".replace(",", " ")


def numbers(rng: random.Random) -> str:
    items = [rng.choice(_ITEMS)(rng) for _ in range(rng.randint(1, 4))]
    return "\n".join(items)


# --- prose from Python's own docstrings -------------------------------------------

_DROP_WORDS = re.compile(
    r"copyright|author|written by|contributed|maintain|thanks|licen[cs]e|\(c\)|mailto",
    re.IGNORECASE,
)
# Capitalised words that are code or standards, not names of people or bodies.
_ALLOWED_CAPITALS = frozenset(
    "True False None Python Unicode I ASCII UTF POSIX Unix Windows URL URLs HTTP HTTPS API "
    "CPU JSON XML HTML CSV SQL TCP UDP IP IPv4 IPv6 OS GIL MIME UUID TLS SSL".split()
)
_WORD = re.compile(r"[A-Za-z][\w']*")


def prose_is_clean(paragraph: str) -> bool:
    """The filter that keeps personal data out of the prose negatives: a
    paragraph of 200-1500 characters of running prose (no doctest, at most
    a few symbols) with no "@", no URL, no run of 4+ digits, no authorship
    or licence words, and no capitalised word except at the start of a
    sentence, unless it is CamelCase or ALL-CAPS code or on a short list of
    technical words. That last rule drops any name of a person, company or
    place, at the cost of many harmless paragraphs."""
    if not 200 <= len(paragraph) <= 1500 or ">>>" in paragraph:
        return False
    if "@" in paragraph or "://" in paragraph or "www." in paragraph:
        return False
    if re.search(r"[0-9]{4}", paragraph) or _DROP_WORDS.search(paragraph):
        return False
    if sum(c.isalpha() or c.isspace() for c in paragraph) < 0.9 * len(paragraph):
        return False
    return not any(_suspect_capital(paragraph, m) for m in _WORD.finditer(paragraph))


def _suspect_capital(text: str, match: re.Match[str]) -> bool:
    word = match.group()
    if not word[0].isupper() or word in _ALLOWED_CAPITALS:
        return False
    if word.isupper() or any(c.isupper() for c in word[1:]) or "_" in word:
        return False  # ALL-CAPS, CamelCase or snake_case: code
    before = text[: match.start()].rstrip()
    return bool(before) and before[-1] not in ".!?:"


@cache
def stdlib_paragraphs() -> tuple[str, ...]:
    """Every clean docstring paragraph of the standard library, in file order."""
    lib = Path(sysconfig.get_paths()["stdlib"])
    found: list[str] = []
    for path in sorted(lib.glob("*.py")) + sorted(lib.glob("[a-z]*/*.py")):
        if "test" in path.parts[-2:][0] or path.name.startswith("test"):
            continue
        for doc in _docstrings(path):
            for paragraph in re.split(r"\n\s*\n", doc):
                paragraph = " ".join(paragraph.split())
                if prose_is_clean(paragraph):
                    found.append(paragraph)
    return tuple(dict.fromkeys(found))


def _docstrings(path: Path) -> list[str]:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError, ValueError):
        return []
    nodes = [tree] + [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    ]
    return [doc for node in nodes if (doc := ast.get_docstring(node))]


# --- code without credentials -----------------------------------------------------


class _Collector:
    def __init__(self) -> None:
        self.parts: list[str] = []

    def add(self, text: str) -> None:
        self.parts.append(text)

    def value(self, value: str, category: str, type_: str) -> None:
        raise AssertionError("a negative text got a value")


def code_text(rng: random.Random) -> str:
    collector = _Collector()
    code.write(collector, rng, negative=True)
    return "".join(collector.parts)


def make(kind: str, rng: random.Random, count: int) -> list[str]:
    if kind == "numbers":
        return [numbers(rng) for _ in range(count)]
    if kind == "code":
        return [code_text(rng) for _ in range(count)]
    paragraphs = list(stdlib_paragraphs())
    return rng.sample(paragraphs, min(count, len(paragraphs)))
