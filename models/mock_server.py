"""A small OpenAI-compatible chat server on 127.0.0.1 for tests: latency, failures, random faults."""

from __future__ import annotations

import argparse
import json
import random
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = str | Callable[[dict[str, Any]], str]

# 500: HTTP 500; 429: HTTP 429 with Retry-After; timeout: answers only after `timeout_latency`;
# drop: closes the connection without a response; empty: 200 with no body; malformed: 200 with
# truncated JSON; blank: a well-formed completion whose content is "".
FAULT_KINDS = ("500", "429", "timeout", "drop", "empty", "malformed", "blank")
FAULT_RETRY_AFTER = 0.05  # seconds, the Retry-After of a "429" fault unless `retry_after` is set


@dataclass
class MockRequest:
    """One request the server received: its JSON body, when it arrived and what it answered."""

    body: dict[str, Any]
    started: float
    status: int = 0  # 0: no response was sent (a "drop" fault)
    authorization: str = ""  # the Authorization header, so tests can see which key was sent
    fault: str = ""  # the fault injected (one of FAULT_KINDS), "" for none
    schema: dict[str, Any] | None = None  # the JSON schema the request asked the reply to follow


class MockOpenAIServer:
    """`POST /v1/chat/completions` (and `GET /v1/models`) answered after `latency` seconds.

    The first `failures` requests answer `failure_status` (429, 503, ...), after
    `failure_latency` seconds when given (longer than a client's timeout, it is a timeout);
    `retry_after` adds a Retry-After header to those. `reply` is the answer text, or a function
    of the request body returning it. `max_in_flight` is the most requests seen at once.

    Faults (FAULT_KINDS): each later request gets one with probability `fault_rate`, of a kind
    from `fault_kinds` (reproducible with `seed`); `fault_script` gives the faults of the first
    requests in order ("" for none). Each request records its fault.

    Structured replies: a request's `response_format` is checked as OpenAI checks it (a
    `json_schema` needs a name and a valid JSON Schema; anything else is a 400), and the reply is
    held to the schema: a reply that does not follow it is a 500 naming the reason, so a test
    that scripts an off-schema reply fails loudly. With `structured=False` the server refuses
    `response_format` (400), as servers without structured output do.

        with MockOpenAIServer(latency=0.2, failures=2, failure_status=503) as server:
            ChatOpenAI(base_url=server.base_url, api_key="x", model="mock").invoke("hi")
        with MockOpenAIServer(fault_rate=0.2, seed=1, timeout_latency=1.0) as server: ...
    """

    def __init__(self, latency: float = 0.0, failures: int = 0, failure_status: int = 503,
                 reply: Reply = "mock reply", *, failure_latency: float | None = None,
                 retry_after: float | None = None, port: int = 0, model: str = "mock",
                 fault_rate: float = 0.0, fault_kinds: Sequence[str] = FAULT_KINDS,
                 fault_script: Sequence[str] = (), seed: int | None = None,
                 timeout_latency: float = 10.0, structured: bool = True):
        unknown = sorted(set(fault_kinds) - set(FAULT_KINDS) | set(fault_script) - {"", *FAULT_KINDS})
        if unknown:
            raise ValueError(f"unknown fault kind(s) {', '.join(unknown)} (known: {', '.join(FAULT_KINDS)})")
        if not 0.0 <= fault_rate <= 1.0 or (fault_rate and not fault_kinds):
            raise ValueError("fault_rate must be in [0, 1], with at least one fault kind")
        self.latency = latency
        self.failures = failures
        self.failure_status = failure_status
        self.failure_latency = failure_latency
        self.retry_after = retry_after
        self.reply = reply
        self.model = model
        self.fault_rate = fault_rate
        self.fault_kinds = tuple(fault_kinds)
        self.fault_script = list(fault_script)
        self.timeout_latency = timeout_latency
        self.structured = structured
        self._random = random.Random(seed)
        self._deck: list[str] = []
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
        # A short poll interval: stop() waits for the serving loop to notice, many times per test run.
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True, name=f"mock-openai-{self.port}")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def reset(self, failures: int = 0, *, fault_rate: float | None = None,
              fault_script: Sequence[str] = ()) -> None:
        """Forget the requests seen and script `failures` new failures (and `fault_script`);
        `fault_rate`, when given, replaces the rate of random faults."""
        with self._lock:
            self.requests.clear()
            self.failures = failures
            self.fault_script = list(fault_script)
            if fault_rate is not None:
                self.fault_rate = fault_rate
            self.max_in_flight = self.in_flight

    @property
    def faults(self) -> list[str]:
        """The fault injected into each request so far, in order ("" for none)."""
        with self._lock:
            return [r.fault for r in self.requests]

    def __enter__(self) -> MockOpenAIServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _begin(self, body: dict[str, Any], authorization: str = "") -> tuple[MockRequest, bool]:
        with self._lock:
            request = MockRequest(body, time.time(), authorization=authorization)
            self.requests.append(request)
            number = len(self.requests)
            failing = number <= self.failures
            if not failing:
                request.fault = self._next_fault(number)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        return request, failing

    def _next_fault(self, number: int) -> str:
        if number <= len(self.fault_script):
            return self.fault_script[number - 1]
        if not self.fault_rate or self._random.random() >= self.fault_rate:
            return ""
        # Kinds are dealt from a reshuffled deck: a short run still sees every kind.
        if not self._deck:
            self._deck = list(self.fault_kinds)
            self._random.shuffle(self._deck)
        return self._deck.pop()

    def _end(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def _answer(self, body: dict[str, Any], blank: bool = False) -> dict[str, Any]:
        text = "" if blank else self.reply(body) if callable(self.reply) else self.reply
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
            if not isinstance(body, dict) or not body.get("messages"):
                # e.g. a client killed after its headers: what a real server answers
                self._send(400, _error("'messages' is required", "invalid_request_error"))
                return
            try:
                schema = requested_schema(body.get("response_format"), server.structured)
            except ValueError as error:
                self._send(400, _error(str(error), "invalid_request_error", "response_format"))
                return
            request, failing = server._begin(body, self.headers.get("Authorization", ""))
            request.schema = schema
            try:
                if failing:
                    time.sleep(server.latency if server.failure_latency is None else server.failure_latency)
                    request.status = server.failure_status
                    headers = {} if server.retry_after is None else {"Retry-After": str(server.retry_after)}
                    self._send(server.failure_status,
                               _error(f"scripted failure {server.failure_status}", "server_error"), headers)
                    return
                fault = request.fault
                time.sleep(server.timeout_latency if fault == "timeout" else server.latency)
                if fault == "drop":
                    self.close_connection = True  # the server closes the socket, nothing sent
                    return
                if fault in ("500", "429"):
                    request.status = int(fault)
                    after = FAULT_RETRY_AFTER if server.retry_after is None else server.retry_after
                    self._send(request.status, _error(f"injected fault {fault}", "server_error"),
                               {"Retry-After": str(after)} if fault == "429" else None)
                    return
                answer = server._answer(body, blank=fault == "blank")
                choices = answer.get("choices")  # a subclass may answer an error object instead
                problem = (off_schema(choices[0]["message"]["content"], schema)
                           if choices and fault != "blank" else None)
                if problem:
                    request.status = 500
                    self._send(500, _error(f"mock reply does not follow the requested schema: {problem}",
                                           "server_error"))
                    return
                request.status = 200
            finally:
                server._end()
            if fault == "empty":
                self._send(200, b"")
            elif fault == "malformed":
                data = json.dumps(answer).encode()
                self._send(200, data[: len(data) // 2])
            else:
                self._send(200, answer)

        def _send(self, status: int, payload: dict[str, Any] | bytes,
                  headers: dict[str, str] | None = None) -> None:
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
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


_WORD = re.compile(r"[a-z]{4,}")
STUDENT_REPLY = "It depends on the general law and on what the parties agreed."


def loop_reply(body: dict[str, Any]) -> str:
    """A reply for each role of advqa's probe loop, read off the request alone (no model), so that a
    campaign runs end to end against this server and every probe is accepted in its first round.

    The role is the name of the requested schema (or, from a server that refused it, the prompt):
    the questioner asks about the sentence in its prompt, with the answer its schema allows; the
    expert answers with the passage sentence that shares most words with the question; the
    critic judges a high divergence; anything else is a student who does not know the contract.
    """
    prompt = str(body["messages"][-1].get("content", ""))
    spec = (body.get("response_format") or {}).get("json_schema") or {}
    role = spec.get("name") or next((name for name, marker in _ROLE_MARKERS if marker in prompt), "student")
    schema = spec.get("schema") or {}
    if role == "questioner":
        sentence = re.findall(r'Sentence: "(.*)"', prompt)[-1]
        answers = (schema.get("properties", {}).get("answer", {}).get("enum")
                   or re.findall(r'Answer: "(.*)"', prompt))
        kind = (schema.get("properties", {}).get("type", {}).get("enum") or ["lookup"])[0]
        answer = answers[-1] if answers else sentence
        # Every word of the sentence outside the answer, so that the question fits one sentence only.
        words = " and ".join(dict.fromkeys(_WORD.findall(sentence.replace(answer, " ").lower()))) or "this"
        words = words[:160].rsplit(" and ", 1)[0] if len(words) > 160 else words
        pattern = schema.get("properties", {}).get("question", {}).get("pattern", "")
        opening = re.match(r"\^\(\?:([^|)]+)", pattern)  # the first opening its question type allows
        opening = opening.group(1) if opening else "What"
        question = f"{opening} does the contract provide about {words}?"
        return json.dumps({"answer": answer, "question": question, "type": kind})
    if role == "expert":
        # The question's words, not its contract's title.
        asked = re.sub(r"^In the [^:?]{3,300}:\s*", "", re.findall(r"Question: (.*)", prompt)[-1])
        question = set(_WORD.findall(asked.lower()))
        sentences = (schema.get("properties", {}).get("answer", {}).get("enum")
                     or [s.strip() for block in re.findall(r"<passage[^>]*>\n(.*?)\n</passage>", prompt, re.S)
                         for s in re.split(r"(?<=[.;])\s+", block) if len(s.split()) >= 4])
        best = max(sentences, key=lambda s: len(question & set(_WORD.findall(s.lower()))))
        blocks = re.finditer(r'<passage id="(P\d+)"[^>]*>\n(.*?)\n</passage>', prompt, re.S)
        label = next((m.group(1) for m in blocks
                      if best in " ".join(m.group(2).split())), "P1")
        quoted = schema.get("properties", {}).get("quotes", {}).get("maxItems") != 0
        quote, answer = (_clip(best, limit) for limit in (100, spec_limit(schema, "answer")))
        return json.dumps({"quotes": [{"passage": label, "text": quote}] if quoted else [], "answer": answer})
    if role == "critic":
        return json.dumps({"divergence": 0.9, "grounded": True, "consistent": True,
                           "feedback": "the student ignored the clause's terms; ask about them",
                           "reason": "answer A is generic"})
    return STUDENT_REPLY


def spec_limit(schema: dict[str, Any], name: str) -> int:
    """The maxLength of a string property of a schema (a large number when it has none)."""
    return schema.get("properties", {}).get(name, {}).get("maxLength", 10**6)


def _clip(text: str, limit: int) -> str:
    """The text within `limit` characters, cut at a word."""
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0]


_ROLE_MARKERS = (("questioner", "You write exam questions"), ("expert", "Answer the question using only"),
                 ("critic", "You compare two answers"))


def _error(message: str, kind: str, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": param, "code": None}}


def requested_schema(response_format: Any, structured: bool = True) -> dict[str, Any] | None:
    """The JSON schema a request's `response_format` asks for (None for plain text); ValueError
    for a `response_format` OpenAI would refuse, or any at all when `structured` is off."""
    if response_format is None:
        return None
    if not structured:
        raise ValueError("response_format is not supported by this server")
    if not isinstance(response_format, dict) or response_format.get("type") not in (
            "text", "json_object", "json_schema"):
        raise ValueError("response_format.type must be one of text, json_object, json_schema")
    if response_format["type"] != "json_schema":
        return {"type": "object"} if response_format["type"] == "json_object" else None
    spec = response_format.get("json_schema")
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str) or not spec["name"]:
        raise ValueError("response_format.json_schema needs a name")
    schema = spec.get("schema")
    if not isinstance(schema, dict):
        raise ValueError("response_format.json_schema.schema must be a JSON Schema object")
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as error:
        raise ValueError("response_format.json_schema.schema is not a valid JSON Schema: "
                         f"{error.message}") from None
    return schema


def off_schema(text: str, schema: dict[str, Any] | None) -> str | None:
    """Why `text` does not follow `schema`, or None when it does (or there is no schema)."""
    if schema is None:
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        return f"not JSON ({error})"
    from jsonschema import Draft202012Validator

    errors = sorted(Draft202012Validator(schema).iter_errors(data), key=lambda e: list(e.path))
    return errors[0].message if errors else None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run a mock OpenAI-compatible chat server on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--latency", type=float, default=0.2, help="seconds before each answer")
    parser.add_argument("--failures", type=int, default=0, help="first N requests fail")
    parser.add_argument("--failure-status", type=int, default=503)
    parser.add_argument("--reply", default="mock reply", help="the answer text")
    parser.add_argument("--loop", action="store_true",
                        help="answer each role of advqa's loop from its request, so a whole campaign runs")
    parser.add_argument("--fault-rate", type=float, default=0.0,
                        help="share of requests (0 to 1) that get a random fault")
    parser.add_argument("--faults", default=",".join(FAULT_KINDS),
                        help=f"comma-separated fault kinds to inject (default: {','.join(FAULT_KINDS)})")
    parser.add_argument("--seed", type=int, default=None, help="seed of the fault draws")
    parser.add_argument("--timeout-latency", type=float, default=10.0,
                        help="seconds a 'timeout' fault waits before answering")
    parser.add_argument("--no-structured", action="store_true",
                        help="refuse response_format, as servers without structured output do")
    args = parser.parse_args(argv)
    kinds = [k.strip() for k in args.faults.split(",") if k.strip()]
    try:
        server = MockOpenAIServer(latency=args.latency, failures=args.failures,
                                  failure_status=args.failure_status, port=args.port,
                                  reply=loop_reply if args.loop else args.reply,
                                  fault_rate=args.fault_rate, fault_kinds=kinds, seed=args.seed,
                                  timeout_latency=args.timeout_latency, structured=not args.no_structured)
    except ValueError as error:
        parser.error(str(error))
    print(f"mock OpenAI-compatible server at {server.base_url} (Ctrl-C stops it)", flush=True)
    try:
        server._server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server._server.server_close()
        faults = sum(1 for r in server.requests if r.fault)
        print(f"{len(server.requests)} requests ({faults} with a fault), "
              f"at most {server.max_in_flight} at once", flush=True)


if __name__ == "__main__":
    main()
