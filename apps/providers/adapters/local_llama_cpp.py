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

    def tokenize(self, text: str) -> list[int]:
        return self.llm.tokenize(text.encode(), add_bos=True, special=True)

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
