"""Calendar periods in the organisation's time zone (pure)."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from apps.budgets.periods import FOREVER, period_end, period_start

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    ("period", "now", "start", "end"),
    [
        # 23:30 UTC on 31 March is already 1 April in Berlin (summer time).
        ("day", datetime(2026, 3, 31, 23, 30, tzinfo=UTC), "2026-04-01 00:00", "2026-04-02 00:00"),
        ("week", datetime(2026, 4, 2, 12, tzinfo=UTC), "2026-03-30 00:00", "2026-04-06 00:00"),
        ("month", datetime(2026, 12, 15, tzinfo=UTC), "2026-12-01 00:00", "2027-01-01 00:00"),
        # the day the clocks go forward is 23 hours long
        ("day", datetime(2026, 3, 29, 12, tzinfo=UTC), "2026-03-29 00:00", "2026-03-30 00:00"),
    ],
)
def test_periods_are_calendar_aligned_in_the_org_zone(period, now, start, end):
    began = period_start(period, now, BERLIN)
    assert began.astimezone(BERLIN).strftime("%Y-%m-%d %H:%M") == start
    ends = period_end(period, began, BERLIN)
    assert ends is not None
    assert ends.astimezone(BERLIN).strftime("%Y-%m-%d %H:%M") == end
    assert began <= now < ends


def test_the_day_the_clocks_go_forward_has_23_hours():
    began = period_start("day", datetime(2026, 3, 29, 12, tzinfo=UTC), BERLIN)
    ends = period_end("day", began, BERLIN)
    assert ends is not None
    assert (ends.astimezone(UTC) - began.astimezone(UTC)).total_seconds() == 23 * 3600


def test_a_budget_without_period_never_resets():
    assert period_start("none", datetime(2030, 1, 1, tzinfo=UTC), BERLIN) == FOREVER
    assert period_end("none", FOREVER, BERLIN) is None
