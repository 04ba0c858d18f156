"""Stopping the servers the tests start (Redis, llama.cpp's server, hub workers)."""

from __future__ import annotations

import subprocess


def process_stop(process: subprocess.Popen[bytes], timeout: float = 10) -> None:
    """Ask ``process`` to end, wait ``timeout`` seconds, then kill it; returns
    once it has exited (no zombie, no port left bound)."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
