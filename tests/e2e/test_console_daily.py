"""Issue #13 in the browser: the policy console bugs (4-7), each failing on
the code before the fix. axe runs on every page visited (conftest.py)."""

import pytest
from django.contrib.auth.models import User

from apps.policy.models import PolicyAuditEntry, PolicyChangeRequest, PolicyVersion
from apps.policy.services import policy_working_get
from tests.conftest import make_local_model
from tests.e2e.conftest import screenshot


@pytest.fixture
def console(root_console):
    return root_console


def add_rule(page, name, models="@local", **fields):
    form = page.locator("#rules form.grid-form")
    form.locator("input[name=name]").fill(name)
    form.locator("input[name=models]").fill(models)
    for field, value in fields.items():
        form.locator(f"[name={field}]").fill(value)
    form.locator("button[type=submit]").click()


def test_publish_then_reload_publishes_once(console, hub):
    """Bug 4: Publish redirects; a reload does not publish again."""
    page = console
    add_rule(page, "Night jobs stay local", start_hour="22", end_hour="6")
    page.locator("#rules td > strong", has_text="Night jobs stay local").wait_for()
    page.fill("#draft-bar input[name=note]", "night rule")
    with page.expect_navigation() as published:
        page.click("#draft-bar button:has-text('Publish')")
    assert published.value.request.method == "GET" and page.url.endswith("/policy/")
    page.locator("text=Published v2.").wait_for()
    page.reload()
    assert PolicyVersion.objects.filter(status="published").count() == 1
    assert PolicyAuditEntry.objects.filter(action="publish").count() == 1
    assert "Published v2." not in page.content()


def test_rollback_and_discard_ask_first(console, hub):
    """Bug 5: destructive actions ask for confirmation."""
    page = console
    add_rule(page, "Temp")
    page.locator("#rules td > strong", has_text="Temp").wait_for()
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.click("#draft-bar button:has-text('Discard draft')")
    page.wait_for_timeout(300)
    assert PolicyVersion.objects.filter(status="draft").exists()
    page.click("#draft-bar button:has-text('Publish')")
    page.locator("text=Published v2.").wait_for()

    page.goto(hub.url + "/policy/versions/")
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.click("button:has-text('Roll back to v1')")
    page.wait_for_timeout(300)
    assert PolicyVersion.objects.get(status="published").number == 2
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("button:has-text('Roll back to v1')")
    page.wait_for_url("**/policy/")
    page.locator("text=Rolled back to v1.").wait_for()
    assert PolicyVersion.objects.get(status="published").number == 3


def test_shadowed_rule_is_flagged_in_editor_and_simulator(console, hub):
    """Bug 6: a rule after a catch-all never fires, and both pages say so;
    the simulator opened from the draft bar simulates the draft."""
    page = console
    form = page.locator("#rules form.grid-form")
    form.locator("input[name=name]").fill("All chat local")
    form.locator("input[name=models]").fill("@local")
    form.locator("input[name=sources][value=chat]").check()
    form.locator("button[type=submit]").click()
    page.locator("#rules td > strong", has_text="All chat local").wait_for()
    add_rule(page, "Chat at night", start_hour="22", end_hour="6")
    page.locator("#rules td > strong", has_text="Chat at night").wait_for()
    # every source at night: not all of it is caught by the chat-only rule
    form = page.locator("#rules form.grid-form")
    form.locator("input[name=name]").fill("Chat after hours")
    form.locator("input[name=models]").fill("@local")
    form.locator("input[name=sources][value=chat]").check()
    form.locator("input[name=start_hour]").fill("18")
    form.locator("input[name=end_hour]").fill("8")
    form.locator("button[type=submit]").click()
    row = page.locator("#rules tr", has_text="Chat after hours")
    row.wait_for()
    assert "Never applies" in row.inner_text() and "All chat local" in row.inner_text()
    assert "Never applies" not in page.locator("#rules tr", has_text="Chat at night").inner_text()
    screenshot(page, "policy-shadowed-rule")

    page.click("#draft-bar a:has-text('simulator')")
    page.wait_for_url("**/policy/simulate/**")
    assert page.locator("select[name=against]").input_value() == "draft"
    page.fill("textarea[name=conversation]", "hello there")
    page.click("form button[type=submit]")
    result = page.locator("#simulation .result")
    result.wait_for()
    assert "Against the draft policy" in result.inner_text()
    assert "Chat after hours" in result.locator(".warning").inner_text()


def test_a_rule_naming_an_unknown_model_is_refused_on_save(console):
    """Bug 6: refused when saved, not at Publish; the form keeps its input."""
    page = console
    add_rule(page, "Typo rule", models="tiny, gpt-99")
    error = page.locator("#rules .errorlist")
    error.wait_for()
    assert "gpt-99" in error.inner_text()
    form = page.locator("#rules form.grid-form")
    assert form.locator("input[name=name]").input_value() == "Typo rule"
    assert form.locator("input[name=models]").input_value() == "tiny, gpt-99"
    assert all(rule.name != "Typo rule" for rule in policy_working_get()[1].rules)


def test_a_refused_detector_keeps_its_input_and_speaks_plainly(console):
    """Bug 7: a refused regex keeps the form; no internal paths; slug hint."""
    page = console
    form = page.locator("#custom form")
    assert "Lowercase letters, digits" in form.inner_text()
    form.locator("input[name=name]").fill("codes")
    form.locator("select[name=kind]").select_option("regex")
    form.locator("textarea[name=patterns]").fill(r"(\w)\1")
    form.locator("button[type=submit]").click()
    alert = page.locator("#custom .error[role=alert]")
    alert.wait_for()
    assert "custom_detectors" not in alert.inner_text()
    form = page.locator("#custom form")
    assert form.locator("input[name=name]").input_value() == "codes"
    assert form.locator("textarea[name=patterns]").input_value() == r"(\w)\1"
    assert form.locator("select[name=kind]").input_value() == "regex"


def test_a_failed_publish_keeps_the_note(console):
    """Bug 7: Publish refused (a rule's model was removed) keeps the note."""
    page = console
    add_rule(page, "Tiny first", models="tiny")
    page.locator("#rules td > strong", has_text="Tiny first").wait_for()
    from apps.providers.models import LanguageModel

    LanguageModel.objects.filter(name="tiny").delete()
    page.fill("#draft-bar input[name=note]", "my careful note")
    page.click("#draft-bar button:has-text('Publish')")
    page.locator("#draft-bar .error").wait_for()
    assert page.locator("#draft-bar input[name=note]").input_value() == "my careful note"


def log_in(page, hub, username, password):
    page.goto(hub.url + "/policy/")
    if page.locator("form.logout").count():
        page.click("form.logout button")
        page.goto(hub.url + "/policy/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url("**/policy/")


def test_team_admin_asks_org_admin_rejects_then_publishes(page, hub, tiny_gguf, team_admin):
    """Bug 8: a team admin's edits become a change request that org admins
    review, reject with a reply or publish; both see where it stands."""
    User.objects.create_superuser("root", "root@example.com", "pw-root-123")
    make_local_model(tiny_gguf, name="tiny")
    log_in(page, hub, "ada", "pw-ada")
    page.select_option("#teams select[name=floor]", "2")
    page.click("#teams button:has-text('Save floor')")
    page.locator("#teams .saved").wait_for()
    page.fill("#teams input[name=note]", "legal asked for this")
    page.click("#teams button:has-text('Ask to publish')")
    page.locator("text=Asked the org admins").wait_for()
    page.reload()  # POST/redirect/GET: asking twice is one request
    assert PolicyChangeRequest.objects.get().status == "open"

    log_in(page, hub, "root", "pw-root-123")
    page.locator("#draft-bar a:has-text('1 change request waiting')").wait_for()
    request = page.locator("#requests article")
    assert "Engineering" in request.inner_text() and "floor confidential" in request.inner_text()
    assert "legal asked for this" in request.inner_text()
    screenshot(page, "policy-change-request")
    request.locator("input[name=reply]").fill("Use internal, not confidential")
    request.locator("button:has-text('Reject')").click()
    page.locator("text=Rejected Engineering's request.").wait_for()
    assert page.locator("#requests").count() == 0

    log_in(page, hub, "ada", "pw-ada")
    status = page.locator("#teams ul.requests")
    assert "Rejected" in status.inner_text() and "Use internal" in status.inner_text()
    page.click("#teams button:has-text('Ask to publish')")
    page.locator("text=Asked the org admins").wait_for()

    log_in(page, hub, "root", "pw-root-123")
    page.click("#requests button:has-text('Publish the draft')")
    page.locator("#draft-bar .saved", has_text="Published v2.").wait_for()
    assert policy_working_get()[1].teams[str(team_admin.team.pk)].floor == 2
    log_in(page, hub, "ada", "pw-ada")
    assert "Published" in page.locator("#teams ul.requests li").first.inner_text()
