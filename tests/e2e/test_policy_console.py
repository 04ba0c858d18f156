"""The policy console in a real browser: htmx updates in place, no reloads."""

import pytest

from apps.policy.services import policy_working_get
from tests.e2e.conftest import screenshot


@pytest.fixture
def logged_in(root_console):
    return root_console


def test_add_a_rule_in_place_and_publish(logged_in, hub):
    page = logged_in
    page.evaluate("window.__marker = 'same page'")
    form = page.locator("#rules form.grid-form")
    form.locator("input[name=name]").fill("Night jobs stay local")
    form.locator("input[name=models]").fill("@local")
    form.locator("input[name=start_hour]").fill("22")
    form.locator("input[name=end_hour]").fill("6")
    form.locator("button[type=submit]").click()
    page.locator("#rules td", has_text="Night jobs stay local").wait_for()
    assert page.evaluate("window.__marker") == "same page"  # swapped by htmx, not reloaded
    assert "Draft v2" in page.locator("#draft-bar").inner_text()
    assert "22:00-06:00" in page.locator("#rules").inner_text()
    screenshot(page, "policy-editor")

    page.fill("#draft-bar input[name=note]", "night rule")
    page.click("#draft-bar button:has-text('Publish')")
    page.locator("text=Published v2.").wait_for()
    version, document = policy_working_get()
    assert version.status == "published" and document.rules[-2].name == "Night jobs stay local"


def test_simulator_highlights_findings_and_explains(logged_in, hub):
    page = logged_in
    page.goto(hub.url + "/policy/simulate/")
    page.fill(
        "textarea[name=conversation]",
        "Please email ann@corp.example the IBAN GB82 WEST 1234 5698 7654 32",
    )
    page.click("form button[type=submit]")
    result = page.locator("#simulation .result")
    result.wait_for()
    assert page.locator("#simulation mark.finding").count() == 2
    text = result.inner_text()
    assert "restricted" in text and "Sensitive data stays on-prem" in text and "tiny" in text
    screenshot(page, "policy-simulator")
