"""A non-streamed JSON POST with the SDK's request, on a cheaper HTTP client.

Profiling a non-streamed completion through the hub (issue #14) put about a
third of its CPU in the ``openai`` SDK's ``post``: the request built again
for every call (``_build_request``: headers, URL, options) and httpx's
pure-Python HTTP/1.1 stack (headers and body in two socket writes, h11's
parser). Here the SDK client still decides what goes over the wire (its
``_build_request`` makes the URL and headers, once per client: auth, base
URL, the SDK's own headers) and still makes the errors (``APIStatusError``
and its subclasses from ``_make_status_error_from_response``,
``APIConnectionError``, ``APITimeoutError``), so callers handle exactly the
exceptions they handled before. Only the bytes move through aiohttp's
C-accelerated client. Streams keep the SDK's own path.
"""

from __future__ import annotations

import asyncio
import json
import threading
import weakref
from typing import Any
from urllib.parse import urlsplit
from urllib.request import getproxies, proxy_bypass

# Per-request headers the SDK sets itself; this module sets the body's length.
_DROP = {"content-length", "host", "connection", "accept-encoding"}


class _PerThread(threading.local):
    loop: asyncio.AbstractEventLoop | None = None
    session: Any = None


class JsonPoster:
    """POST JSON to ``path`` of one SDK client; the reply's bytes, or the SDK's error."""

    def __init__(self, client: Any, path: str, timeout_seconds: float) -> None:
        import aiohttp
        from openai._models import FinalRequestOptions

        self._aiohttp = aiohttp
        self.client = client
        options = FinalRequestOptions.construct(method="post", url=path, json_data={})
        built = client._build_request(options)
        self.url = str(built.url)
        self.headers = {k: v for k, v in built.headers.items() if k.lower() not in _DROP}
        self._timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=timeout_seconds, sock_read=timeout_seconds
        )
        # The environment's proxy, read once: aiohttp's trust_env reads it
        # again in a thread for every request (3% of a request's CPU).
        self.proxy = env_proxy(self.url)
        self._current = _PerThread()
        _posters.add(self)

    async def post(self, body: dict[str, Any]) -> bytes:
        aiohttp, openai = self._aiohttp, _openai()
        data = json.dumps(body).encode()
        try:
            post = self._session().post
            async with post(self.url, data=data, headers=self.headers, proxy=self.proxy) as answer:
                content = await answer.read()
                status, headers = answer.status, list(answer.headers.items())
        except TimeoutError:
            raise openai.APITimeoutError(request=self._request(data)) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise openai.APIConnectionError(request=self._request(data)) from exc
        if status >= 400:
            import httpx2

            response = httpx2.Response(
                status, headers=headers, content=content, request=self._request(data)
            )
            raise self.client._make_status_error_from_response(response)
        return content

    def _session(self) -> Any:
        """One session (and connection pool) per event loop: a loop's
        connections cannot serve another. A server runs one loop; tests run
        many, one after the other."""
        loop = asyncio.get_running_loop()
        current = self._current
        if current.loop is not loop or current.session is None:
            if current.session is not None:
                _drop(current.session)  # its loop is gone (a test's, a command's)
            connector = self._aiohttp.TCPConnector(limit=0, ttl_dns_cache=None)
            current.loop = loop
            current.session = self._aiohttp.ClientSession(
                connector=connector, timeout=self._timeout,
                auto_decompress=True, skip_auto_headers=("User-Agent",),
            )  # fmt: skip
        return current.session

    def _request(self, data: bytes) -> Any:
        """The request as the SDK's errors carry it (httpx's type)."""
        import httpx2

        return httpx2.Request("POST", self.url, headers=self.headers, content=data)


_posters: weakref.WeakSet[JsonPoster] = weakref.WeakSet()


async def json_posts_close() -> None:
    """Close this loop's connections (server shutdown, before the loop ends)."""
    loop = asyncio.get_running_loop()
    for poster in list(_posters):
        current = poster._current
        if current.loop is loop and current.session is not None:
            session, current.session = current.session, None
            await session.close()


def env_proxy(url: str) -> str | None:
    """The proxy that HTTP(S)_PROXY and NO_PROXY name for ``url``, as httpx
    (the SDK's client) would use it; None to connect directly."""
    parts = urlsplit(url)
    proxy = getproxies().get(parts.scheme or "http")
    return None if not proxy or proxy_bypass(parts.hostname or "") else proxy


def _drop(session: Any) -> None:
    """Forget a session of a loop that no longer runs, closing its sockets
    without awaiting (there is no loop to await on), so no warning follows."""
    connector = session.connector
    session.detach()
    if connector is not None:
        connector._close()


def _openai() -> Any:
    import openai

    return openai
