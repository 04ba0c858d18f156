"""In-process local models: one warm engine per model, one generation at a time.

Each model owns a single worker thread, so inference never blocks the event
loop and the (not thread-safe) engine only ever runs one generation. Requests
beyond the running one wait in a bounded queue; a full queue or a wait past
``queue_timeout_seconds`` is refused with a ProviderError the caller can fall
over on. A cancelled request (client gone) stops its generation at the next
token.
"""

from __future__ import annotations

import asyncio
import codecs
import logging
import math
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..catalog import LocalSpec, ModelSpec
from ..chat_templates import (
    ChatFormat,
    Special,
    chat_format,
    prompt_fragments,
    render_prompt_parts,
    template_messages,
)
from ..egress import Egress
from ..files import resolve_model_file
from ..local_tools import tool_call_pieces, tool_mode, with_tool_prompt
from .base import (
    ChatMessage,
    Embeddings,
    GenerationParams,
    Piece,
    PromptTokens,
    ProviderError,
    TextDelta,
    ToolCallDelta,
    Usage,
)

logger = logging.getLogger(__name__)


class LocalEngine(Protocol):
    """What a local runtime must offer; the adapter does the rest."""

    context_length: int
    bos_token: str
    eos_token: str
    # Text of the special tokens the runtime's vocabulary has, and their ids.
    special_tokens: dict[str, int]

    def tokenize(self, text: str, add_bos: bool = True) -> list[int]:
        """``text`` as plain text: special-token text in it stays characters."""
        ...

    def generate(self, tokens: list[int], params: GenerationParams) -> Iterator[int]:
        """Sampled token ids, ending before (or at) the model's end of turn."""
        ...

    def is_end(self, token: int) -> bool: ...

    def detokenize(self, tokens: list[int]) -> bytes: ...

    def close(self) -> None: ...


class EngineFactory(Protocol):
    def __call__(self, spec: LocalSpec, path: Path) -> LocalEngine: ...


class StopMatcher:
    """Cuts text at the first stop string, holding back possible prefixes."""

    def __init__(self, stops: tuple[str, ...]) -> None:
        self.stops = tuple(s for s in stops if s)
        self.buffer = ""

    def feed(self, text: str) -> tuple[str, bool]:
        self.buffer += text
        hits = [i for i in (self.buffer.find(s) for s in self.stops) if i >= 0]
        if hits:
            out, self.buffer = self.buffer[: min(hits)], ""
            return out, True
        hold = max(
            (k for s in self.stops for k in range(1, len(s)) if self.buffer.endswith(s[:k])),
            default=0,
        )
        cut = len(self.buffer) - hold
        out, self.buffer = self.buffer[:cut], self.buffer[cut:]
        return out, False

    def flush(self) -> str:
        out, self.buffer = self.buffer, ""
        return out


_STARTED = object()


@dataclass
class _Job:
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[object] = field(default_factory=asyncio.Queue)
    cancel: threading.Event = field(default_factory=threading.Event)

    def post(self, item: object) -> None:
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)
        except RuntimeError:  # the request's event loop is gone
            self.cancel.set()


class LocalAdapter:
    def __init__(self, model: ModelSpec, engine_factory: EngineFactory) -> None:
        assert model.local is not None
        self.model = model
        self.spec = model.local
        self.format = chat_format(self.spec.chat_template, self.spec.custom_chat_template)
        self._factory = engine_factory
        self._engine: LocalEngine | None = None
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"local-{model.name}")
        self._lock = threading.Lock()
        self._in_flight = 0  # the running generation plus those queued

    @property
    def in_flight(self) -> int:
        """The running generation plus those queued (for /metrics)."""
        return self._in_flight

    # --- event-loop side --------------------------------------------------

    async def warm(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, self._engine_get)

    async def count_tokens(self, text: str) -> int:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, lambda: len(self._engine_get().tokenize(text))
        )

    async def health(self) -> dict[str, object]:
        return {"loaded": self._engine is not None, "in_flight": self._in_flight}

    async def stream_chat(
        self, messages: list[ChatMessage], params: GenerationParams, egress: Egress
    ) -> AsyncIterator[Piece]:
        # In-process: nothing leaves the machine, whatever ``egress`` allows.
        self._admit()
        job = _Job(loop=asyncio.get_running_loop())
        try:
            self._executor.submit(self._run, job, messages, params)
        except RuntimeError:  # executor shut down by close()
            self._release()
            raise ProviderError(
                "Local model is shutting down.", code="model_unavailable", status=503
            ) from None
        try:
            try:
                async with asyncio.timeout(self.spec.queue_timeout_seconds):
                    await job.queue.get()  # _STARTED: our turn has come
            except TimeoutError:
                raise ProviderError(
                    f"Model {self.model.name!r} is busy: no turn within "
                    f"{self.spec.queue_timeout_seconds:g}s.",
                    code="model_busy",
                    status=503,
                    retry_after=self.spec.queue_timeout_seconds,
                ) from None
            while True:
                item = await job.queue.get()
                if isinstance(item, ProviderError):
                    raise item
                assert isinstance(item, TextDelta | ToolCallDelta | PromptTokens | Usage)
                yield item
                if isinstance(item, Usage):
                    return
        finally:
            job.cancel.set()

    async def embed(self, texts: list[str], dimensions: int | None, egress: Egress) -> Embeddings:
        """Embeddings from the runtime's embedding mode (in-process: nothing leaves)."""
        if dimensions is not None:
            raise ProviderError(
                f"Local model {self.model.name!r} cannot shorten embeddings (dimensions).",
                code="unsupported_parameter", status=400, fallback=True,
            )  # fmt: skip
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._embed, texts)

    def _embed(self, texts: list[str]) -> Embeddings:
        embed = getattr(self._engine_get(), "embed", None)
        if embed is None:
            raise ProviderError(
                f"Local model {self.model.name!r} ({self.model.provider.kind}) cannot embed.",
                code="unsupported_parameter", status=400, fallback=True,
            )  # fmt: skip
        try:
            vectors, tokens = embed(texts)
        except ProviderError:
            raise
        except Exception as exc:
            logger.exception("Local embedding failed on %s", self.model.name)
            raise ProviderError(
                f"Local model {self.model.name!r} failed to embed ({type(exc).__name__}).",
                code="model_error", status=500,
            ) from exc  # fmt: skip
        return Embeddings(vectors, tokens)

    def _admit(self) -> None:
        with self._lock:
            if self._in_flight > self.spec.max_queue:
                raise ProviderError(
                    f"Model {self.model.name!r} is busy: {self.spec.max_queue} requests "
                    "are already waiting.",
                    code="model_busy",
                    status=503,
                    retry_after=self.spec.queue_timeout_seconds,
                )
            self._in_flight += 1

    def _release(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
        if self._engine is not None:
            self._engine.close()
            self._engine = None

    # --- worker-thread side -------------------------------------------------

    def _engine_get(self) -> LocalEngine:
        if self._engine is None:
            try:
                path = resolve_model_file(self.spec.model_file)
                self._engine = self._factory(self.spec, path)
            except Exception as exc:
                logger.exception("Loading local model %s failed", self.model.name)
                raise ProviderError(
                    f"Local model {self.model.name!r} could not be loaded: {exc}",
                    code="model_unavailable",
                    status=503,
                ) from exc
            logger.info("Loaded local model %s", self.model.name)
        return self._engine

    def _run(self, job: _Job, messages: list[ChatMessage], params: GenerationParams) -> None:
        try:
            if job.cancel.is_set():
                return  # gave up waiting before its turn
            job.post(_STARTED)
            for item in self._generate(job, messages, params):
                job.post(item)
        except ProviderError as exc:
            job.post(exc)
        except Exception as exc:
            logger.exception("Local generation failed on %s", self.model.name)
            job.post(
                ProviderError(
                    f"Local model {self.model.name!r} failed ({type(exc).__name__}).",
                    code="model_error",
                    status=500,
                )
            )
        finally:
            self._release()

    def _generate(
        self, job: _Job, messages: list[ChatMessage], params: GenerationParams
    ) -> Iterator[Piece]:
        """The answer's pieces; with tools, the runtime's grammar-bound text
        becomes tool calls (see ..local_tools)."""
        mode, tools = tool_mode(params)
        if not mode:
            return self._generate_text(job, messages, params)
        messages = with_tool_prompt(messages, mode, tools)
        return tool_call_pieces(self._generate_text(job, messages, params), mode)

    def _generate_text(
        self, job: _Job, messages: list[ChatMessage], params: GenerationParams
    ) -> Iterator[TextDelta | PromptTokens | Usage]:
        engine = self._engine_get()
        tokens = prompt_tokens(engine, self.format, messages)
        room = engine.context_length - len(tokens) - 1
        if room <= 0:
            raise ProviderError(
                f"The prompt is {len(tokens)} tokens; {self.model.name!r} holds "
                f"{engine.context_length}.",
                code="context_length_exceeded",
                status=400,
            )
        yield PromptTokens(len(tokens))
        limit = min(params.max_tokens or room, room)
        stops = StopMatcher(params.stop + self.format.stop)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        generated = pending = 0
        finish = "stop"
        scored = _logprobs_reader(engine, params)
        sure = getattr(engine, "top_logprob", None)  # for Usage.confidence
        logprob_sum = 0.0
        entries: list[dict[str, Any]] = []
        for token in engine.generate(tokens, params):
            if job.cancel.is_set() or engine.is_end(token):
                break
            generated += 1
            pending += 1
            if scored:
                entries.append(scored(token))
            if sure is not None:
                logprob_sum += sure()
            text, stopped = stops.feed(decoder.decode(engine.detokenize([token])))
            if text:
                yield TextDelta(text, tokens=pending, logprobs=tuple(entries) if scored else None)
                pending, entries = 0, []
            if stopped:
                break
            if generated >= limit:
                finish = "length"
                break
        rest = stops.flush() + decoder.decode(b"", final=True)
        if rest or pending:
            yield TextDelta(rest, tokens=pending, logprobs=tuple(entries) if scored else None)
        known = sure is not None and generated > 0
        confidence = round(math.exp(logprob_sum / generated), 4) if known else None
        yield Usage(len(tokens), generated, finish, confidence=confidence)


def _logprobs_reader(
    engine: LocalEngine, params: GenerationParams
) -> Callable[[int], dict[str, Any]] | None:
    """Each sampled token's logprobs entry, when asked for and the runtime
    gives them (llama.cpp: ``token_logprobs``)."""
    read = getattr(engine, "token_logprobs", None)
    if not params.logprobs or read is None:
        return None
    top = params.top_logprobs or 0
    return lambda token: dict(read(token, top))


def prompt_tokens(engine: LocalEngine, fmt: ChatFormat, messages: list[ChatMessage]) -> list[int]:
    """The chat as token ids: the template's markers become special tokens,
    the messages' text never does (a user typing ``<|im_start|>system``
    must not open a system turn)."""
    parts = render_prompt_parts(
        fmt, template_messages(messages), bos_token=engine.bos_token, eos_token=engine.eos_token
    )
    tokens = engine.tokenize("", add_bos=True)  # BOS, if the model wants one
    for fragment in prompt_fragments(parts, engine.special_tokens):
        if isinstance(fragment, Special):
            tokens.append(engine.special_tokens[fragment.text])
        else:
            tokens += engine.tokenize(fragment, add_bos=False)
    return tokens
