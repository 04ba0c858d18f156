from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.http import HttpRequest
from ninja.security import HttpBearer

from apps.accounts.key_cache import api_key_cached, api_key_remember
from apps.accounts.models import ApiKey
from apps.accounts.services import api_key_authenticate

# request attribute: the key came from this process's cache and the gateway
# must re-check it in its first database hop (see apps/accounts/key_cache.py)
UNVERIFIED = "hybridhub_key_unverified"


class ApiKeyAuth(HttpBearer):
    """``Authorization: Bearer hh_…``; request.auth becomes the ApiKey.

    ``deferred``: for operations that hand the request to the gateway, a key
    this process authenticated recently is accepted without a database hop
    here, and re-checked by the gateway with the rest of the request's
    database work. Other operations check the database every time.
    """

    def __init__(self, *, deferred: bool = False) -> None:
        super().__init__()
        self.deferred = deferred

    def __call__(self, request: HttpRequest) -> Any:
        """ninja's ``HttpBearer.__call__``, reading the header from ``META``.

        ``request.headers`` builds a dictionary of every header the first
        time it is read; the completion path reads the three headers it needs
        from ``META`` and never pays for it. (ninja's DEBUG-only log line of
        an unexpected scheme is left out: it prints the caller's secret.)
        """
        auth_value = request.META.get("HTTP_AUTHORIZATION")
        if not auth_value:
            return None
        scheme, _, token = auth_value.partition(" ")
        if scheme.lower() != self.openapi_scheme:
            return None
        return self.authenticate(request, token)

    async def authenticate(self, request: HttpRequest, token: str) -> ApiKey | None:
        if self.deferred and (cached := api_key_cached(secret=token)) is not None:
            setattr(request, UNVERIFIED, True)
            return cached
        api_key = await sync_to_async(api_key_authenticate)(secret=token)
        if api_key is not None:
            api_key_remember(secret=token, api_key=api_key)
        return api_key
