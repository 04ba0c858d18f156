"""Every API failure leaves in OpenAI's error shape, from this one place."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from apps.gateway.errors import GatewayError

logger = logging.getLogger(__name__)

_HTTP_TYPES = {401: "invalid_request_error", 404: "invalid_request_error", 429: "rate_limit_error"}


def error_body(
    message: str, *, type: str, code: str | None, param: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def error_response(
    status: int, message: str, *, type: str, code: str | None, param: str | None = None
) -> JsonResponse:
    return JsonResponse(error_body(message, type=type, code=code, param=param), status=status)


def _validation(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    first = exc.errors[0] if exc.errors else {}
    loc = [str(part) for part in first.get("loc", ()) if part not in ("body", "payload")]
    # A union's branch shows as a tag ("function-after[...]", "literal['a','b']"):
    # pydantic's internals, not a field the caller sent.
    tags = [i for i, part in enumerate(loc) if "[" in part]
    param = ".".join(loc[: tags[0]] if tags else loc) or None
    message = first.get("msg", "Invalid request.")
    if param:
        message = f"{param}: {message}"
    code = "missing_required_parameter" if first.get("type") == "missing" else "invalid_value"
    return error_response(400, message, type="invalid_request_error", code=code, param=param)


def _authentication(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return error_response(
        401,
        "Missing or invalid API key. Send 'Authorization: Bearer <key>'.",
        type="invalid_request_error",
        code="invalid_api_key",
    )


def _http(request: HttpRequest, exc: HttpError) -> HttpResponse:
    if exc.status_code == 400 and "parse" in str(exc):
        return error_response(
            400,
            "The request body is not valid JSON.",
            type="invalid_request_error",
            code="invalid_json",
        )
    return error_response(
        exc.status_code,
        str(exc),
        type=_HTTP_TYPES.get(exc.status_code, "invalid_request_error"),
        code=None,
    )


def _too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    return error_response(
        413,
        "The request is larger than this server accepts (HYBRIDHUB_MAX_REQUEST_BYTES).",
        type="invalid_request_error",
        code="request_too_large",
    )


def _gateway(request: HttpRequest, exc: GatewayError) -> HttpResponse:
    response = error_response(
        exc.status, exc.message, type=exc.type, code=exc.code, param=exc.param
    )
    for name, value in exc.headers.items():
        response[name] = value
    return response


def _unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    logger.exception("Unhandled error on %s", request.path)
    return error_response(
        500, "The server had an error processing your request.", type="server_error", code=None
    )


HANDLERS: list[tuple[type[Exception], Any]] = [
    (ValidationError, _validation),
    (AuthenticationError, _authentication),
    (HttpError, _http),
    (RequestDataTooBig, _too_big),
    (GatewayError, _gateway),
    (Exception, _unexpected),
]


def install(api: NinjaAPI) -> None:
    for exc_class, handler in HANDLERS:
        api.add_exception_handler(exc_class, handler)
