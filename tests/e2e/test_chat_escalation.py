""" "Ask a stronger model" in a real browser: from the keyboard, the answer
becomes a second version from the cloud model; a confidential chat shows
the action disabled, with the reason."""

from apps.chat.models import Escalation, Message
from tests.e2e.conftest import finished_answers, new_chat, screenshot, send


def test_a_local_answer_is_asked_again_of_the_cloud_model(chat, cloud):
    page = chat
    new_chat(page)
    send(page, "hello world")
    finished_answers(page).first.locator("footer.route .badge").wait_for()
    assert finished_answers(page).first.locator(".badge").inner_text().startswith("local")
    action = page.get_by_role("button", name="Ask a stronger model")
    action.wait_for()
    assert "cloud-mini" in page.locator(".escalate .hint").inner_text()
    screenshot(page, "chat-ask-a-stronger-model")
    cloud.script = ["a ", "stronger ", "answer"]
    action.focus()
    page.keyboard.press("Enter")
    page.locator("article.msg.assistant .markdown", has_text="a stronger answer").wait_for()
    visible = page.locator("article.msg.assistant:visible")
    assert visible.count() == 1
    assert visible.locator(".badge").inner_text() == "cloud · cloud-mini"
    assert "stronger model than tiny" in visible.locator(".why").inner_text()
    assert "Version 2 of 2" in visible.locator(".versions").inner_text()
    assert visible.get_by_role("button", name="Ask a stronger model").count() == 0
    visible.locator("button:has-text('Previous')").click()  # the local answer is kept
    assert "local · tiny" in page.locator("article.msg.assistant:visible .badge").inner_text()
    signal = Escalation.objects.get()
    assert (signal.from_model, signal.to_model) == ("tiny", "cloud-mini")
    assert Message.objects.filter(role="assistant").count() == 2


def test_a_confidential_chat_shows_why_no_stronger_model_may_answer(chat, cloud):
    page = chat
    new_chat(page)
    send(page, "please write to ann@corp.example")
    page.locator(".escalate .escalate-refused").wait_for()
    action = page.get_by_role("button", name="Ask a stronger model")
    assert action.is_disabled()
    reason = page.locator(".escalate-refused").inner_text()
    assert "confidential" in reason and "cloud-mini" in reason
    assert action.get_attribute("aria-describedby") == page.locator(
        ".escalate-refused"
    ).get_attribute("id")
    assert cloud.requests == [] and not Escalation.objects.exists()
