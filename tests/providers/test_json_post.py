"""The non-streamed POST (adapters/json_post.py) sends what the SDK would
send and raises the SDK's errors, over a real socket on 127.0.0.1."""

import asyncio
import json
import socket
import threading

import openai
import pytest

from apps.providers.adapters.json_post import JsonPoster, env_proxy, json_posts_close


class RawServer:
    """A one-thread HTTP/1.1 server that keeps the requests it got and
    answers each with the next scripted (status, headers, body, delay)."""

    def __init__(self) -> None:
        self.requests: list[bytes] = []
        self.answers: list[tuple[int, dict[str, str], bytes, float]] = []
        self.in_flight = self.most_in_flight = 0
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            conn, _ = self.sock.accept()
            threading.Thread(target=self._connection, args=(conn,), daemon=True).start()

    def _connection(self, conn: socket.socket) -> None:
        import time

        data = b""
        with conn:
            while True:
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                head, _, data = data.partition(b"\r\n\r\n")
                length = int(
                    next(
                        line.split(b":")[1]
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    )
                )
                while len(data) < length:
                    data += conn.recv(65536)
                self.requests.append(head + b"\r\n\r\n" + data[:length])
                data = data[length:]
                with self.lock:
                    status, headers, body, delay = self.answers.pop(0)
                    self.in_flight += 1
                    self.most_in_flight = max(self.most_in_flight, self.in_flight)
                time.sleep(delay)
                with self.lock:
                    self.in_flight -= 1
                extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
                conn.sendall(
                    f"HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n{extra}"
                    f"content-length: {len(body)}\r\n\r\n".encode()
                    + body
                )


@pytest.fixture
def server():
    return RawServer()


def _poster(url: str, timeout: float = 5.0) -> JsonPoster:
    client = openai.AsyncOpenAI(base_url=url, api_key="sk-vendor", max_retries=0)
    return JsonPoster(client, "/chat/completions", timeout)


def test_sends_the_sdks_url_and_headers_and_returns_the_body(server):
    server.answers += [(200, {}, b'{"ok": 1}', 0.0)] * 2
    poster = _poster(server.url)

    async def twice():
        return [await poster.post({"model": "m", "n": i}) for i in range(2)]

    assert asyncio.run(twice()) == [b'{"ok": 1}'] * 2
    head, _, body = server.requests[0].partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /v1/chat/completions HTTP/1.1"
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    assert headers["authorization"] == "Bearer sk-vendor"
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"].startswith("AsyncOpenAI/Python")
    assert json.loads(body) == {"model": "m", "n": 0}
    # a second event loop (as tests and management commands have) gets its own pool
    server.answers.append((200, {}, b"{}", 0.0))

    async def then_shut_down():
        answer = await poster.post({})
        await json_posts_close()  # the server's lifespan shutdown
        return answer, poster._current.session

    assert asyncio.run(then_shut_down()) == (b"{}", None)


def test_an_http_error_is_the_sdks_error_with_body_and_headers(server):
    body = json.dumps({"error": {"message": "slow down", "type": "rate_limit"}}).encode()
    server.answers.append((429, {"retry-after": "7"}, body, 0.0))
    with pytest.raises(openai.RateLimitError) as caught:
        asyncio.run(_poster(server.url).post({}))
    assert caught.value.status_code == 429
    assert caught.value.response.headers["retry-after"] == "7"
    assert caught.value.body["message"] == "slow down"


def test_a_silent_vendor_times_out_and_a_closed_port_is_unreachable(server):
    server.answers.append((200, {}, b"{}", 1.0))
    with pytest.raises(openai.APITimeoutError):
        asyncio.run(_poster(server.url, timeout=0.2).post({}))

    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    with pytest.raises(openai.APIConnectionError) as caught:
        asyncio.run(_poster(f"http://127.0.0.1:{port}/v1").post({}))
    assert not isinstance(caught.value, openai.APITimeoutError)


def test_the_environments_proxy_is_read_once_like_httpx_reads_it(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "vendor.internal")
    assert env_proxy("https://api.vendor.example/v1/chat/completions") == (
        "http://proxy.internal:3128"
    )
    assert env_proxy("https://vendor.internal/v1/chat/completions") is None
    assert env_proxy("http://api.vendor.example/v1") is None  # no HTTP_PROXY set


def test_calls_run_side_by_side_not_one_after_another(server):
    server.answers += [(200, {}, b"{}", 0.5)] * 4
    poster = _poster(server.url)

    async def four_at_once():
        await asyncio.gather(*(poster.post({"n": i}) for i in range(4)))

    asyncio.run(four_at_once())
    assert server.most_in_flight == 4  # no connection limit queues them
