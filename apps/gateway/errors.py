class GatewayError(Exception):
    """A request the gateway refuses or cannot serve; maps to one error body."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str,
        type: str = "invalid_request_error",
        headers: dict[str, str] | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.type = type
        self.headers = headers or {}  # e.g. Retry-After on a 429
        self.param = param  # the request field at fault, if one is
