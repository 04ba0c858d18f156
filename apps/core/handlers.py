"""An ASGI handler for machine clients, with a middleware stack of its own.

Under ASGI, each of Django's built-in middleware (``MiddlewareMixin``) runs
``process_request`` and ``process_response`` through ``sync_to_async``: two
thread hops per middleware per request. For the browser that buys sessions,
CSRF and messages; for bearer-token API calls it buys nothing and was most of
the gateway's overhead (see docs/decisions/0002-api-handler.md). This handler
serves the same URLconf and views with ``settings.API_MIDDLEWARE`` instead.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.test.utils import override_settings

logger = logging.getLogger(__name__)


class BodyReadTimeout(Exception):
    pass


class BoundedASGIHandler(ASGIHandler):
    """Django's handler, except that a request body must arrive within
    ``HYBRIDHUB_BODY_READ_TIMEOUT_SECONDS``: a client that announces a body
    and never sends it (or trickles it) gets 408 and the connection closes,
    instead of holding the socket and a task for ever."""

    async def read_body(self, receive: Any) -> Any:
        try:
            async with asyncio.timeout(settings.HYBRIDHUB_BODY_READ_TIMEOUT_SECONDS):
                return await super().read_body(receive)
        except TimeoutError:
            raise BodyReadTimeout from None

    async def handle(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if _headers_too_large(scope["headers"]):
            await _refuse(
                scope, send, 431, "request_headers_too_large", "Too many or too large headers."
            )
            return
        try:
            await super().handle(scope, receive, send)
        except BodyReadTimeout:
            logger.info("Request body not received in time: %s", scope.get("path", ""))
            await _refuse(
                scope, send, 408, "request_timeout", "The request body did not arrive in time."
            )


def _headers_too_large(headers: list[tuple[bytes, bytes]]) -> bool:
    """More headers, or more header bytes, than any client of ours sends
    (uvicorn's default parser has no limit of its own; docs/security.md)."""
    if len(headers) > settings.HYBRIDHUB_MAX_HEADER_COUNT:
        return True
    return (
        sum(len(name) + len(value) for name, value in headers) > settings.HYBRIDHUB_MAX_HEADER_BYTES
    )


async def _refuse(scope: dict[str, Any], send: Any, status: int, code: str, message: str) -> None:
    """A plain error before Django ran: OpenAI's error body on /v1/, text elsewhere."""
    if scope.get("path", "").startswith(settings.API_PATH_PREFIX):
        error = {"message": message, "type": "invalid_request_error", "param": None, "code": code}
        body = json.dumps({"error": error}).encode()
        content_type = b"application/json"
    else:
        body, content_type = message.encode(), b"text/plain; charset=utf-8"
    headers = [(b"content-type", content_type), (b"connection", b"close")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def client_address(request: HttpRequest) -> str:
    """The client's address as the ASGI server saw it (login throttling).

    Never read from X-Forwarded-For here: uvicorn rewrites the address from
    that header only for the proxies it is told to trust (docs/security.md).
    """
    return str(request.META.get("REMOTE_ADDR") or "")


def _security_headers(response: HttpResponseBase) -> None:
    response.headers.setdefault("Content-Security-Policy", settings.CONTENT_SECURITY_POLICY)


def content_security_policy(get_response: Callable[..., Any]) -> Callable[..., Any]:
    """Adds ``settings.CONTENT_SECURITY_POLICY`` to every page (sync or async)."""
    if iscoroutinefunction(get_response):

        async def async_middleware(request: HttpRequest) -> HttpResponseBase:
            response = await get_response(request)
            _security_headers(response)
            return response

        markcoroutinefunction(async_middleware)
        return async_middleware

    def middleware(request: HttpRequest) -> HttpResponseBase:
        response = get_response(request)
        _security_headers(response)
        return response

    return middleware


content_security_policy.async_capable = True  # type: ignore[attr-defined]
content_security_policy.sync_capable = True  # type: ignore[attr-defined]


class APIHandler(BoundedASGIHandler):
    def load_middleware(self, is_async: bool = False) -> None:
        # Runs once, at construction, before any request is served.
        with override_settings(MIDDLEWARE=settings.API_MIDDLEWARE):
            super().load_middleware(is_async=is_async)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Django's entry point without its per-request ``ThreadSensitiveContext``.

        That context gives every request a thread of its own, started and
        joined per request, and so a database connection of its own, opened
        per request (SQLite: a file open and two PRAGMAs). API requests run
        their synchronous work (a handful of short calls, none holding a
        transaction across calls) on asgiref's one shared thread instead,
        whose connection lives for ``CONN_MAX_AGE``. Slow synchronous work
        (long prompts, the NER model) goes to other threads (gateway.services).
        """
        if scope["type"] != "http":
            raise ValueError(f"The API handler serves HTTP only, not {scope['type']}.")
        await self.handle(scope, receive, send)


def api_security_headers(
    get_response: Callable[[HttpRequest], Awaitable[HttpResponseBase]],
) -> Callable[[HttpRequest], Awaitable[HttpResponseBase]]:
    """The headers SecurityMiddleware would add to an API response, natively async."""

    async def middleware(request: HttpRequest) -> HttpResponseBase:
        response = await get_response(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Cache-Control", "no-store")
        # The interactive docs (/v1/docs) are a page too: no framing, same CSP.
        response.headers.setdefault("X-Frame-Options", settings.X_FRAME_OPTIONS)
        response.headers.setdefault("Content-Security-Policy", settings.CONTENT_SECURITY_POLICY)
        if settings.SECURE_HSTS_SECONDS:
            hsts = f"max-age={settings.SECURE_HSTS_SECONDS}"
            if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS:
                hsts += "; includeSubDomains"
            response.headers.setdefault("Strict-Transport-Security", hsts)
        return response

    markcoroutinefunction(middleware)
    return middleware


api_security_headers.async_capable = True  # type: ignore[attr-defined]
api_security_headers.sync_capable = False  # type: ignore[attr-defined]
