"""Where a model file is: a path on disk, or ``package:<distribution>/<file>``
inside an installed wheel. No Django here, so scripts that start before
settings are loaded (deploy/cluster.py, tests/support/llama_server.py) use it
too."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path


def resolve_model_file(model_file: str) -> Path:
    """A path on disk, or ``package:<distribution>/<file name>`` inside a wheel.

    The package form finds the file through the distribution's metadata, so
    the package's own code is never imported.
    """
    if not model_file.startswith("package:"):
        return Path(model_file).expanduser()
    dist, _, filename = model_file.removeprefix("package:").partition("/")
    try:
        files = importlib.metadata.files(dist) or []
    except importlib.metadata.PackageNotFoundError as exc:
        raise FileNotFoundError(f"Package {dist!r} is not installed.") from exc
    for entry in files:
        if entry.name == filename:
            return Path(str(entry.locate()))
    raise FileNotFoundError(f"{filename!r} is not in package {dist!r}.")
