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
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.test.utils import override_settings
from django.urls import ResolverMatch, get_resolver, set_script_prefix

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


# The API handler sends Django's request signals (connection upkeep) for at
# most one request in this many seconds (APIHandler.handle).
API_SIGNALS_EVERY_SECONDS = 1.0


# How many fixed API paths (no path parameters) APIHandler remembers resolved.
_RESOLVED_MAX = 64


class APIHandler(BoundedASGIHandler):
    _signals_sent_at = float("-inf")

    def __init__(self) -> None:
        super().__init__()
        self._resolved: dict[tuple[str, str], ResolverMatch] = {}

    def resolve_request(self, request: HttpRequest) -> ResolverMatch:
        """Django's URL resolution, remembered for paths without parameters.

        Resolving ``/v1/chat/completions`` walks the project's URL patterns
        and ninja's (about 30 µs, every request); the answer for a fixed path
        never changes while the URLconf does not, so it is kept, keyed by the
        URLconf (tests swap it), for the few such paths the API has. Paths
        with parameters, and paths that do not resolve (404), are resolved
        every time, so nobody can fill the table with made-up paths.
        """
        if hasattr(request, "urlconf"):  # a middleware chose another URLconf
            return super().resolve_request(request)
        key = (settings.ROOT_URLCONF, request.path_info)
        match = self._resolved.get(key)
        if match is None:
            match = get_resolver().resolve(request.path_info)
            if not match.args and not match.kwargs and len(self._resolved) < _RESOLVED_MAX:
                self._resolved[key] = match
        request.resolver_match = match
        return match

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

    async def handle(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Django's ``ASGIHandler.handle`` (5.2), less two thread hops per request.

        Django sends ``request_started`` before every request and
        ``request_finished`` after it (in ``response.close()``), each through
        ``sync_to_async`` because their receivers are synchronous: on the
        API's shared thread, two of a completion's four hops. What they do
        there is tidy that thread's database connection (close it past
        ``CONN_MAX_AGE`` or once it errored; ``reset_queries`` under DEBUG),
        so here they run for at most one request every
        ``API_SIGNALS_EVERY_SECONDS``: a broken connection is still replaced,
        within that time instead of on the next request.
        """
        if _headers_too_large(scope["headers"]):
            await _refuse(
                scope, send, 431, "request_headers_too_large", "Too many or too large headers."
            )
            return
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        except BodyReadTimeout:
            logger.info("Request body not received in time: %s", scope.get("path", ""))
            await _refuse(
                scope, send, 408, "request_timeout", "The request body did not arrive in time."
            )
            return
        set_script_prefix(get_script_prefix(scope))
        now = time.monotonic()
        signals_due = now - self._signals_sent_at >= API_SIGNALS_EVERY_SECONDS
        if signals_due:
            self._signals_sent_at = now
            await signals.request_started.asend(sender=self.__class__, scope=scope)
        request, error_response = self.create_request(scope, body_file)
        if request is None:
            assert error_response is not None
            body_file.close()
            await self.send_response(error_response, send)
            await self._response_close(error_response, signals_due)
            return

        async def process_request(request: HttpRequest, send: Any) -> HttpResponseBase:
            response = await self.run_get_response(request)
            with contextlib.suppress(asyncio.CancelledError):  # the client left mid-send
                await self.send_response(response, send)
            return response

        tasks = [  # as in Django: the disconnect listener first, then the request
            asyncio.create_task(self.listen_for_disconnect(receive)),
            asyncio.create_task(process_request(request, send)),
        ]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            if task.done():
                try:
                    task.result()
                except RequestAborted:
                    pass
                except AssertionError:
                    body_file.close()
                    raise
            else:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        try:
            response = tasks[1].result()
        except asyncio.CancelledError:
            if signals_due:
                await signals.request_finished.asend(sender=self.__class__)
        else:
            assert response is not None
            await self._response_close(response, signals_due)
        body_file.close()

    @staticmethod
    async def _response_close(response: HttpResponseBase, signals_due: bool) -> None:
        if signals_due:  # close() sends request_finished: on the shared thread
            await sync_to_async(response.close)()
            return
        # What close() does besides the signal: API responses hold no files
        # or database cursors, so their closers (if any) run here.
        for closer in response._resource_closers:  # type: ignore[attr-defined]
            with contextlib.suppress(Exception):
                closer()
        response.closed = True


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
