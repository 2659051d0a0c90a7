"""A small OpenAI-compatible chat server on 127.0.0.1 for tests and benchmarks: latency, scripted
failures, and a count of concurrent requests."""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = str | Callable[[dict[str, Any]], str]


@dataclass
class MockRequest:
    """One request the server received: its JSON body, when it arrived and what it answered."""

    body: dict[str, Any]
    started: float
    status: int = 0
    authorization: str = ""  # the Authorization header, so tests can see which key was sent


class MockOpenAIServer:
    """`POST /v1/chat/completions` (and `GET /v1/models`) answered after `latency` seconds.

    The first `failures` requests answer `failure_status` (429, 503, ...), after
    `failure_latency` seconds when given (longer than a client's timeout, it is a timeout);
    `retry_after` adds a Retry-After header to those. `reply` is the answer text, or a function
    of the request body returning it. `max_in_flight` is the most requests seen at once.

        with MockOpenAIServer(latency=0.2, failures=2, failure_status=503) as server:
            ChatOpenAI(base_url=server.base_url, api_key="x", model="mock").invoke("hi")
    """

    def __init__(self, latency: float = 0.0, failures: int = 0, failure_status: int = 503,
                 reply: Reply = "mock reply", *, failure_latency: float | None = None,
                 retry_after: float | None = None, port: int = 0, model: str = "mock"):
        self.latency = latency
        self.failures = failures
        self.failure_status = failure_status
        self.failure_latency = failure_latency
        self.retry_after = retry_after
        self.reply = reply
        self.model = model
        self.requests: list[MockRequest] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler_for(self))
        self._server.daemon_threads = True
        self._server.block_on_close = False  # a client that timed out leaves a sleeping handler
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> MockOpenAIServer:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name=f"mock-openai-{self.port}")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def reset(self, failures: int = 0) -> None:
        """Forget the requests seen and script `failures` new failures."""
        with self._lock:
            self.requests.clear()
            self.failures = failures
            self.max_in_flight = self.in_flight

    def __enter__(self) -> MockOpenAIServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _begin(self, body: dict[str, Any], authorization: str = "") -> tuple[MockRequest, bool]:
        with self._lock:
            request = MockRequest(body, time.time(), authorization=authorization)
            self.requests.append(request)
            failing = len(self.requests) <= self.failures
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        return request, failing

    def _end(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def _answer(self, body: dict[str, Any]) -> dict[str, Any]:
        text = self.reply(body) if callable(self.reply) else self.reply
        prompt_words = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
        completion_words = len(text.split())
        return {
            "id": f"mock-{len(self.requests)}", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", self.model),
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": prompt_words, "completion_tokens": completion_words,
                      "total_tokens": prompt_words + completion_words},
        }


def _handler_for(server: MockOpenAIServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in separate writes; with Nagle's algorithm on, each keep-alive
        # reply then waits ~40 ms for the client's delayed ACK, which a real server does not add.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return None

        def do_GET(self) -> None:
            if self.path.rstrip("/").endswith("/models"):
                self._send(200, {"object": "list", "data": [{"id": server.model, "object": "model"}]})
            else:
                self._send(404, _error("not found", "not_found"))

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except json.JSONDecodeError:
                self._send(400, _error("request body is not JSON", "invalid_request_error"))
                return
            if not self.path.rstrip("/").endswith("/chat/completions"):
                self._send(404, _error("not found", "not_found"))
                return
            request, failing = server._begin(body, self.headers.get("Authorization", ""))
            try:
                if failing:
                    time.sleep(server.latency if server.failure_latency is None else server.failure_latency)
                    request.status = server.failure_status
                    headers = {} if server.retry_after is None else {"Retry-After": str(server.retry_after)}
                    self._send(server.failure_status,
                               _error(f"scripted failure {server.failure_status}", "server_error"), headers)
                    return
                time.sleep(server.latency)
                request.status = 200
                answer = server._answer(body)
            finally:
                server._end()
            self._send(200, answer)

        def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
            data = json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
                pass

    return Handler


def _error(message: str, kind: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "code": None}}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run a mock OpenAI-compatible chat server on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--latency", type=float, default=0.2, help="seconds before each answer")
    parser.add_argument("--failures", type=int, default=0, help="first N requests fail")
    parser.add_argument("--failure-status", type=int, default=503)
    parser.add_argument("--reply", default="mock reply", help="the answer text")
    args = parser.parse_args(argv)
    server = MockOpenAIServer(latency=args.latency, failures=args.failures,
                              failure_status=args.failure_status, reply=args.reply, port=args.port)
    print(f"mock OpenAI-compatible server at {server.base_url} (Ctrl-C stops it)", flush=True)
    try:
        server._server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server._server.server_close()
        print(f"{len(server.requests)} requests, at most {server.max_in_flight} at once", flush=True)


if __name__ == "__main__":
    main()
