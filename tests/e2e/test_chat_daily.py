"""Issue #13 in the browser: the chat bugs a first session hit, each failing
on the code before the fix, and the features a team expects every day.
axe runs on every page these tests visit (tests/e2e/conftest.py)."""

import pytest
from playwright.sync_api import expect

from apps.accounts.models import ApiKey
from apps.chat.models import Conversation, Message
from tests.e2e.conftest import finished_answers, new_chat, screenshot, send


def test_a_message_sent_while_streaming_is_refused_in_place(chat):
    """Bug 1: the transcript, the streaming answer and the typed text stay."""
    page = chat
    new_chat(page, "slow")
    send(page, "hello world")
    page.locator("article.msg.assistant .stream-tail").wait_for()
    send(page, "and another thing")
    page.locator("#composer-error .error").wait_for()
    assert "Wait for the current answer" in page.locator("#composer-error").inner_text()
    assert page.locator("#composer textarea").input_value() == "and another thing"
    assert page.locator("article.msg.user").count() == 1
    streaming = page.locator("article.msg.assistant.streaming")
    assert streaming.count() == 1 and streaming.get_attribute("aria-busy") == "true"
    page.keyboard.press("Escape")
    page.locator("article.msg.assistant.status-stopped").wait_for()


def test_regenerate_on_an_empty_chat_is_refused_in_place(chat):
    page = chat
    new_chat(page, "tiny")
    page.click("#composer button:has-text('Regenerate')")
    page.locator("#composer-error .error").wait_for()
    assert "nothing to answer" in page.locator("#composer-error").inner_text()
    assert page.locator("#transcript .empty-log").count() == 1
    assert page.locator("#composer").count() == 1


def test_treat_this_chat_as_shows_the_sticky_level(chat, hub):
    """Bug 2: a chat that reached restricted says so, and offers nothing lower."""
    page = chat
    new_chat(page, "tiny")
    Conversation.objects.update(max_level=3)
    page.reload()
    level = page.locator("#chat-settings select[name=sensitivity]")
    assert level.input_value() == "restricted"
    assert level.locator("option[value=public]").is_disabled()


def test_edit_last_then_enter_replaces_the_message(chat):
    """Bug 3: Enter after "Edit last" resends the edited message."""
    page = chat
    new_chat(page, "cloud-mini")
    send(page, "echo: first try")
    finished_answers(page).first.wait_for()
    page.click("#edit-last")
    box = page.locator("#composer textarea")
    assert box.input_value() == "echo: first try"
    box.fill("echo: second try")
    box.press("Enter")
    page.locator("article.msg.user", has_text="second try").wait_for()
    finished_answers(page).first.wait_for()
    assert page.locator("article.msg.user").count() == 1
    assert list(Message.objects.filter(role="user").values_list("content", flat=True)) == [
        "echo: second try"
    ]


def test_copy_buttons_on_answers_and_code_blocks(chat, cloud):
    page = chat
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    cloud.script = ["Run this:\n\n", "```\nprint('hi')\n```\n"]
    new_chat(page, "cloud-mini")
    send(page, "show me some code")
    answer = finished_answers(page).first
    answer.locator(".markdown pre").wait_for()
    code_button = answer.locator("button.copy-code")
    code_button.click()
    expect(code_button).to_have_text("Copied")  # the clipboard answers asynchronously
    assert "print('hi')" in page.evaluate("() => navigator.clipboard.readText()")
    answer.locator("button.copy-answer").click()
    expect(answer.locator("button.copy-answer")).to_have_text("Copied")


def test_new_chat_entries_do_not_pile_up(chat):
    page = chat
    new_chat(page, "tiny")
    first = page.url
    page.click("button.new-chat")
    page.wait_for_url("**/chat/c/**")
    assert page.url == first
    assert Conversation.objects.count() == 1


def test_api_key_reload_makes_no_second_key_and_copy_says_so(chat, hub):
    """Bug 4 (POST/redirect/GET) and bug 5 (copy feedback, revoke asks)."""
    page = chat
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto(hub.url + "/chat/keys/")
    page.fill("input[name=name]", "laptop")
    with page.expect_navigation() as created:
        page.click("form.inline-form button[type=submit]")
    # the page showing the key came from a GET after a redirect: reloading it
    # (or going back to it) sends no POST
    assert created.value.request.method == "GET"
    assert created.value.request.redirected_from.method == "POST"
    secret = page.locator("#new-key").inner_text().strip()
    page.click("button[data-copy=new-key]")
    expect(page.locator("button[data-copy=new-key]")).to_have_text("Copied")
    assert page.evaluate("() => navigator.clipboard.readText()") == secret
    page.reload()
    assert ApiKey.objects.filter(name="laptop").count() == 1
    assert secret not in page.content()

    revoke = page.locator("button[aria-label='Revoke laptop']")
    page.once("dialog", lambda dialog: dialog.dismiss())
    revoke.click()
    page.wait_for_timeout(300)
    assert ApiKey.objects.get(name="laptop").revoked_at is None
    page.once("dialog", lambda dialog: dialog.accept())
    revoke.click()
    page.locator("td", has_text="revoked").wait_for()
    assert ApiKey.objects.get(name="laptop").revoked_at is not None


def test_skip_link_and_a_few_tabs_to_the_message_box(chat):
    page = chat
    new_chat(page, "tiny")
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.className") == "skip-link"
    page.keyboard.press("Enter")
    for _ in range(12):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.name") == "text":
            break
    assert page.evaluate("() => document.activeElement.getAttribute('aria-label')") == "Message"
    assert page.locator("h1").count() == 1


@pytest.mark.parametrize(
    ("name", "scheme", "viewport"),
    [
        ("chat-light", "light", {"width": 1280, "height": 900}),
        ("chat-dark", "dark", {"width": 1280, "height": 900}),
        ("chat-mobile", "light", {"width": 390, "height": 844}),
    ],
)
def test_light_dark_and_phone_layouts(chat, name, scheme, viewport):
    page = chat
    page.set_viewport_size(viewport)
    page.emulate_media(color_scheme=scheme)
    new_chat(page, "cloud-mini")
    send(page, "echo: **Hello** team, here is `code`")
    finished_answers(page).first.wait_for()
    background = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    assert (background == "rgb(20, 24, 31)") == (scheme == "dark")
    # nothing wider than the screen; the message box is on the first screen
    assert page.evaluate("() => document.documentElement.scrollWidth") <= viewport["width"]
    box = page.locator("#composer textarea").bounding_box()
    assert box is not None and box["y"] < viewport["height"]
    screenshot(page, name)


def test_regenerate_keeps_the_earlier_answer_to_switch_back_to(chat, cloud):
    page = chat
    new_chat(page, "cloud-mini")
    send(page, "echo: first answer")
    page.locator("article.msg.assistant .markdown", has_text="first answer").wait_for()
    cloud.script = ["second ", "answer"]
    page.click("#composer button:has-text('Regenerate')")
    page.locator("article.msg.assistant .markdown", has_text="second answer").wait_for()
    visible = page.locator("article.msg.assistant:visible")
    assert visible.count() == 1
    assert "Version 2 of 2" in visible.locator(".versions").inner_text()
    visible.locator("button:has-text('Previous')").click()
    assert "first answer" in page.locator("article.msg.assistant:visible").inner_text()
    assert "Version 1 of 2" in page.locator("article.msg.assistant:visible").inner_text()
    page.reload()  # both versions are kept, the latest shown
    assert "second answer" in page.locator("article.msg.assistant:visible").inner_text()
    assert Message.objects.filter(role="assistant").count() == 2
