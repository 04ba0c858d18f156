"""'Test connection' for a provider: can the hub reach it right now?

For a server with the OpenAI wire format, GET its ``/models`` through the
``openai`` SDK with a short timeout and no retries; for an in-process
runtime, whether each model's file exists and which runtime can load it.
The key is read from its variable for the call and never shown or logged.
"""

from __future__ import annotations

from dataclasses import dataclass

from .discovery import model_file_check
from .guards import base_url_problem, provider_key_read
from .models import Provider

TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class ConnectionResult:
    ok: bool
    detail: str


def _error_words(exc: Exception) -> str:
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return f"Timed out after {TIMEOUT_SECONDS:g} s."
    if isinstance(exc, openai.APIConnectionError):
        return "Could not connect (APIConnectionError)."
    if isinstance(exc, openai.AuthenticationError):
        return "The server refused the key (AuthenticationError, HTTP 401)."
    if isinstance(exc, openai.APIStatusError):
        return f"The server answered HTTP {exc.status_code} ({type(exc).__name__})."
    return f"The call failed ({type(exc).__name__})."


def _remote_check(provider: Provider) -> ConnectionResult:
    problem = base_url_problem(provider.base_url)
    if problem:
        return ConnectionResult(False, problem)
    try:
        key = provider_key_read(name=provider.api_key_env) if provider.api_key_env else ""
    except ValueError as exc:
        return ConnectionResult(False, str(exc))
    import openai

    client = openai.OpenAI(
        base_url=provider.base_url,
        api_key=key or "unset",
        timeout=TIMEOUT_SECONDS,
        max_retries=0,
    )
    try:
        ids = [m.id for m in client.models.list().data]
    except openai.OpenAIError as exc:
        return ConnectionResult(False, _error_words(exc))
    finally:
        client.close()
    shown = ", ".join(ids[:5]) + (" …" if len(ids) > 5 else "")
    return ConnectionResult(True, f"Connected: {len(ids)} models ({shown or 'none listed'}).")


def _local_check(provider: Provider) -> ConnectionResult:
    models = list(provider.models.all())
    if not models:
        return ConnectionResult(False, "No models use this provider yet.")
    lines, ok = [], True
    for model in models:
        exists, words = model_file_check(model.model_file)
        ok = ok and exists
        lines.append(f"{model.name}: {words}")
    return ConnectionResult(ok, " ".join(lines))


def provider_connection_test(*, provider: Provider) -> ConnectionResult:
    if provider.in_process:
        return _local_check(provider)
    return _remote_check(provider)
