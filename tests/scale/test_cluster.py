"""Two HybridHub processes behind one PostgreSQL and one Redis.

A chat answer generated on one process streams from the other, Stop works
from the other, a policy published on one is applied by the other at once
(the snapshot TTL is two minutes here: only the shared version can explain a
quick change), budget reservations from both hold one budget, and an answer
whose process dies ends as stopped. The vendor is the loopback mock.
"""

from __future__ import annotations

import json
import re
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.support.budget_scenario import one_request
from tests.support.cluster import browser, cluster_env, hub_process, script
from tests.support.postgres import postgres_bin, temporary_postgres
from tests.support.redis import redis_server_bin, temporary_redis

pytestmark = pytest.mark.timeout(300)


@dataclass
class Cluster:
    a: str
    b: str
    env: dict[str, str]
    seed: dict[str, Any]
    process_a: Any

    def answer(self, pk: int) -> dict[str, str]:
        return json.loads(script(self.env, "message", str(pk)))  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def cluster(cloud_server: Any) -> Iterator[Cluster]:
    if postgres_bin() is None:
        pytest.skip("PostgreSQL is not installed (Debian's postgresql package; .ci/run has it)")
    if redis_server_bin() is None:
        pytest.skip("redis-server is not installed (Debian's redis-server package; .ci/run has it)")
    pytest.importorskip("psycopg", reason="install the postgres extra (psycopg)")
    _mock, server = cloud_server
    with temporary_postgres() as database_url, temporary_redis() as redis_url:
        env = cluster_env(database_url, redis_url)
        seed = json.loads(script(env, "seed", server.url + "/v1"))
        with hub_process(env) as (a, process_a), hub_process(env) as (b, _):
            yield Cluster(a=a, b=b, env=env, seed=seed, process_a=process_a)


@pytest.fixture
def vendor(cloud_server: Any) -> Any:
    mock, _ = cloud_server
    mock.__init__()
    return mock


def _send(cluster: Cluster, url: str, text: str) -> int:
    with browser(url, cluster.seed["member_session"]) as http:
        reply = http.post(f"/chat/c/{cluster.seed['chat']}/send/", data={"text": text})
    assert reply.status_code == 200, reply.text[:500]
    found = re.findall(r'id="answer-(\d+)"', reply.text)
    assert found, reply.text[:1000]
    return int(found[-1])


def _events(response: httpx.Response) -> Iterator[tuple[str, str]]:
    event, data = "", []
    for line in response.iter_lines():
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            data.append(line[6:])
        elif not line and event:
            yield event, "\n".join(data)
            event, data = "", []


def test_an_answer_generated_on_one_process_streams_from_the_other(cluster, vendor):
    vendor.natural_length, vendor.token_delay = 40, 0.05
    pk = _send(cluster, cluster.a, "Tell me a story")
    streamed, tokens = "", 0
    with (
        browser(cluster.b, cluster.seed["member_session"]) as http,
        http.stream("GET", f"/chat/answers/{pk}/stream/") as response,
    ):
        assert response.status_code == 200
        for event, data in _events(response):
            if event == "snapshot":
                streamed = data
            elif event == "token":
                streamed, tokens = streamed + data, tokens + 1
            elif event == "done":
                done = data
                break
    answer = cluster.answer(pk)
    assert answer["status"] == "done"
    assert tokens > 0  # B relayed it live, not from the finished row
    assert streamed == answer["content"] == "".join(f"w{i} " for i in range(40))
    assert "w39" in done


def test_stop_from_the_other_process(cluster, vendor):
    vendor.natural_length, vendor.token_delay = 400, 0.05
    pk = _send(cluster, cluster.a, "Tell me a long story")
    with (
        browser(cluster.b, cluster.seed["member_session"]) as http,
        http.stream("GET", f"/chat/answers/{pk}/stream/") as response,
    ):
        events = _events(response)
        for event, _ in events:
            if event == "token":
                break
        assert http.post(f"/chat/answers/{pk}/stop/").status_code == 204
        assert [e for e, _ in events][-1:] == ["done"]
    answer = cluster.answer(pk)
    assert answer["status"] == "stopped"
    assert answer["content"].startswith("w0 ") and "w399" not in answer["content"]


def _route(url: str, key: str) -> str:
    reply = httpx.post(
        url + "/v1/chat/completions",
        json={"model": "auto", "messages": [{"role": "user", "content": "Say hi"}]},
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )
    assert reply.status_code == 200, reply.text
    return reply.headers["x-hybridhub-route"]


def test_a_policy_published_on_one_process_is_applied_by_the_other(cluster, vendor):
    key = cluster.seed["key"]
    assert _route(cluster.b, key) == "cloud:cloud-b"  # B has the live policy cached
    with browser(cluster.a, cluster.seed["admin_session"]) as http:
        number = cluster.seed["policy_to_a"]
        reply = http.post(f"/policy/versions/{number}/rollback/")
    assert reply.status_code == 302, reply.text[:500]
    deadline = time.monotonic() + 5  # generous on a loaded machine; bench/ times it
    while _route(cluster.b, key) != "cloud:cloud-a":
        assert time.monotonic() < deadline, "B still routes by the old policy"
        time.sleep(0.05)


def test_a_catalogue_edit_reaches_every_process(cluster, vendor):
    def names(url: str) -> set[str]:
        headers = {"Authorization": f"Bearer {cluster.seed['key']}"}
        reply = httpx.get(url + "/v1/models", headers=headers, timeout=30)
        return {m["id"] for m in reply.json()["data"]}

    assert "cloud-b" in names(cluster.a) and "cloud-b" in names(cluster.b)
    script(cluster.env, "disable", "cloud-b")  # a third process, like the admin's
    deadline = time.monotonic() + 5
    while "cloud-b" in names(cluster.a) | names(cluster.b):
        assert time.monotonic() < deadline, "a process still lists the disabled model"
        time.sleep(0.05)


def test_reservations_from_both_processes_hold_one_budget(cluster, vendor):
    vendor.token_delay = 0.01
    key = cluster.seed["ops_key"]
    apis = [cluster.a + "/v1", cluster.b + "/v1"]
    with ThreadPoolExecutor(max_workers=30) as pool:
        outcomes = list(
            pool.map(lambda i: one_request(apis[i % 2], key, i, model="cloud-a"), range(30))
        )
    for _ in range(100):
        state = json.loads(script(cluster.env, "budget"))
        if state["reserved"] == 0:
            break
        time.sleep(0.1)
    assert set(outcomes) <= {"ok", "budget_exceeded"}, outcomes
    assert 1 <= outcomes.count("ok") <= 5
    assert state["reserved"] == 0
    assert state["spent"] == state["ledger_cost"] <= state["limit"]


def test_an_answer_whose_process_dies_ends_as_stopped(cluster, vendor):
    """Last: it kills process A."""
    vendor.natural_length, vendor.token_delay = 400, 0.05
    pk = _send(cluster, cluster.a, "Tell me another long story")
    with (
        browser(cluster.b, cluster.seed["member_session"]) as http,
        http.stream("GET", f"/chat/answers/{pk}/stream/", timeout=60) as response,
    ):
        events = _events(response)
        for event, _ in events:
            if event == "token":
                break
        cluster.process_a.send_signal(signal.SIGKILL)
        assert [e for e, _ in events][-1:] == ["done"]  # B notices, within the owner TTL
    answer = cluster.answer(pk)
    assert answer["status"] == "stopped"
    assert "process" in answer["error"]
    assert _send(cluster, cluster.b, "Are you there?") > pk  # the chat goes on
