"""The team chat in a real browser: streaming, stop, routing badge, safe rendering."""

from apps.chat.models import Message
from apps.gateway.models import UsageRecord
from tests.e2e.conftest import new_chat, screenshot, send

HOSTILE = (
    'echo: <script>window.__pwned=1</script> <img src=x onerror="window.__pwned=2"> '
    "[click](javascript:window.__pwned=3) <b onmouseover=alert(1)>bold</b> **fine**"
)


def test_stream_then_stop_a_long_answer(chat):
    page = chat
    new_chat(page, "slow")
    page.evaluate(
        """() => { window.__updates = 0;
        new MutationObserver(() => window.__updates++).observe(
          document.getElementById('transcript'),
          {childList: true, subtree: true, characterData: true}); }"""
    )
    send(page, "hello world")
    answer = page.locator("article.msg.assistant").last
    answer.locator(".stream-tail").wait_for()
    # Polled from here: wait_for_function evaluates its predicate with eval(),
    # which the page's Content-Security-Policy rightly refuses.
    for _ in range(300):
        if page.evaluate("window.__updates") > 5:
            break
        page.wait_for_timeout(50)
    assert page.evaluate("window.__updates") > 5
    assert answer.get_attribute("aria-busy") == "true"
    assert page.locator("#transcript").get_attribute("role") == "log"
    screenshot(page, "chat-streaming")
    page.keyboard.press("Escape")
    page.locator("article.msg.assistant.status-stopped").wait_for()
    stopped = Message.objects.get(role="assistant")
    assert stopped.status == "stopped" and stopped.content
    assert page.locator("article.msg.assistant").last.get_attribute("aria-busy") == "false"
    row = UsageRecord.objects.get()
    assert (row.status, row.source) == ("cancelled", "chat") and 0 < row.completion_tokens < 2000


def test_an_email_stays_local_and_the_badge_says_why(chat):
    page = chat
    new_chat(page)
    page.locator("#composer textarea").fill("please write to ann@corp.example")
    page.locator("#preview").get_by_text("email").wait_for()
    assert (
        "stay" in page.locator("#preview").inner_text()
        or "local" in page.locator("#preview").inner_text()
    )
    page.locator("#composer textarea").press("Enter")
    badge = page.locator("article.msg.assistant footer.route .badge")
    badge.wait_for()
    assert badge.inner_text().startswith("local")
    why = page.locator("article.msg.assistant footer.route .why").inner_text()
    assert "email" in why and "confidential" in why and "on-prem" in why
    screenshot(page, "chat-route-badge")


def test_shift_enter_adds_a_line_instead_of_sending(chat):
    page = chat
    new_chat(page)
    box = page.locator("#composer textarea")
    box.type("first line")
    box.press("Shift+Enter")
    box.type("second line")
    assert box.input_value() == "first line\nsecond line"
    assert page.locator("article.msg").count() == 0


def test_hostile_model_output_renders_inert(chat, cloud):
    page = chat
    new_chat(page, "cloud-mini")
    send(page, HOSTILE)
    body = page.locator("article.msg.assistant .markdown")
    body.wait_for()
    page.wait_for_timeout(300)
    assert page.evaluate("window.__pwned") is None
    assert body.locator("script, img, b[onmouseover], [onerror]").count() == 0
    assert body.locator("a[href^='javascript']").count() == 0
    assert "<script>" in body.inner_text()  # shown as text, not run
    assert body.locator("strong").inner_text() == "fine"
    screenshot(page, "chat-hostile-output")


def test_api_key_page_shows_the_key_once_with_a_snippet(chat, hub):
    page = chat
    page.goto(hub.url + "/chat/keys/")
    page.fill("input[name=name]", "laptop")
    page.click("form.inline-form button[type=submit]")
    secret = page.locator("#new-key").inner_text().strip()
    assert secret.startswith("hh_")
    assert f'api_key="{secret}"' in page.locator("section.card pre").nth(1).inner_text()
    screenshot(page, "api-keys")
    page.goto(hub.url + "/chat/keys/")
    assert secret not in page.content()
