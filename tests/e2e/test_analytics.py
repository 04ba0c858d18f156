"""The analytics pages in a real browser: every chart draws (a canvas with
pixels, no console errors), filters update in place through htmx."""

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from tests.e2e.conftest import screenshot


def _log_in(page, hub, username: str, password: str, path: str):
    errors: list[str] = []
    page.on("console", lambda m: _console(errors, m))
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(hub.url + path)
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url("**" + path)
    page.errors = errors
    return page


@pytest.fixture
def analyst(page, hub):
    call_command("ledger_synthesize", rows=4000, days=21, batch=2000, seed=7)
    User.objects.create_user("boss", "boss@example.com", "pw-boss-123", is_staff=True)
    return _log_in(page, hub, "boss", "pw-boss-123", "/analytics/")


def _console(errors: list[str], message) -> None:
    where = message.location.get("url", "")
    if message.type == "error" and not where.endswith("/favicon.ico"):  # no icon is served
        errors.append(f"{message.text} ({where})")


def _charts_drawn(page) -> int:
    """How many canvases Chart.js has drawn on."""
    page.wait_for_function("() => window.Chart && document.querySelector('canvas[data-chart]')")
    return page.evaluate(
        """() => [...document.querySelectorAll('canvas[data-chart]')]
                .filter(c => window.Chart.getChart(c) && c.width > 0).length"""
    )


@pytest.mark.parametrize(
    ("path", "name", "charts"),
    [
        ("/analytics/?bucket=day", "analytics-dashboard", 12),
        ("/analytics/review/", "analytics-review", 2),
    ],
)
def test_each_page_draws_its_charts(analyst, hub, path, name, charts):
    page = analyst
    page.goto(hub.url + path)
    assert _charts_drawn(page) == charts
    assert page.locator("table").count() >= 1
    screenshot(page, name)
    assert page.errors == []


def test_my_usage_draws_my_own_charts(page, hub):
    call_command("ledger_synthesize", rows=2000, days=21, batch=2000, seed=3)
    member = User.objects.get(username="synth-engineering-1")  # a member, not an admin
    member.set_password("pw-member-123")
    member.save()
    page = _log_in(page, hub, member.username, "pw-member-123", "/analytics/me/")
    assert _charts_drawn(page) == 7
    assert page.locator("#table-requests tfoot").count() == 1  # it has numbers
    assert "Teams" not in page.locator(".analytics-nav").inner_text()
    screenshot(page, "analytics-me")
    assert page.errors == []


def test_filters_swap_results_in_place(analyst, hub):
    page = analyst
    page.goto(hub.url + "/analytics/")
    _charts_drawn(page)
    page.evaluate("window.__marker = 'same page'")
    page.select_option("select[name=bucket]", "week")
    page.wait_for_url("**bucket=week**")
    page.locator("#results .freshness", has_text="by week").wait_for()
    assert page.evaluate("window.__marker") == "same page"
    assert _charts_drawn(page) == 12
    assert page.errors == []
