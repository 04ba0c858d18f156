"""Browser tests: Playwright driving Debian's Chromium (never a downloaded one)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
# axe-core from npm (tests/e2e/vendor/README.md), run in every page a browser
# test visits: it must find no critical or serious accessibility violation.
AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
SEVERE = ("critical", "serious")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """One browser per test module, closed before other modules run: while
    Playwright's sync API is active the main thread counts as running an event
    loop, and Django refuses ORM calls there unless told they are safe (they
    are: the test's own thread, not the server's)."""
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with pytest.MonkeyPatch.context() as patch, sync_api.sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    page = context.new_page()
    # Every browser test also checks that the Content-Security-Policy blocked
    # nothing the page needs (Chromium reports each refusal on the console).
    refused: list[str] = []
    page.on(
        "console",
        lambda message: (
            refused.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    # Each page that loads is checked with axe before the test moves on from
    # it (the next navigation) and once more at the end, in its final state.
    visited: list[str] = []
    violations: list[str] = []
    page.on("load", lambda loaded: visited.append(loaded.url))
    checked = {"count": 0}

    def check_pending() -> None:
        if checked["count"] < len(visited) or not visited:
            violations.extend(axe_violations(page))
            checked["count"] = len(visited)

    page.axe_check = check_pending  # type: ignore[attr-defined]
    original_goto = page.goto

    def goto(url: str, **kwargs: object) -> object:
        if visited and not page.is_closed():
            check_pending()
        return original_goto(url, **kwargs)

    page.goto = goto  # type: ignore[method-assign]
    original_wait_for_url = page.wait_for_url

    def wait_for_url(url: str, **kwargs: object) -> None:
        original_wait_for_url(url, **kwargs)
        page.wait_for_load_state()
        check_pending()

    page.wait_for_url = wait_for_url  # type: ignore[method-assign]
    yield page
    if not page.is_closed() and visited:
        violations.extend(axe_violations(page))
    context.close()
    assert not refused, refused
    assert not violations, "\n".join(violations)


def axe_violations(page: object) -> list[str]:
    """Critical and serious axe findings on the page as it is now, one line
    each. axe is evaluated through the DevTools protocol, which the page's
    Content-Security-Policy does not govern; the page itself stays as strict."""
    if not page.evaluate("() => typeof window.axe === 'object'"):  # type: ignore[attr-defined]
        page.evaluate(AXE.read_text())  # type: ignore[attr-defined]
    found = page.evaluate(  # type: ignore[attr-defined]
        """async () => (await axe.run(document, {resultTypes: ['violations']})).violations
          .filter(v => v.impact === 'critical' || v.impact === 'serious')
          .map(v => `${location.pathname}: ${v.impact} ${v.id}: ${v.help} -> ` +
               v.nodes.slice(0, 5).map(n => n.target.join(' ')).join(', '))"""
    )
    return list(found)


def screenshot(page: object, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


# --- logging in and chatting: shared by the browser tests ------------------------------


def log_in(page: Any, base: str, path: str, username: str, password: str) -> Any:
    """Open ``path`` (the login form comes first), sign in, and wait to be back."""
    page.goto(base + path)
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url("**" + path)
    return page


@pytest.fixture
def chat(page: Any, hub: Any, member: Any, tiny_gguf: Path, slow_gguf: Path, cloud: Any) -> Any:
    """Mia in the team chat, with a tiny and a slow local model and a cloud one."""
    from tests.conftest import make_cloud_model, make_local_model

    make_local_model(tiny_gguf, name="tiny")
    make_local_model(slow_gguf, name="slow", input_price_per_mtok=1)
    make_cloud_model(cloud.url, name="cloud-mini")
    return log_in(page, hub.url, "/chat/", "mia", "pw-mia")


def new_chat(page: Any, model: str = "auto") -> None:
    page.select_option(".empty select[name=model]", model)
    page.click(".empty button[type=submit]")
    page.wait_for_url("**/chat/c/**")


def send(page: Any, text: str) -> None:
    box = page.locator("#composer textarea")
    box.fill(text)
    box.press("Enter")


def finished_answers(page: Any) -> Any:
    return page.locator("article.msg.assistant[aria-busy=false]")


@pytest.fixture
def root_console(page: Any, hub: Any, tiny_gguf: Path, team: Any) -> Any:
    """An org admin (superuser ``root``) on the policy console, with a tiny local model."""
    from django.contrib.auth.models import User

    from tests.conftest import make_local_model

    User.objects.create_superuser("root", "root@example.com", "pw-root-123")
    make_local_model(tiny_gguf, name="tiny")
    return log_in(page, hub.url, "/policy/", "root", "pw-root-123")
