from __future__ import annotations

from asgiref.sync import sync_to_async
from django.http import HttpRequest
from ninja.security import HttpBearer

from apps.accounts.models import ApiKey
from apps.accounts.services import api_key_authenticate


class ApiKeyAuth(HttpBearer):
    """``Authorization: Bearer hh_…``; request.auth becomes the ApiKey."""

    async def authenticate(self, request: HttpRequest, token: str) -> ApiKey | None:
        return await sync_to_async(api_key_authenticate)(secret=token)
