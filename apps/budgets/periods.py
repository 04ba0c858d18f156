"""Calendar periods in the organisation's time zone (pure; no database)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

# The one "period" of a budget that never resets.
FOREVER = datetime(2000, 1, 1, tzinfo=UTC)


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), tzinfo=tz)


def _first_day(period: str, day: date) -> date:
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return day


def period_start(period: str, now: datetime, tz: ZoneInfo) -> datetime:
    """When the period containing ``now`` began (FOREVER for 'none')."""
    if period == "none":
        return FOREVER
    return _midnight(_first_day(period, now.astimezone(tz).date()), tz)


def period_end(period: str, start: datetime, tz: ZoneInfo) -> datetime | None:
    """When the period that began at ``start`` resets (None for 'none')."""
    if period == "none":
        return None
    day = start.astimezone(tz).date()
    if period == "day":
        return _midnight(day + timedelta(days=1), tz)
    if period == "week":
        return _midnight(day + timedelta(days=7), tz)
    following = (
        day.replace(year=day.year + 1, month=1)
        if day.month == 12
        else day.replace(month=day.month + 1)
    )
    return _midnight(following, tz)
