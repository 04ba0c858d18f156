"""Replicas of an on-prem model server: balanced by outstanding requests,
out of rotation while failing, back once a probe gets an answer, and their
queue depth visible. Each replica is a loopback OpenAI-wire server."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from apps.providers import replicas
from apps.providers.models import LanguageModel, PrivacyZone, Provider
from tests.support.openai_mock import MockCloud, ServerThread


@pytest.fixture
def servers() -> Iterator[list[tuple[MockCloud, ServerThread]]]:
    started = []
    for _ in range(2):
        mock = MockCloud()
        started.append((mock, ServerThread(mock).start()))
    yield started
    for _, server in started:
        server.stop()


def _onprem(urls: list[str]) -> LanguageModel:
    provider = Provider.objects.create(
        name="gpu-pool",
        kind=Provider.Kind.OPENAI_COMPATIBLE,
        privacy_zone=PrivacyZone.ON_PREM,
        base_url=urls[0],
        replica_urls="\n".join(urls[1:]),
        timeout_seconds=5,
        max_retries=2,
    )
    provider.full_clean()
    return LanguageModel.objects.create(provider=provider, name="llama-70b", upstream_id="llama")


@pytest.fixture
def client(hub, member):
    return openai.OpenAI(base_url=hub.api, api_key=member.key, max_retries=0, timeout=30)


def _ask(client: openai.OpenAI, _: int = 0) -> str:
    stream = client.chat.completions.create(
        model="llama-70b", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)


def test_requests_go_to_the_replica_with_fewest_outstanding(client, servers, settings):
    settings.HYBRIDHUB_METRICS_TOKEN = "m"
    for mock, _ in servers:
        mock.reply_tokens, mock.token_delay = 20, 0.05
    _onprem([server.url + "/v1" for _, server in servers])
    with ThreadPoolExecutor(4) as pool:
        answers = pool.map(lambda i: _ask(client), range(4))
        deadline = time.monotonic() + 5
        while sum(n for n, _ in replicas.replica_load().get("gpu-pool", {}).values()) < 4:
            assert time.monotonic() < deadline, replicas.replica_load()
            time.sleep(0.01)
        depth = replicas.replica_load()["gpu-pool"]
        assert [n for n, _ in depth.values()] == [2, 2]
        metrics = Client(HTTP_AUTHORIZATION="Bearer m").get("/metrics").content.decode()
        gauges = {
            s.labels["url"]: s.value
            for f in text_string_to_metric_families(metrics)
            if f.name == "hybridhub_replica_outstanding"
            for s in f.samples
            if s.labels["provider"] == "gpu-pool"
        }
        assert gauges == {url: 2 for url in depth}  # the queue depth on /metrics
        assert all(answers)
    assert [len(mock.requests) for mock, _ in servers] == [2, 2]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_failing_replica_leaves_the_rotation_and_comes_back(client, servers, monkeypatch):
    monkeypatch.setattr(replicas, "PROBE_SECONDS", 0.1)
    (mock, server), _ = servers
    port = _closed_port()
    dead = f"http://127.0.0.1:{port}/v1"
    _onprem([dead, server.url + "/v1"])  # the first listed replica is down
    assert _ask(client)  # retried on the live replica
    assert replicas.replica_load()["gpu-pool"][dead] == (0, False)
    for _ in range(3):
        assert _ask(client)
    assert len(mock.requests) == 4  # nothing waited on the dead one again
    revived_mock = MockCloud()
    revived = ServerThread(revived_mock, port=port).start()
    try:
        deadline = time.monotonic() + 10
        while not replicas.replica_load()["gpu-pool"][dead][1]:
            assert time.monotonic() < deadline, "the probe did not bring it back"
            time.sleep(0.05)
        assert _ask(client)
        assert len(revived_mock.requests) == 1  # first listed, idle: it gets the next one
    finally:
        revived.stop()


def test_replicas_are_for_servers_reached_over_the_api(db):
    provider = Provider(
        name="cpu",
        kind=Provider.Kind.LOCAL_LLAMA_CPP,
        privacy_zone=PrivacyZone.ON_PREM,
        replica_urls="http://10.0.0.2:8000/v1",
    )
    with pytest.raises(Exception, match="Only a provider served over the OpenAI-compatible API"):
        provider.full_clean()
    provider.kind, provider.base_url = Provider.Kind.OPENAI_COMPATIBLE, "http://10.0.0.1:8000/v1"
    provider.replica_urls = "ftp://10.0.0.2/"
    with pytest.raises(Exception, match="Use an http"):
        provider.full_clean()
