"""ctransformers runtime: GGUF/GGML models, GPU offload through ``gpu_layers``."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from ctypes import c_int
from pathlib import Path

from ..catalog import LocalSpec
from .base import GenerationParams

# OpenAI's temperature 0 means greedy; these runtimes want top_k=1 for that.
DEFAULT_TEMPERATURE = 0.8
DEFAULT_TOP_P = 0.95


def sampling(params: GenerationParams) -> tuple[int, float, float]:
    """(top_k, top_p, temperature) for llama.cpp-style samplers."""
    temperature = DEFAULT_TEMPERATURE if params.temperature is None else params.temperature
    top_p = DEFAULT_TOP_P if params.top_p is None else params.top_p
    if temperature <= 0:
        return 1, 1.0, 1.0
    return 40, top_p, temperature


@functools.cache
def _library(gpu: bool) -> str:
    """The native library to load, chosen once per process: left to itself,
    ctransformers detects the CPU's features on every model load by running
    a py-cpuinfo subprocess (a second or more on a busy machine)."""
    from ctransformers.lib import find_library

    return str(find_library(gpu=gpu))


class CTransformersEngine:
    bos_token = "<s>"
    eos_token = "</s>"

    def __init__(self, spec: LocalSpec, path: Path) -> None:
        from ctransformers import AutoModelForCausalLM

        self._threads = spec.threads or -1
        self.llm = AutoModelForCausalLM.from_pretrained(
            str(path),
            model_type=spec.model_type or None,
            gpu_layers=spec.gpu_layers,
            threads=self._threads,
            context_length=spec.context_length,
            lib=_library(spec.gpu_layers > 0),
        )
        self.context_length = self.llm.context_length
        # Its tokenizer (llama.cpp of mid-2023) never reads special-token text
        # as special tokens, in the template or in a message: all plain text.
        self.special_tokens: dict[str, int] = {}

    def tokenize(self, text: str, add_bos: bool = True) -> list[int]:
        # Not llm.tokenize(): it sizes its buffer by characters, but byte
        # fallback and the leading-space piece can yield more tokens than
        # characters, and the native side writes past the end (heap
        # corruption, seen as crashes elsewhere later). One token per UTF-8
        # byte, plus BOS and the leading space, is the most it can write.
        data = text.encode()
        buffer = (c_int * (len(data) + 2))()
        add_bos = add_bos and self.llm.model_type == "llama"
        count = self.llm.ctransformers_llm_tokenize(data, add_bos, buffer)
        return buffer[:count]

    def generate(self, tokens: list[int], params: GenerationParams) -> Iterator[int]:
        top_k, top_p, temperature = sampling(params)
        return self.llm.generate(
            tokens,
            top_k=top_k,
            top_p=top_p,
            temperature=temperature,
            repetition_penalty=1.1,
            threads=self._threads,
            reset=True,
        )

    def is_end(self, token: int) -> bool:
        return bool(self.llm.is_eos_token(token))

    def detokenize(self, tokens: list[int]) -> bytes:
        return self.llm.detokenize(tokens, decode=False)  # type: ignore[no-any-return]

    def close(self) -> None:
        # Free the native model now, while the library is loaded; left to
        # interpreter shutdown, ctransformers can crash on its way out.
        llm, self.llm = self.llm, None
        llm.__del__()
        llm._llm = None
