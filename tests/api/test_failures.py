"""Retries, fallbacks, busy local models and clients that leave mid-answer."""

import socket
import threading
import time

import httpx
import openai
import pytest

from apps.gateway.models import UsageRecord
from apps.providers.models import Provider
from tests.conftest import add_fallbacks, make_cloud_model, make_local_model

HI = [{"role": "user", "content": "hello world"}]


def dead_url():
    """A loopback port with nothing listening: connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/v1"


def wait_for_row(**filters):
    for _ in range(200):
        row = UsageRecord.objects.filter(**filters).first()
        if row:
            return row
        time.sleep(0.025)
    raise AssertionError(f"no usage record with {filters}")


def test_cloud_500_then_success_is_retried(client, hub, cloud):
    make_cloud_model(cloud.url, name="cloud-mini")
    cloud.fail_next(2, status=500)
    completion = client.chat.completions.create(model="cloud-mini", messages=HI, max_tokens=2)
    assert completion.choices[0].message.content == "w0 w1 "
    assert len(cloud.requests) == 3
    row = UsageRecord.objects.get()
    assert row.status == "ok"
    assert row.attempts == [{"model": "cloud-mini", "error": "upstream_http_500"}] * 2


def test_retry_after_is_honoured(client, hub, cloud):
    make_cloud_model(cloud.url, name="cloud-mini")
    cloud.fail_next(1, status=429, retry_after="1")
    started = time.monotonic()
    client.chat.completions.create(model="cloud-mini", messages=HI, max_tokens=2)
    assert time.monotonic() - started >= 1.0
    assert UsageRecord.objects.get().attempts[0]["error"] == "upstream_rate_limited"


def test_dead_provider_falls_over_to_the_next_model(client, hub, cloud, tiny_gguf):
    dead = make_cloud_model(dead_url(), name="dead-cloud", provider="deadai")
    backup = make_cloud_model(cloud.url, name="cloud-mini")
    add_fallbacks(dead, backup)
    raw = client.chat.completions.with_raw_response.create(
        model="dead-cloud", messages=HI, max_tokens=2
    )
    assert raw.headers["x-hybridhub-route"] == "cloud:cloud-mini"
    assert "dead-cloud failed (upstream_unreachable)" in raw.headers["x-hybridhub-reason"]
    row = UsageRecord.objects.get()
    assert (row.requested_model, row.model_name, row.status) == ("dead-cloud", "cloud-mini", "ok")
    assert [a["model"] for a in row.attempts] == ["dead-cloud"] * 3  # first try and 2 retries


def test_when_every_model_fails_the_client_gets_a_503_and_a_ledger_row(client, hub, cloud):
    make_cloud_model(cloud.url, name="cloud-mini")
    cloud.fail_next(3, status=503)
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="cloud-mini", messages=HI)
    assert caught.value.status_code == 503
    row = UsageRecord.objects.get()
    assert (row.status, row.error_type, row.model_name) == ("error", "upstream_http_503", "")


def test_a_request_the_vendor_rejects_is_not_retried(client, hub, cloud, tiny_gguf):
    model = make_cloud_model(cloud.url, name="cloud-mini")
    add_fallbacks(model, make_local_model(tiny_gguf, name="tiny"))
    cloud.fail_next(1, status=400, message="bad temperature")
    with pytest.raises(openai.APIStatusError):
        client.chat.completions.create(model="cloud-mini", messages=HI)
    assert len(cloud.requests) == 1
    assert UsageRecord.objects.get().status == "error"


def test_missing_vendor_key_falls_over_without_leaking(client, hub, cloud, tiny_gguf, monkeypatch):
    monkeypatch.delenv("MOCKAI_API_KEY")
    model = make_cloud_model(cloud.url, name="cloud-mini")
    add_fallbacks(model, make_local_model(tiny_gguf, name="tiny"))
    raw = client.chat.completions.with_raw_response.create(
        model="cloud-mini", messages=HI, max_tokens=2
    )
    assert raw.headers["x-hybridhub-route"] == "local:tiny"
    assert cloud.requests == []


def test_full_local_queue_is_rejected_cleanly(hub, member, slow_gguf):
    make_local_model(slow_gguf, name="slow", max_queue=0, queue_timeout_seconds=0.5)
    body = {"model": "slow", "messages": HI, "max_tokens": 1500, "temperature": 0, "stream": True}
    headers = {"Authorization": f"Bearer {member.key}"}
    with httpx.stream(
        "POST", hub.api + "/chat/completions", json=body, headers=headers, timeout=30
    ) as busy:
        lines = busy.iter_lines()  # held: a dropped iterator closes the stream
        next(lines)  # the model is generating for this one
        response = httpx.post(hub.api + "/chat/completions", json=body, headers=headers, timeout=30)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"  # the queue timeout, rounded up
    error = response.json()["error"]
    assert (error["code"], error["type"]) == ("model_busy", "server_error")
    assert wait_for_row(status="error").error_type == "model_busy"


def test_client_disconnect_mid_stream_is_recorded_as_cancelled(hub, member, slow_gguf):
    make_local_model(slow_gguf, name="slow")
    body = {"model": "slow", "messages": HI, "max_tokens": 1500, "temperature": 0, "stream": True}
    headers = {"Authorization": f"Bearer {member.key}"}
    received = 0
    with httpx.stream(
        "POST", hub.api + "/chat/completions", json=body, headers=headers, timeout=30
    ) as response:
        for line in response.iter_lines():
            received += line.startswith("data: ")
            if received >= 6:
                break
    row = wait_for_row(status="cancelled")
    assert row.error_type == "client_disconnected" and row.finish_reason == "cancelled"
    assert 5 <= row.completion_tokens < 1500
    assert not row.tokens_estimated and row.prompt_tokens > 0

    # The model was freed: a new request is answered at once.
    quick = {**body, "max_tokens": 2, "stream": False}
    response = httpx.post(hub.api + "/chat/completions", json=quick, headers=headers, timeout=5)
    assert response.status_code == 200


def test_cloud_stream_cut_mid_answer_ends_with_an_error_event(client, hub, cloud):
    make_cloud_model(cloud.url, name="cloud-mini")
    cloud.cut_stream_after = 2
    stream = client.chat.completions.create(
        model="cloud-mini", messages=HI, max_tokens=8, stream=True
    )
    with pytest.raises(openai.APIError):
        for _chunk in stream:
            pass
    row = wait_for_row(status="error")
    assert row.completion_tokens == 2 and row.model_name == "cloud-mini"


def test_concurrent_requests_to_one_local_model_are_all_served(hub, member, tiny_gguf):
    make_local_model(tiny_gguf, name="tiny", max_queue=8)
    headers = {"Authorization": f"Bearer {member.key}"}
    body = {"model": "tiny", "messages": HI, "max_tokens": 20}
    statuses = []

    def call():
        statuses.append(
            httpx.post(
                hub.api + "/chat/completions", json=body, headers=headers, timeout=30
            ).status_code
        )

    threads = [threading.Thread(target=call) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200] * 6
    assert UsageRecord.objects.filter(status="ok", completion_tokens=20).count() == 6


def test_disabled_provider_is_not_routable(client, hub, cloud):
    make_cloud_model(cloud.url, name="cloud-mini")
    Provider.objects.filter(name="mockai").update(enabled=False)
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="cloud-mini", messages=HI)


# --- truthful errors ------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 404, 409, 422])
def test_vendor_4xx_passes_through(client, hub, cloud, status):
    make_cloud_model(cloud.url, name="cloud-mini")
    cloud.fail_next(3, status=status, message="messages[1]: bad role")
    with pytest.raises(openai.APIStatusError) as error:
        client.chat.completions.create(model="cloud-mini", messages=HI, max_tokens=2)
    assert error.value.status_code == status
    assert "messages[1]: bad role" in error.value.body["message"]
    assert UsageRecord.objects.get().status == "error"


def test_every_route_rate_limited_is_429_with_the_largest_retry_after(client, hub, cloud):
    model = make_cloud_model(cloud.url, name="cloud-mini")
    model.provider.max_retries = 0
    model.provider.save()
    backup = make_cloud_model(cloud.url, name="cloud-backup")
    add_fallbacks(model, backup)
    cloud.fail_next(1, status=429, retry_after="2")
    cloud.fail_next(1, status=429, retry_after="7")
    response = httpx.post(
        f"{hub.api}/chat/completions",
        json={"model": "cloud-mini", "messages": HI},
        headers={"Authorization": f"Bearer {client.api_key}"},
    )
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    assert response.json()["error"]["type"] == "rate_limit_error"
    assert len(cloud.requests) == 2


def test_stream_cut_after_the_first_token_ends_with_an_error_event(client, hub, cloud):
    make_cloud_model(cloud.url, name="cloud-mini")
    cloud.cut_stream_after = 2
    with httpx.stream(
        "POST",
        f"{hub.api}/chat/completions",
        json={"model": "cloud-mini", "messages": HI, "max_tokens": 6, "stream": True},
        headers={"Authorization": f"Bearer {client.api_key}"},
    ) as response:
        events = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
    assert '"content":"w1 "' in events[2]
    assert "error" in events[-1] and "[DONE]" not in events
    row = wait_for_row(status="error")
    assert row.error_type == "upstream_stream_truncated" and row.completion_tokens == 2


def test_stream_cut_before_the_first_token_is_retried(client, hub, cloud):
    make_cloud_model(cloud.url, name="cloud-mini")
    cloud.cut_stream_after = 0
    with pytest.raises(openai.APIStatusError) as error:
        list(client.chat.completions.create(
            model="cloud-mini", messages=HI, max_tokens=3, stream=True
        ))  # fmt: skip
    assert error.value.status_code == 502
    assert len(cloud.requests) == 3  # tried, then retried twice
    row = UsageRecord.objects.get()
    assert (row.status, row.error_type) == ("error", "upstream_stream_truncated")


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("POST", "/v1/completions", 404),
        ("GET", "/v1/nowhere", 404),
        ("POST", "/v1/chat/completions/", 404),
        ("GET", "/v1/chat/completions", 405),
        ("OPTIONS", "/v1/chat/completions", 405),
    ],
)
def test_every_v1_answer_is_json(hub, member, method, path, status):
    response = httpx.request(
        method, hub.url + path, headers={"Authorization": f"Bearer {member.key}"}
    )
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"]["message"]
    if path == "/v1/completions":
        assert "not served" in response.json()["error"]["message"]


def test_host_is_validated_on_the_api(hub, member):
    response = httpx.get(
        f"{hub.api}/models", headers={"Authorization": f"Bearer {member.key}", "Host": "evil.test"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_host"


def test_retrieve_a_model(client, hub, cloud):
    make_cloud_model(cloud.url, name="cloud-mini")
    assert client.models.retrieve("cloud-mini").owned_by == "mockai"
    assert client.models.retrieve("auto").id == "auto"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("nope")


def test_stream_stalled_after_the_first_token_ends_with_an_error_event(client, hub, cloud):
    model = make_cloud_model(cloud.url, name="cloud-mini")
    model.provider.timeout_seconds = 1
    model.provider.save()
    cloud.stall_stream_after = 1
    stream = client.chat.completions.create(
        model="cloud-mini", messages=HI, max_tokens=4, stream=True
    )
    pieces = []
    with pytest.raises(openai.APIError):
        for chunk in stream:
            pieces += [c.delta.content for c in chunk.choices if c.delta.content]
    assert pieces == ["w0 "]
    row = wait_for_row(status="error")
    assert row.error_type == "upstream_stream_truncated"


def test_a_strict_key_never_gets_a_substitute(hub, member, cloud):
    from apps.accounts.services import api_key_create

    dead = make_cloud_model(dead_url(), name="dead-cloud", provider="deadai")
    add_fallbacks(dead, make_cloud_model(cloud.url, name="cloud-mini"))
    issued = api_key_create(user=member.user, team=member.team, name="strict", strict_model=True)
    strict = openai.OpenAI(base_url=hub.api, api_key=issued.secret, max_retries=0, timeout=30)
    with pytest.raises(openai.APIStatusError) as error:
        strict.chat.completions.create(model="dead-cloud", messages=HI, max_tokens=2)
    assert error.value.status_code == 502
    assert not cloud.requests  # the fallback was not used
    row = UsageRecord.objects.get()
    assert (row.status, row.error_type) == ("error", "upstream_unreachable")
