"""What the budgets refuse with; the gateway turns these into HTTP 429s."""

from __future__ import annotations

from datetime import datetime


class BudgetExceeded(Exception):
    def __init__(self, message: str, *, resets_at: datetime | None) -> None:
        super().__init__(message)
        self.message = message
        self.resets_at = resets_at


class RateLimited(Exception):
    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after
