"""What the builder and the harness share: categories, the record format and
the tune/test split rule. No third-party imports, so the harness runs on the
committed data without Faker installed."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data" / "set.jsonl"
SEED = 20261202

CATEGORIES: tuple[str, ...] = (
    "credential",
    "card",
    "phone",
    "ip",
    "mac",
    "ssn",
    "iban",
    "email",
    "person",
    "address",
    "org",
    "national_id",
)
# Identifiers with a fixed shape (and mostly a checksum): the recall target is 0.99.
STRUCTURED: tuple[str, ...] = (
    "credential",
    "card",
    "phone",
    "ip",
    "mac",
    "ssn",
    "iban",
    "email",
    "national_id",
)
DISGUISES: tuple[str, ...] = (
    "none",
    "zwsp",  # U+200B zero width space
    "zwj",  # U+200D zero width joiner
    "wj",  # U+2060 word joiner
    "bom",  # U+FEFF zero width no-break space
    "shy",  # U+00AD soft hyphen
    "nbsp",  # U+00A0 in place of the value's spaces, or inserted between groups
    "fullwidth_digits",  # U+FF10..U+FF19
    "arabic_indic_digits",  # U+0660..U+0669
    "fullwidth_at",  # U+FF20 in an email address
)
SPLITS: tuple[str, ...] = ("tune", "test")
_SPLIT_SALT = b"hybridhub-privacy-eval-v1:"


def split_of(text_id: str) -> str:
    """The split rule: the first byte of SHA-256(salt + id), even → tune,
    odd → test. It depends on the id alone, so a text never changes sides
    when the set grows or other texts change."""
    digest = hashlib.sha256(_SPLIT_SALT + text_id.encode()).digest()
    return "tune" if digest[0] % 2 == 0 else "test"


@dataclass
class Span:
    start: int
    end: int
    category: str
    type: str  # finer kind, e.g. "card:maestro", "credential:github_pat"
    disguise: str = "none"


@dataclass
class Record:
    id: str
    kind: str  # "ticket", "code:python", "negative:numbers", …
    locale: str
    disguise: str
    text: str
    spans: list[Span] = field(default_factory=list)
    split: str = ""

    @property
    def negative(self) -> bool:
        return self.kind.startswith("negative:")

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, line: str) -> Record:
        raw = json.loads(line)
        raw["spans"] = [Span(**span) for span in raw["spans"]]
        return cls(**raw)


def write_records(records: Iterable[Record], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for record in records:
            out.write(record.to_json() + "\n")


def read_records(path: Path = DATA) -> Iterator[Record]:
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                yield Record.from_json(line)
