"""Every answer under /v1/ is OpenAI-shaped JSON, even the ones no view wrote.

Runs on the lean API handler (settings.API_MIDDLEWARE, docs/decisions/0002):
Django's own 404 and ninja's 405 are HTML or empty, and nothing else on that
stack checks the Host header against ALLOWED_HOSTS.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from asgiref.sync import markcoroutinefunction
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest
from django.http.response import HttpResponseBase

from .errors import error_response

# Paths OpenAI serves and HybridHub chose not to (docs/decisions/0006).
NOT_SERVED = {
    "/v1/completions": "The legacy text completions endpoint is not served by HybridHub; "
    "send the prompt as a user message to /v1/chat/completions.",
}


def api_json_errors(
    get_response: Callable[[HttpRequest], Awaitable[HttpResponseBase]],
) -> Callable[[HttpRequest], Awaitable[HttpResponseBase]]:
    async def middleware(request: HttpRequest) -> HttpResponseBase:
        try:
            request.get_host()  # validates against ALLOWED_HOSTS
        except DisallowedHost:
            return error_response(
                400, "Invalid Host header.", type="invalid_request_error", code="invalid_host"
            )
        response = await get_response(request)
        if response.status_code in (404, 405) and not _is_json(response):
            return _json_error(request, response)
        return response

    markcoroutinefunction(middleware)
    return middleware


def _is_json(response: HttpResponseBase) -> bool:
    return str(response.get("Content-Type", "")).startswith("application/json")


def _json_error(request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
    where = f"{request.method} {request.path}"
    if response.status_code == 405:
        out = error_response(
            405,
            f"Method not allowed ({where}); allowed: {response.get('Allow', 'none')}.",
            type="invalid_request_error",
            code="method_not_allowed",
        )
        if response.has_header("Allow"):
            out["Allow"] = response["Allow"]
        return out
    message = NOT_SERVED.get(request.path.rstrip("/"), f"Invalid URL ({where}).")
    return error_response(404, message, type="invalid_request_error", code="unknown_url")


api_json_errors.async_capable = True  # type: ignore[attr-defined]
api_json_errors.sync_capable = False  # type: ignore[attr-defined]
