"""llama-cpp-python runtime: current model families (SmolLM2, Llama 3, Qwen…)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..catalog import LocalSpec
from ..local_tools import call_schema, tool_mode
from .base import GenerationParams, ProviderError, Tool
from .local_ctransformers import sampling


class LlamaCppEngine:
    bos_token = "<s>"
    eos_token = "</s>"

    def __init__(self, spec: LocalSpec, path: Path) -> None:
        import llama_cpp

        self._llama_cpp = llama_cpp
        self._path, self._spec = path, spec
        self._embedder: Any = None  # a second context in embedding mode, on first use
        self.llm = llama_cpp.Llama(
            model_path=str(path),
            n_ctx=spec.context_length,
            n_threads=spec.threads or None,
            n_gpu_layers=spec.gpu_layers,
            verbose=False,
        )
        self.context_length = self.llm.n_ctx()
        self._vocab = llama_cpp.llama_model_get_vocab(self.llm.model)
        self.special_tokens = self._special_tokens()
        self._grammars: dict[str, Any] = {}  # response_format JSON -> compiled grammar

    def _special_tokens(self) -> dict[str, int]:
        """Control and user-defined tokens: what a template may write as markers."""
        lib, vocab = self._llama_cpp, self._vocab
        wanted = lib.LLAMA_TOKEN_ATTR_CONTROL | lib.LLAMA_TOKEN_ATTR_USER_DEFINED
        found: dict[str, int] = {}
        for token in range(lib.llama_vocab_n_tokens(vocab)):
            if lib.llama_vocab_get_attr(vocab, token) & wanted:
                text = lib.llama_vocab_get_text(vocab, token).decode(errors="replace")
                if text:
                    found.setdefault(text, token)
        return found

    def tokenize(self, text: str, add_bos: bool = True) -> list[int]:
        # special=False: text that spells a special token stays text; the
        # template's markers are added by id (see local.prompt_tokens).
        return self.llm.tokenize(text.encode(), add_bos=add_bos, special=False)

    def generate(self, tokens: list[int], params: GenerationParams) -> Iterator[int]:
        top_k, top_p, temperature = sampling(params)
        # The sampler takes a 32-bit seed; without one, the runtime's default.
        seed = self._llama_cpp.LLAMA_DEFAULT_SEED if params.seed is None else params.seed
        self.llm.set_seed(seed & 0xFFFFFFFF)
        if params.seed is not None:
            # Reusing the last prompt's cache evaluates its end in another
            # batch; the logits move a little and a seeded sample can too.
            self.llm.reset()
        # OpenAI's penalties are llama.cpp's: logit -= count * frequency +
        # (count > 0) * presence, over the tokens generated so far (llama.cpp
        # counts the last 64). They change the sampling, never the logits
        # token_logprobs reads.
        return self.llm.generate(
            tokens, top_k=top_k, top_p=top_p, temp=temperature, repeat_penalty=1.1, reset=True,
            frequency_penalty=params.frequency_penalty or 0.0,
            presence_penalty=params.presence_penalty or 0.0,
            grammar=self._grammar(params),
        )  # fmt: skip

    def _grammar(self, params: GenerationParams) -> Any:
        """The llama.cpp grammar that makes every answer a call of one of the
        tools (or, for tool_choice "auto", plain text), or valid JSON (of the
        schema, for json_schema), or None for free text."""
        mode, tools = tool_mode(params)
        key = json.dumps([mode, [(t.name, t.parameters) for t in tools]]) if mode else ""
        key = key or params.response_format
        if not key:
            return None
        if key not in self._grammars:
            self._grammars[key] = (
                tool_grammar(mode, tools) if mode else grammar_for(self._llama_cpp, key)
            )
        return self._grammars[key]

    def _logits(self) -> Any:
        """The logits the latest token was sampled from (generate() yields
        before it evaluates the next token): the model's own distribution,
        before temperature, penalties and grammar."""
        import numpy as np

        lib, n_vocab = self._llama_cpp, self.llm.n_vocab()
        return np.ctypeslib.as_array(lib.llama_get_logits_ith(self.llm.ctx, -1), (n_vocab,))

    def top_logprob(self) -> float:
        """The log-probability of the likeliest next token: how sure the model
        was at this step, whichever token was sampled (one pass over the
        vocabulary)."""
        import numpy as np

        logits = self._logits()
        return float(-np.log(np.exp(logits - logits.max()).sum()))

    def token_logprobs(self, token: int, top: int) -> dict[str, Any]:
        """OpenAI's logprobs entry for ``token`` and the ``top`` likeliest."""
        import numpy as np

        logits = self._logits()
        shifted = logits - logits.max()
        logprobs = shifted - np.log(np.exp(shifted).sum())
        best = np.argpartition(-logprobs, top)[:top] if top else np.array([], dtype=int)
        best = best[np.argsort(-logprobs[best])]
        return {
            **self._token_entry(token, float(logprobs[token])),
            "top_logprobs": [self._token_entry(int(t), float(logprobs[t])) for t in best],
        }

    def _token_entry(self, token: int, logprob: float) -> dict[str, Any]:
        raw = self.llm.detokenize([token])
        return {"token": raw.decode(errors="replace"), "logprob": logprob, "bytes": list(raw)}

    def is_end(self, token: int) -> bool:
        return bool(self._llama_cpp.llama_vocab_is_eog(self._vocab, token))

    def detokenize(self, tokens: list[int]) -> bytes:
        return self.llm.detokenize(tokens)

    def embed(self, texts: list[str]) -> tuple[list[list[float]], int]:
        """Mean-pooled, normalised embeddings, and the tokens they read."""
        if self._embedder is None:
            self._embedder = self._llama_cpp.Llama(
                model_path=str(self._path),
                n_ctx=self._spec.context_length,
                n_threads=self._spec.threads or None,
                n_gpu_layers=self._spec.gpu_layers,
                embedding=True,
                pooling_type=self._llama_cpp.LLAMA_POOLING_TYPE_MEAN,
                verbose=False,
            )
        counts = [len(self._embedder.tokenize(t.encode(), add_bos=True)) for t in texts]
        if max(counts, default=0) > self._embedder.n_ctx():
            raise ProviderError(
                f"An input is {max(counts)} tokens; this model reads {self._embedder.n_ctx()}.",
                code="context_length_exceeded", status=400, fallback=True,
            )  # fmt: skip
        tokens = sum(counts)
        vectors = self._embedder.embed(texts, normalize=True, truncate=False)
        return [list(map(float, v)) for v in vectors], tokens

    def close(self) -> None:
        if self._embedder is not None:
            self._embedder.close()
        self.llm.close()


def grammar_for(llama_cpp: Any, response_format: str) -> Any:
    """Compile OpenAI's ``response_format`` (JSON text) to a llama.cpp grammar."""
    from llama_cpp.llama_grammar import JSON_GBNF, LlamaGrammar

    spec = json.loads(response_format)
    schema = (spec.get("json_schema") or {}).get("schema")
    try:
        if spec["type"] == "json_schema" and schema:
            return LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)
        return LlamaGrammar.from_string(JSON_GBNF, verbose=False)
    except Exception as exc:  # the converter rejects what it cannot express
        raise ProviderError(
            f"This JSON schema cannot be enforced on a local model ({type(exc).__name__}: {exc}).",
            code="unsupported_parameter",
            status=400,
            fallback=True,
        ) from exc


# Plain text for tool_choice "auto": anything that does not open a JSON object.
_AUTO_ROOT = """
root ::= hh-call | hh-text
hh-text ::= [^{ \\t\\n] [^\\x00]*
"""


def tool_grammar(mode: str, tools: tuple[Tool, ...]) -> Any:
    """A grammar for one call of one of ``tools`` (see ..local_tools), or
    for mode "auto" that or a plain answer."""
    from llama_cpp.llama_grammar import LlamaGrammar, json_schema_to_gbnf

    try:
        gbnf = json_schema_to_gbnf(json.dumps(call_schema(tools)))
        if mode == "auto":
            gbnf = re.sub(r"^root ::=", "hh-call ::=", gbnf, count=1, flags=re.M) + _AUTO_ROOT
        return LlamaGrammar.from_string(gbnf, verbose=False)
    except Exception as exc:  # the converter rejects what it cannot express
        raise ProviderError(
            f"A tool's parameters cannot be enforced locally ({type(exc).__name__}: {exc}).",
            code="unsupported_parameter", status=400, fallback=True,
        ) from exc  # fmt: skip
