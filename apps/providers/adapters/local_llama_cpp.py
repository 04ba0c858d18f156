"""llama-cpp-python runtime: current model families (SmolLM2, Llama 3, Qwen…)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ..catalog import LocalSpec
from .base import GenerationParams
from .local_ctransformers import sampling


class LlamaCppEngine:
    bos_token = "<s>"
    eos_token = "</s>"

    def __init__(self, spec: LocalSpec, path: Path) -> None:
        import llama_cpp

        self._llama_cpp = llama_cpp
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
        return self.llm.generate(
            tokens, top_k=top_k, top_p=top_p, temp=temperature, repeat_penalty=1.1, reset=True
        )

    def is_end(self, token: int) -> bool:
        return bool(self._llama_cpp.llama_vocab_is_eog(self._vocab, token))

    def detokenize(self, tokens: list[int]) -> bytes:
        return self.llm.detokenize(tokens)

    def close(self) -> None:
        self.llm.close()
