"""OpenAI-compatible endpoints against a real HTTP mock server: retries, backoff, limits, config."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest
from conftest import critic_json

from advqa.agents import CallContext, ListTracer, invoke_model
from advqa.agents.schemas import CriticReply
from advqa.config import ConfigError, read_config_file, read_prices, resolve_endpoints, resolve_models
from advqa.models import Endpoint, ModelError, load_chat_model
from advqa.models.mock_server import MockOpenAIServer, loop_reply


def model_on(server: MockOpenAIServer, **settings):
    settings.setdefault("backoff", 0.05)
    return load_chat_model("openai:mock", endpoint=Endpoint(base_url=server.base_url, **settings))


@pytest.mark.parametrize("status", [429, 500, 503])
def test_fails_twice_then_answers(status):
    with MockOpenAIServer(latency=0.01, failures=2, failure_status=status, reply="the answer") as server:
        reply = model_on(server, backoff=0.2).invoke("hello")
    assert reply.content == "the answer"
    assert [r.status for r in server.requests] == [status, status, 200]
    assert reply.response_metadata["retries"] == 2
    assert reply.usage_metadata["input_tokens"] == 1 and reply.usage_metadata["output_tokens"] == 2
    # Exponential backoff: 0.2 s then 0.4 s, jitter taking up to a quarter off (the upper
    # bounds leave room for a busy machine).
    first, second, third = (r.started for r in server.requests)
    assert 0.15 <= second - first < 2.0
    assert 0.3 <= third - second < 2.0
    assert third - second > second - first


def test_server_asked_delay_is_honoured():
    with MockOpenAIServer(failures=1, failure_status=429, retry_after=0.3) as server:
        model_on(server, backoff=0.01).invoke("hello")
    assert server.requests[1].started - server.requests[0].started >= 0.29


def test_a_client_error_is_not_retried():
    with MockOpenAIServer(failures=5, failure_status=400) as server:
        with pytest.raises(ModelError) as caught:
            model_on(server).invoke("hello")
    assert len(server.requests) == 1
    message = str(caught.value)
    assert "HTTP 400" in message and server.base_url in message and "\n" not in message


def test_retries_give_up_with_one_line():
    with MockOpenAIServer(failures=100, failure_status=503) as server:
        with pytest.raises(ModelError) as caught:
            model_on(server, max_retries=2).invoke("hello")
    assert len(server.requests) == 3
    message = str(caught.value)
    assert message.startswith(f"openai:mock at {server.base_url}: HTTP 503")
    assert "gave up after 2 retries" in message and "\n" not in message


def test_a_timeout_is_retried():
    # The first request hangs longer than the client's timeout; the retry answers.
    with MockOpenAIServer(failures=1, failure_latency=2.0, reply="late but fine") as server:
        started = time.perf_counter()
        reply = model_on(server, timeout=0.3).invoke("hello")
    assert reply.content == "late but fine" and len(server.requests) == 2
    assert time.perf_counter() - started < 1.8


def test_an_unreachable_server_is_one_line():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    model = load_chat_model("openai:mock", endpoint=Endpoint(base_url=f"http://127.0.0.1:{port}/v1",
                                                            max_retries=1, backoff=0.01, timeout=1))
    with pytest.raises(ModelError, match="cannot connect.*gave up after 1 retries"):
        model.invoke("hello")


def test_concurrency_limit_per_base_url_is_never_exceeded():
    with MockOpenAIServer(latency=0.15) as server:
        # Two roles on one server share its limit of 3.
        first = model_on(server, max_concurrency=3)
        second = load_chat_model("openai:mock", base_url=server.base_url,
                                 endpoint=Endpoint(max_concurrency=3))
        errors = []

        def call(model):
            try:
                model.invoke("hello")
            except Exception as error:  # reported below
                errors.append(error)

        threads = [threading.Thread(target=call, args=(first if i % 2 else second,)) for i in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    assert not errors
    assert len(server.requests) == 16
    assert 1 < server.max_in_flight <= 3


def test_async_calls_share_the_retries_and_the_limit():
    import asyncio

    with MockOpenAIServer(latency=0.1, failures=1, failure_status=429) as server:
        model = model_on(server, max_concurrency=2)

        async def many():
            return await asyncio.gather(*[model.ainvoke(f"question {i}") for i in range(6)])

        replies = asyncio.run(many())
    assert [r.content for r in replies] == ["mock reply"] * 6
    assert len(server.requests) == 7 and server.max_in_flight <= 2


def test_retries_are_traced():
    tracer = ListTracer()
    with MockOpenAIServer(failures=1, failure_status=503) as server:
        result = invoke_model("critic", model_on(server), "judge this", CallContext(tracer=tracer))
    (event,) = tracer.events
    assert result.text == "mock reply"
    assert event["retries"] == 1 and event["model"] == "openai:mock" and not event["cached"]
    assert event["input_tokens"] == 2 and not event["tokens_estimated"]


def test_the_key_comes_from_the_named_variable(monkeypatch):
    monkeypatch.delenv("ADVQA_TEST_KEY", raising=False)
    endpoint = Endpoint(base_url="http://127.0.0.1:9/v1", api_key_env="ADVQA_TEST_KEY")
    with pytest.raises(ModelError, match="ADVQA_TEST_KEY"):
        load_chat_model("openai:x", endpoint=endpoint)
    monkeypatch.setenv("ADVQA_TEST_KEY", "sk-from-env")
    model = load_chat_model("openai:x", endpoint=endpoint)
    assert model.openai_api_key.get_secret_value() == "sk-from-env"


def test_mock_server_runs_standalone():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "advqa.models.mock_server", "--port", str(port),
                                "--latency", "0", "--reply", "standalone"],
                               stdout=subprocess.PIPE, text=True)
    try:
        assert "127.0.0.1" in process.stdout.readline()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/chat/completions", method="POST",
            data=b'{"model": "m", "messages": [{"role": "user", "content": "hi"}]}',
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert b"standalone" in response.read()
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_mock_server_refuses_a_request_without_messages():
    # What a client killed after sending its headers leaves: a real server answers 400.
    with MockOpenAIServer(reply="never") as server:
        request = urllib.request.Request(f"{server.base_url}/chat/completions", method="POST",
                                         data=b"", headers={"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 400 and not server.requests


def post(server: MockOpenAIServer, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(f"{server.base_url}/chat/completions", method="POST",
                                     data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


VERDICT_SCHEMA = {"type": "object", "properties": {"divergence": {"type": "number"}},
                  "required": ["divergence"], "additionalProperties": False}


def asking(schema: dict | None, name: str | None = "critic", kind: str = "json_schema") -> dict:
    spec = {k: v for k, v in (("name", name), ("schema", schema)) if v is not None}
    return {"model": "mock", "messages": [{"role": "user", "content": "judge"}],
            "response_format": {"type": kind, "json_schema": spec}}


def test_mock_server_checks_the_schema_of_the_request_and_of_its_reply():
    with MockOpenAIServer(reply='{"divergence": 0.7}') as server:
        assert post(server, asking(VERDICT_SCHEMA))[0] == 200
        status, error = post(server, asking(VERDICT_SCHEMA, name=None))  # OpenAI requires a name
        assert status == 400 and error["error"]["param"] == "response_format"
        status, error = post(server, asking({"type": "nonsense"}))  # not a JSON Schema
        assert status == 400 and "response_format" in error["error"]["message"] + str(error["error"]["param"])
        assert post(server, asking(VERDICT_SCHEMA, kind="yaml"))[0] == 400
        server.reply = '{"divergence": "high"}'  # a reply off the schema is the server's fault, loudly
        status, error = post(server, asking(VERDICT_SCHEMA))
        assert status == 500 and "does not follow the requested schema" in error["error"]["message"]
    assert [r.status for r in server.requests] == [200, 500]  # refused requests never reach a reply


def test_a_server_without_structured_output_falls_back_to_tolerant_parsing():
    tracer = ListTracer()
    reply = "Here is my verdict:\n```json\n" + critic_json(0.8, feedback="ask about the fee") + "\n```"
    with MockOpenAIServer(reply=reply, structured=False) as server:
        result = invoke_model("critic", model_on(server), "judge this", CallContext(tracer=tracer),
                              reply=CriticReply)
    assert [r.status for r in server.requests] == [200]  # the refused request got its 400 before
    assert "response_format" not in server.requests[0].body
    assert result.reply.divergence == 0.8 and result.reply.feedback == "ask about the fee"
    (event,) = tracer.events
    assert event["structured"] == "refused" and event["parsed_with"] == "tolerant"
    with MockOpenAIServer(reply=critic_json(0.8)) as server:
        held = invoke_model("critic", model_on(server), "judge this", CallContext(tracer=ListTracer()),
                            reply=CriticReply)
    assert server.requests[0].schema == CriticReply.model_json_schema()
    assert held.structured == "json_schema" and held.parsed_with == "schema" and held.reply.divergence == 0.8


# Config: option > [endpoints.<role>] > [endpoints] > environment > default.

def test_endpoint_settings_resolve_in_order(monkeypatch):
    monkeypatch.setenv("ADVQA_REQUEST_TIMEOUT", "7")
    monkeypatch.setenv("ADVQA_MAX_RETRIES", "9")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    file = {"max_retries": 4, "critic": {"base_url": "http://gpu:8000/v1", "max_retries": 5,
                                         "api_key_env": "VLLM_KEY", "max_concurrency": 16}}
    endpoints = resolve_endpoints({}, file)
    assert endpoints["critic"] == Endpoint(base_url="http://gpu:8000/v1", api_key_env="VLLM_KEY",
                                           timeout=7.0, max_retries=5, max_concurrency=16)
    assert endpoints["student"].max_retries == 4 and endpoints["student"].base_url is None
    assert endpoints["student"].timeout == 7.0
    explicit = resolve_endpoints({"max_retries": 0, "base_url": "http://cli:1/v1"}, file)
    assert explicit["critic"].max_retries == 0 and explicit["critic"].base_url == "http://cli:1/v1"
    with pytest.raises(ConfigError, match=r"\[models\] base_url: .* under \[endpoints\]"):
        resolve_models({}, {"base_url": "http://old:1/v1"})  # where an old config put it


@pytest.mark.parametrize("table, message", [
    ({"critic": {"api_key": "sk-secret"}}, "never read from a config file"),
    ({"judge": {"timeout": 3}}, "[endpoints.judge]: not a role"),
    ({"timeout": "fast"}, "[endpoints]: timeout = 'fast' is not a number"),
    ({"critic": {"max_retries": -1}}, "max_retries must be 0 or more"),
    ({"critic": {"max_retries": 2.5}}, "is not a whole number"),
    ({"critic": {"max_concurrency": 0}}, "max_concurrency must be at least 1"),
    ({"critic": {"base_url": "gpu:8000"}}, "must start with http:// or https://"),
    ({"critic": {"retries": 3}}, "unknown setting 'retries'"),
    ({"critic": {"timeout": 0}}, "timeout must be positive"),
])
def test_bad_endpoint_settings_are_one_line(table, message):
    with pytest.raises(ConfigError) as caught:
        resolve_endpoints({}, table)
    assert message in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("prices, message", [
    ({"openai:gpt-4o-mini": 0.15}, "must be a table"),
    ({"openai:gpt-4o-mini": {"input_per_million": -1}}, "must be a number >= 0"),
    ({"openai:gpt-4o-mini": {"input": 0.1}}, "unknown setting 'input'"),
])
def test_bad_prices_are_one_line(prices, message):
    with pytest.raises(ConfigError, match=message):
        read_prices(prices)


def test_config_file_with_endpoints_and_prices(tmp_path):
    file = tmp_path / "advqa.toml"
    file.write_text('[models]\ncritic = "openai:llama-3-8b"\n\n[endpoints]\ntimeout = 30\n\n'
                    '[endpoints.critic]\nbase_url = "http://127.0.0.1:8000/v1"\nmax_concurrency = 4\n\n'
                    '[prices."openai:llama-3-8b"]\ninput_per_million = 0.1\noutput_per_million = 0.2\n')
    data = read_config_file(file)
    endpoints = resolve_endpoints({}, data["endpoints"])
    assert endpoints["critic"].max_concurrency == 4 and endpoints["critic"].timeout == 30
    assert read_prices(data["prices"]) == {"openai:llama-3-8b": {"input_per_million": 0.1,
                                                                 "output_per_million": 0.2}}
    (tmp_path / "bad.toml").write_text("[endpoint]\ntimeout = 3\n")
    with pytest.raises(ConfigError, match=r"unknown table \[endpoint\]"):
        read_config_file(tmp_path / "bad.toml")


def role_of(request) -> str:
    """The role a request to the mock server was for: its schema's name (the student has none)."""
    return ((request.body.get("response_format") or {}).get("json_schema") or {}).get("name", "student")


@pytest.mark.integration
def test_cli_campaign_with_three_roles_on_a_mock_server(small_index, tmp_path):
    """The questioner, expert and critic on an OpenAI-compatible server (which fails once), the
    student on the bundled model, all from a config file; then again from the cache, then with
    --no-cache."""
    from advqa.retrieval.files import read_jsonl

    secret = "sk-advqa-test-never-written"
    served = ("questioner", "expert", "critic")
    with MockOpenAIServer(latency=0.05, failures=1, failure_status=503, reply=loop_reply) as server:
        config = tmp_path / "advqa.toml"
        config.write_text(
            "[models]\n" + "".join(f'{role} = "openai:mock"\n' for role in served) + "\n"
            f'[endpoints]\nbase_url = "{server.base_url}"\napi_key_env = "ADVQA_TEST_MOCK_KEY"\n'
            'max_retries = 2\nmax_concurrency = 2\nbackoff = 0.05\n\n'
            '[prices."openai:mock"]\ninput_per_million = 1.0\noutput_per_million = 2.0\n')
        env = {**os.environ, "ADVQA_TEST_MOCK_KEY": secret,
               "ADVQA_RESPONSE_CACHE": str(tmp_path / "cache.sqlite")}

        def generate(out, *extra):
            result = subprocess.run(
                [sys.executable, "-m", "advqa.cli", "generate", "--index", str(small_index.path),
                 "--out", str(tmp_path / out), "--seeds", "1", "--max-rounds", "1", "--k", "2",
                 "--config", str(config), *extra], capture_output=True, text=True, env=env, timeout=600)
            assert result.returncode == 0, result.stderr
            return json.loads((tmp_path / out / "stats.json").read_text()), result

        stats, result = generate("first")
        answered = [r for r in server.requests if r.status == 200]
        assert server.requests[0].status == 503 and answered  # failed once, then retried
        assert {role_of(r) for r in answered} == set(served)  # the round was sound: the critic was asked
        assert stats["accepted"] == 1
        for role in served:
            row = stats["per_role"][role]
            assert row["calls"] == sum(role_of(r) == role for r in answered) and row["cost"] > 0
        assert stats["per_role"]["questioner"]["retries"] == 1
        assert "cost" not in stats["per_role"]["student"]  # no price for the bundled model
        calls = [e for e in read_jsonl(tmp_path / "first" / "traces.jsonl") if e["kind"] == "model_call"]
        assert {e["model"] for e in calls if e["role"] in served} == {"openai:mock"}
        assert {e["model"] for e in calls if e["role"] == "student"} == {"bundled:smollm2-135m"}
        assert all(e["structured"] == "json_schema" for e in calls if e["role"] in served)
        assert "model calls per role" in result.stdout
        for file in (tmp_path / "first").iterdir():
            if file.is_file():
                assert secret not in file.read_text(errors="replace"), file.name
        assert 'api_key_env = "ADVQA_TEST_MOCK_KEY"' in (tmp_path / "first" / "config.toml").read_text()

        seen = len(server.requests)
        again, _ = generate("second")  # a new run directory: every call from the cache
        assert len(server.requests) == seen
        assert again["cache_hits"] == again["model_calls"] == stats["model_calls"]
        assert all(row.get("cost", 0) == 0 for row in again["per_role"].values())

        fresh, _ = generate("third", "--no-cache")
        assert len(server.requests) == seen + len(answered)
        assert fresh["cache_hits"] == 0
