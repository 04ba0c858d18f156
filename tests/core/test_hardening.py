"""Deployment hardening: headers on every page, no inline script, check
--deploy, bounded body reads, login throttling, API SSE framing."""

import os
import re
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai
import pytest
from django.contrib.auth.hashers import MD5PasswordHasher
from django.contrib.auth.models import User

from apps.chat.services import conversation_create
from tests.conftest import make_cloud_model

ROOT = Path(__file__).resolve().parents[2]
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", re.I)
EVENT_ATTRIBUTE = re.compile(r"<[^>]+\son[a-z]+\s*=", re.I)


@pytest.fixture
def staff(client, db):
    User.objects.create_superuser("root", "root@example.com", "pw-root")
    client.force_login(User.objects.get(username="root"))
    return client


def test_every_page_has_a_csp_without_inline_script(staff, team):
    User.objects.get(username="root").memberships.create(team=team, role="admin")
    conversation = conversation_create(user=User.objects.get(username="root"), team=team)
    pages = [
        "/chat/", f"/chat/c/{conversation.code}/", "/chat/keys/", "/policy/", "/policy/simulate/",
        "/policy/versions/", "/policy/replay/", "/admin/", "/admin/accounts/apikey/add/",
        "/accounts/password/",
    ]  # fmt: skip
    for path in pages:
        response = staff.get(path, follow=True)
        assert response.status_code == 200, path
        policy = response["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy, path
        assert "frame-ancestors 'none'" in policy and response["X-Frame-Options"] == "DENY"
        html = response.content.decode()
        assert not INLINE_SCRIPT.search(html), (path, INLINE_SCRIPT.search(html))
        assert not EVENT_ATTRIBUTE.search(html), (path, EVENT_ATTRIBUTE.search(html))


def test_login_page_and_api_docs_have_the_headers_too(hub):
    for path in ("/accounts/login/", "/v1/docs", "/v1/openapi.json", "/v1/models"):
        response = httpx.get(hub.url + path)
        assert "script-src 'self'" in response.headers["content-security-policy"], path
        assert response.headers["x-frame-options"] == "DENY", path
    docs = httpx.get(hub.url + "/v1/docs").text
    assert not INLINE_SCRIPT.search(docs) and "cdn." not in docs


def test_pages_with_secrets_are_not_stored(client, member):
    client.force_login(member.user)
    response = client.post("/chat/keys/", {"name": "laptop", "team": member.team.pk})
    assert "no-store" in response["Cache-Control"]


def test_check_deploy_is_clean_with_the_documented_production_settings():
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "hybridhub.settings",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DEBUG": "false",
        "ALLOWED_HOSTS": "hub.example.com",
        "SECURE_HTTPS": "true",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_https_settings_are_off_unless_switched_on():
    from django.conf import settings

    assert not settings.SECURE_SSL_REDIRECT and settings.SECURE_HSTS_SECONDS == 0
    assert settings.SECURE_PROXY_SSL_HEADER is None


# --- bounded reads -------------------------------------------------------------------


def _silent_body(hub, path: str) -> tuple[bytes, float]:
    """Announce a 100-byte body, send none; what comes back, and when."""
    host, port = hub.url.removeprefix("http://").split(":")
    started = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            "Content-Length: 100\r\n\r\n{".encode()
        )
        answer = b""
        while chunk := sock.recv(4096):  # until the server closes the connection
            answer += chunk
    return answer, time.monotonic() - started


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/accounts/login/"])
def test_a_body_that_never_arrives_is_answered_408_and_closed(hub, settings, path):
    settings.HYBRIDHUB_BODY_READ_TIMEOUT_SECONDS = 0.5
    answer, took = _silent_body(hub, path)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert took < 8  # generous: the point is that it ends at all
    if path.startswith("/v1/"):
        assert b'"code": "request_timeout"' in answer


@pytest.mark.parametrize("path", ["/v1/models", "/accounts/login/"])
def test_too_many_or_too_large_headers_are_refused(hub, path):
    many = {f"x-h{i}": "a" for i in range(200)}
    assert httpx.get(hub.url + path, headers=many).status_code == 431
    huge = {"x-big": "a" * 70_000}
    response = httpx.get(hub.url + path, headers=huge)
    assert response.status_code == 431
    if path.startswith("/v1/"):
        assert response.json()["error"]["code"] == "request_headers_too_large"
    assert httpx.get(hub.url + path, headers={"x-ok": "a" * 1000}).status_code != 431


# --- login throttling ------------------------------------------------------------------


class CountingHasher(MD5PasswordHasher):
    calls = 0

    def verify(self, password, encoded):  # type: ignore[no-untyped-def]
        CountingHasher.calls += 1
        return super().verify(password, encoded)

    def encode(self, password, salt):  # type: ignore[no-untyped-def]
        CountingHasher.calls += 1
        return super().encode(password, salt)


def login(client, username, password, address="10.0.0.1"):
    return client.post(
        "/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=address
    )


def test_an_account_locks_after_repeated_failures_even_with_the_right_password(client, member):
    for attempt in range(5):
        login(client, "mia", f"wrong-{attempt}", address=f"10.0.0.{attempt}")
    response = login(client, "mia", "pw-mia", address="10.9.9.9")
    assert response.status_code == 429 and "_auth_user_id" not in client.session


def test_an_address_locks_after_failures_across_accounts(client, member):
    for attempt in range(5):
        login(client, f"nobody{attempt}", "x", address="10.1.1.1")
    response = login(client, "mia", "pw-mia", address="10.1.1.1")
    assert response.status_code == 429 and "_auth_user_id" not in client.session
    assert login(client, "mia", "pw-mia", address="10.2.2.2").status_code == 302


def test_a_locked_out_attempt_hashes_nothing_and_is_fast(client, member, settings):
    settings.PASSWORD_HASHERS = ["tests.core.test_hardening.CountingHasher"]
    for attempt in range(5):
        login(client, "mia", f"wrong-{attempt}")
    CountingHasher.calls = 0
    started = time.monotonic()
    for _ in range(20):
        assert login(client, "mia", "whatever").status_code == 429
    assert CountingHasher.calls == 0
    assert time.monotonic() - started < 5  # well under: no hashing at all


def test_throttling_works_on_the_live_server(hub, member):
    with httpx.Client(base_url=hub.url) as browser:
        browser.get("/accounts/login/")
        token = {"csrfmiddlewaretoken": browser.cookies["csrftoken"]}
        for _ in range(5):
            browser.post("/accounts/login/", data={**token, "username": "mia", "password": "no"})
        right = browser.post(
            "/accounts/login/", data={**token, "username": "mia", "password": "pw-mia"}
        )
        assert right.status_code == 429 and "sessionid" not in browser.cookies


def test_success_before_the_limit_resets_the_count(client, member):
    for attempt in range(4):
        login(client, "mia", f"wrong-{attempt}")
    assert login(client, "mia", "pw-mia").status_code == 302
    client.logout()
    for attempt in range(4):
        login(client, "mia", f"again-{attempt}")
    assert login(client, "mia", "pw-mia").status_code == 302


# --- API SSE ---------------------------------------------------------------------------


def test_api_stream_carries_model_line_breaks_inside_json_only(hub, member, cloud):
    make_cloud_model(cloud.url, name="cloud-mini")
    cloud.script = ["a\r", "data: [DONE]\r\r", "b\n\ndata: x\r\n"]
    body = {"model": "cloud-mini", "stream": True, "messages": [{"role": "user", "content": "x"}]}
    raw = httpx.post(
        hub.api + "/chat/completions", json=body, headers={"Authorization": f"Bearer {member.key}"}
    ).content
    assert b"\r" not in raw
    events = [e for e in raw.split(b"\n\n") if e]
    assert all(e.startswith(b"data: ") and b"\n" not in e for e in events)
    assert events[-1] == b"data: [DONE]" and raw.count(b"data: [DONE]\n\n") == 1
    api = openai.OpenAI(base_url=hub.api, api_key=member.key, max_retries=0)
    chunks = api.chat.completions.create(
        model="cloud-mini", stream=True, messages=[{"role": "user", "content": "x"}]
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "".join(cloud.script)
