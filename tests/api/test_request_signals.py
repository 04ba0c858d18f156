"""Django's request signals on the API handler (apps/core/handlers.py): they
tidy the shared thread's database connection, and are sent for at most one
request a second instead of for every request (two thread hops each)."""

import httpx
import pytest
from django.core.signals import request_finished, request_started

from apps.core import handlers


@pytest.fixture
def sent():
    """(signal, sender name) of each request signal sent by the API handler."""
    seen = []

    def started(sender, **kwargs):
        seen.append(("started", sender.__name__))

    def finished(sender, **kwargs):
        seen.append(("finished", getattr(sender, "__name__", str(sender))))

    request_started.connect(started)
    request_finished.connect(finished)
    yield seen
    request_started.disconnect(started)
    request_finished.disconnect(finished)


def _list_models(hub, member, times):
    headers = {"Authorization": f"Bearer {member.key}"}
    with httpx.Client(base_url=hub.api, headers=headers) as client:
        return [client.get("/models").status_code for _ in range(times)]


def test_api_requests_send_the_signals_at_most_once_a_second(hub, member, sent, monkeypatch):
    monkeypatch.setattr(handlers, "API_SIGNALS_EVERY_SECONDS", 3600.0)
    from hybridhub.asgi import api_asgi_app  # the live server's API handler

    monkeypatch.setattr(api_asgi_app, "_signals_sent_at", float("-inf"))
    assert _list_models(hub, member, 5) == [200] * 5
    # the first request after a quiet hour tidies the connection; the rest do not
    assert sent == [("started", "APIHandler"), ("finished", "APIHandler")]


def test_with_no_interval_every_api_request_sends_them(hub, member, sent, monkeypatch):
    monkeypatch.setattr(handlers, "API_SIGNALS_EVERY_SECONDS", 0.0)
    assert _list_models(hub, member, 3) == [200] * 3
    assert sent.count(("started", "APIHandler")) == 3
    assert sent.count(("finished", "APIHandler")) == 3
