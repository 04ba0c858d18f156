"""An ASGI handler for machine clients, with a middleware stack of its own.

Under ASGI, each of Django's built-in middleware (``MiddlewareMixin``) runs
``process_request`` and ``process_response`` through ``sync_to_async``: two
thread hops per middleware per request. For the browser that buys sessions,
CSRF and messages; for bearer-token API calls it buys nothing and was most of
the gateway's overhead (see docs/decisions/0002-api-handler.md). This handler
serves the same URLconf and views with ``settings.API_MIDDLEWARE`` instead.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from asgiref.sync import markcoroutinefunction
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.test.utils import override_settings


class APIHandler(ASGIHandler):
    def load_middleware(self, is_async: bool = False) -> None:
        # Runs once, at construction, before any request is served.
        with override_settings(MIDDLEWARE=settings.API_MIDDLEWARE):
            super().load_middleware(is_async=is_async)


def api_security_headers(
    get_response: Callable[[HttpRequest], Awaitable[HttpResponseBase]],
) -> Callable[[HttpRequest], Awaitable[HttpResponseBase]]:
    """The headers SecurityMiddleware would add to an API response, natively async."""

    async def middleware(request: HttpRequest) -> HttpResponseBase:
        response = await get_response(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    markcoroutinefunction(middleware)
    return middleware


api_security_headers.async_capable = True  # type: ignore[attr-defined]
api_security_headers.sync_capable = False  # type: ignore[attr-defined]
