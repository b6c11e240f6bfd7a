"""The HTTP seam against a real server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from railwatch.errors import NetworkError
from railwatch.http import USER_AGENT, HttpClient, RetryPolicy, redact


class ScriptedServer(ThreadingHTTPServer):
    """Answers each request with the next (status, headers) of a script; records what it saw."""

    def __init__(self, script: list[tuple[int, dict[str, str]]]) -> None:
        super().__init__(("127.0.0.1", 0), ScriptedHandler)
        self.script = script
        self.seen: list[dict[str, str]] = []


class ScriptedHandler(BaseHTTPRequestHandler):
    server: ScriptedServer

    def do_GET(self) -> None:  # noqa: N802 - the http.server naming
        self.server.seen.append(dict(self.headers))
        status, headers = self.server.script.pop(0) if self.server.script else (200, {})
        body = json.dumps({"ok": status == 200}).encode()
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def serve() -> Iterator[object]:
    servers: list[ScriptedServer] = []

    def start(script: list[tuple[int, dict[str, str]]]) -> ScriptedServer:
        server = ScriptedServer(script)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def url_of(server: ScriptedServer) -> str:
    host, port = server.server_address[:2]
    return f"http://{host}:{port}/search?token=secret"


def test_retries_5xx_and_429_then_succeeds(serve) -> None:  # type: ignore[no-untyped-def]
    server = serve([(503, {}), (429, {"Retry-After": "3"}), (200, {})])
    waits: list[float] = []
    client = HttpClient(RetryPolicy(attempts=4, base_delay_s=0.01), sleep=waits.append)
    assert client.get_json(url_of(server)) == {"ok": True}
    assert len(server.seen) == 3
    assert all(headers["User-Agent"] == USER_AGENT for headers in server.seen)
    assert waits[1] == 3.0  # Retry-After honoured
    assert 0.0 <= waits[0] <= 0.01  # jittered backoff below the first ceiling


def test_gives_up_with_a_message_that_hides_the_query(serve) -> None:  # type: ignore[no-untyped-def]
    server = serve([(500, {})] * 5)
    client = HttpClient(RetryPolicy(attempts=3, base_delay_s=0.0), sleep=lambda _: None)
    with pytest.raises(NetworkError, match=r"failed after 3 attempts \(HTTP 500\)") as caught:
        client.get_json(url_of(server))
    assert "secret" not in str(caught.value)
    assert len(server.seen) == 3


def test_client_errors_are_not_retried(serve) -> None:  # type: ignore[no-untyped-def]
    server = serve([(404, {})])
    client = HttpClient(RetryPolicy(attempts=3), sleep=lambda _: None)
    with pytest.raises(NetworkError, match="HTTP 404"):
        client.get_json(url_of(server))
    assert len(server.seen) == 1


def test_connection_refused_is_retried_then_reported() -> None:
    client = HttpClient(
        RetryPolicy(attempts=2, base_delay_s=0.0, connect_timeout_s=0.5), sleep=lambda _: None
    )
    with pytest.raises(NetworkError, match="ConnectionError"):
        client.get_json("http://127.0.0.1:9/nothing-listens-here")


def test_redact_drops_credentials_and_query() -> None:
    assert redact("https://user:pw@example.org:8443/a/b?sig=XYZ#frag") == "https://example.org:8443/a/b"
