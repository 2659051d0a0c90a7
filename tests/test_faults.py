"""Faults from model servers, over real HTTP: each kind retried or turned into one line; a campaign
at a 20% fault rate finishes, records what failed, and a resume runs the failed probes again."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections import Counter

import pytest

from advqa.agents import CallContext, ListTracer, invoke_model
from advqa.campaign import CampaignSettings, plan_seeds, run_campaign
from advqa.campaign.stats import account_model_calls
from advqa.graph import ProbeSettings
from advqa.models import Endpoint, ModelError, load_chat_model
from advqa.models.mock_server import FAULT_KINDS, FAULT_RETRY_AFTER, MockOpenAIServer, loop_reply
from advqa.retrieval import build_index, load_index
from advqa.retrieval.files import read_jsonl

TIMEOUT = 0.5  # the client's request timeout in the single-call tests; a "timeout" fault outwaits it


def model_on(server: MockOpenAIServer, **settings):
    settings = {"backoff": 0.01, "max_retries": 2, "timeout": TIMEOUT, **settings}
    return load_chat_model("openai:mock", endpoint=Endpoint(base_url=server.base_url, **settings))


def faulty(**options) -> MockOpenAIServer:
    return MockOpenAIServer(timeout_latency=TIMEOUT + 0.5, reply="the answer", **options)


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_each_fault_is_retried_then_answered(kind):
    tracer = ListTracer()
    with faulty(fault_script=[kind, kind]) as server:
        result = invoke_model("critic", model_on(server), "judge this", CallContext(tracer=tracer))
    assert result.text == "the answer"
    assert server.faults == [kind, kind, ""]
    assert [r.status for r in server.requests][-1] == 200
    (event,) = tracer.events
    assert event["retries"] == 2 and "error" not in event
    if kind == "429":  # the server's Retry-After is waited for, not the (shorter) backoff
        assert server.requests[1].started - server.requests[0].started >= FAULT_RETRY_AFTER * 0.9


REASONS = {
    "500": "HTTP 500 injected fault 500",
    "429": "HTTP 429 injected fault 429",
    "timeout": f"request timed out after {TIMEOUT}s",
    "drop": "connection lost: Server disconnected without sending a response.",
    "empty": "returned an empty response body",
    "malformed": "returned malformed JSON (",
    "blank": "returned an empty reply",
}


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_each_fault_gives_up_with_one_line(kind):
    tracer = ListTracer()
    with faulty(fault_script=[kind] * 3) as server:
        with pytest.raises(ModelError) as caught:
            invoke_model("critic", model_on(server), "judge this", CallContext(tracer=tracer))
    message = str(caught.value)
    assert message.startswith(f"openai:mock at {server.base_url}: {REASONS[kind]}")
    assert message.endswith("(gave up after 2 retries)") and "\n" not in message
    assert server.faults == [kind] * 3
    assert caught.value.retries == 2
    (event,) = tracer.events
    assert event["error"] == f"ModelError: {message}"
    # The retries of a call that gave up are counted like those of a call that got an answer.
    assert event["retries"] == 2
    critic = account_model_calls(tracer.events)["per_role"]["critic"]
    assert (critic["calls"], critic["errors"], critic["retries"]) == (1, 1, 2)


class ErrorIn200(MockOpenAIServer):
    """Answers its first `bad` requests with HTTP 200 and an error object instead of choices
    (what some proxies do when a worker crashes)."""

    bad = 1

    def _answer(self, body, blank=False):
        if len(self.requests) <= self.bad:
            return {"error": {"message": "worker crashed", "type": "server_error"}}
        return super()._answer(body, blank)


def test_a_reply_without_choices_is_retried():
    with ErrorIn200(reply="recovered") as server:
        reply = model_on(server).invoke("hello")
    assert reply.content == "recovered" and reply.response_metadata["retries"] == 1
    with ErrorIn200() as server:
        server.bad = 10
        with pytest.raises(ModelError, match=r"unusable reply: .*worker crashed.*gave up after 2 retries"):
            model_on(server).invoke("hello")


def test_blank_replies_can_be_returned_as_they_are():
    with faulty(fault_script=["blank"]) as server:
        model = load_chat_model("openai:mock", retry_empty=False,
                                endpoint=Endpoint(base_url=server.base_url, max_retries=2))
        reply = model.invoke("hello")
    assert reply.content == "" and len(server.requests) == 1


def test_random_faults_follow_the_rate_and_the_seed():
    def faults(seed, **options):
        with MockOpenAIServer(fault_rate=0.3, seed=seed, **options) as server:
            for _ in range(200):
                server._begin({})  # what each request does first: draw its fault
            return server.faults

    first = faults(7)
    assert first == faults(7) and first != faults(8)
    assert 40 <= sum(1 for f in first if f) <= 80
    assert set(first) == {"", *FAULT_KINDS}
    assert set(faults(7, fault_kinds=("500", "blank"))) == {"", "500", "blank"}
    with pytest.raises(ValueError, match="unknown fault kind"):
        MockOpenAIServer(fault_kinds=("500", "gremlins"))


# --- a campaign at a 20% fault rate ---------------------------------------------------------------

PARTIES = {"Supplier": "accepted", "Licensee": "accepted", "Contractor": "exhausted", "Tenant": "failed"}
TOPICS = ["delivery", "escrow", "warranty", "audit", "insurance", "termination", "notice", "royalty",
          "liability", "assignment", "arbitration", "publicity", "subcontracting", "invoice", "patent",
          "custody"]
POISONED = "escrow"  # the questioner's reply to this clause is empty while `poison` is on


@pytest.fixture(scope="module")
def fault_index(tmp_path_factory, embedder):
    """Four contracts of four one-chunk clauses: 16 seeds, the party telling how each probe ends."""
    folder = tmp_path_factory.mktemp("fault-corpus")
    for d, party in enumerate(PARTIES):
        clauses = [f"{i + 1}. {topic.title()}. The {party} handles {topic} matters within "
                   f"{(i + 2) * (d + 3)} days under schedule {d}{i}."
                   for i, topic in enumerate(TOPICS[4 * d: 4 * d + 4])]
        (folder / f"{party.lower()}.md").write_text("\n\n".join(clauses), encoding="utf-8")
    build_index(folder, folder / "index", embedder=embedder, max_tokens=30, overlap_tokens=0)
    return load_index(folder / "index", embedder=embedder)


class Roles:
    """Every role on one server, read off the request (the mock server's `loop_reply`): Supplier and
    Licensee clauses are accepted, Contractor ones exhausted (the critic sees a low divergence),
    Tenant ones failed (every question is off its passage)."""

    poison = True

    def __call__(self, body: dict) -> str:
        prompt = body["messages"][-1]["content"]
        role = body["response_format"]["json_schema"]["name"] if body.get("response_format") else "student"
        reply = loop_reply(body)
        if role == "questioner":
            sentence = re.findall(r'Sentence: "(.*)"', prompt)[-1]
            if "Tenant" in sentence:
                return json.dumps({**json.loads(reply), "question": "What colour is the sky over the moon?"})
            if self.poison and POISONED in sentence:
                return ""  # off the schema: the server answers 500, and the client retries
        if role == "critic" and "Contractor" in prompt:
            return json.dumps({**json.loads(reply), "divergence": 0.1})
        return reply


def openai_models(server: MockOpenAIServer, timeout: float) -> dict:
    endpoint = Endpoint(base_url=server.base_url, max_retries=2, backoff=0.01, timeout=timeout)
    return {role: load_chat_model("openai:mock", endpoint=endpoint)
            for role in ("questioner", "student", "expert", "critic")}


def outcome_of(probe: str) -> str:
    return PARTIES[re.search(r"(Supplier|Licensee|Contractor|Tenant)", probe, re.I).group(1).title()]


def test_a_campaign_at_a_20_percent_fault_rate_finishes_and_resumes(fault_index, tmp_path):
    run = tmp_path / "run"
    settings = CampaignSettings(seeds=16, concurrency=4, dedup_threshold=0.999,
                                probe=ProbeSettings(scorer="judge", max_rounds=2, k=2, question_attempts=2))
    planned = [c.id for c in plan_seeds(fault_index, 16)]
    chunk_text = {c.id: c.text for c in fault_index.chunks}
    expected = {p: outcome_of(chunk_text[p]) for p in planned}
    poisoned = {p for p in planned if POISONED in chunk_text[p]}
    assert len(planned) == 16 and len(poisoned) == 1
    roles = Roles()
    ended: dict[str, str] = {}
    with MockOpenAIServer(reply=roles, fault_rate=0.2, seed=20, timeout_latency=1.5) as server:
        stats = run_campaign(fault_index, run, models=openai_models(server, timeout=1.0), settings=settings,
                             progress=lambda event, info: ended.update(
                                 {info["probe"]: info["outcome"]} if event == "probe" else {}))
        requests = list(server.requests)

        # Every probe ended as its clause says, or errored with a reason that is traced.
        assert set(ended) == set(planned)
        errored = {p for p, outcome in ended.items() if outcome == "error"}
        assert poisoned <= errored
        assert all(ended[p] == expected[p] for p in set(planned) - errored)
        assert set(stats["errors"]) == errored and all(stats["errors"].values())
        assert stats["finished"] + stats["errored"] == stats["probes"] == 16
        assert (stats["accepted_before_dedup"], stats["exhausted"], stats["failed"]) == tuple(
            sum(expected[p] == outcome for p in set(planned) - errored)
            for outcome in ("accepted", "exhausted", "failed"))
        events = read_jsonl(run / "traces.jsonl")
        probe_errors = {e["probe"]: e["error"] for e in events if e["kind"] == "probe_error"}
        assert probe_errors == stats["errors"]
        # The reason is the last attempt's (an empty reply, or a fault that hit that attempt).
        assert probe_errors[next(iter(poisoned))].endswith("(gave up after 2 retries)")
        assert all("\n" not in reason and "Traceback" not in reason for reason in probe_errors.values())

        # Every request the server saw is one attempt of a traced call: each call made
        # 1 + retries requests; a call that got an answer got it at the last one, a call that
        # gave up made 1 + max_retries (all failed).
        calls = [e for e in events if e["kind"] == "model_call"]
        failed_calls = [e for e in calls if "error" in e]
        assert failed_calls
        assert all(e["error"].startswith("ModelError: openai:mock at ") for e in failed_calls)
        assert all(e["retries"] == 2 for e in failed_calls)
        assert len(requests) == sum(1 + e.get("retries", 0) for e in calls)
        attempts_failed = sum(e.get("retries", 0) for e in calls) + len(failed_calls)
        assert sum(role["retries"] for role in stats["per_role"].values()) == sum(
            e.get("retries", 0) for e in calls)
        # Each injected fault (and each poisoned empty reply) cost one attempt.
        faults = Counter(r.fault for r in requests if r.fault)
        poisoned_replies = sum(1 for r in requests if not r.fault and POISONED in json.dumps(r.body)
                               and "Write one question" in json.dumps(r.body))
        assert attempts_failed >= sum(faults.values()) + poisoned_replies
        assert set(faults) == set(FAULT_KINDS)
        assert 0.1 <= sum(faults.values()) / len(requests) <= 0.3
        print(f"\n{len(requests)} requests, {sum(faults.values())} faults {dict(faults)}, "
              f"{len(failed_calls)} calls gave up, {len(errored)} probes errored: {stats['errors']}")

        # Resume with the faults off: the errored probes, and only they, run again and finish.
        server.reset(fault_rate=0.0)
        roles.poison = False
        resumed = run_campaign(fault_index, run, models=openai_models(server, timeout=10.0),
                               settings=settings)
    assert resumed["finished"] == 16 and resumed["errored"] == 0 and not resumed["errors"]
    again = [e for e in read_jsonl(run / "traces.jsonl")[len(events):] if e["kind"] == "model_call"]
    assert {e["probe"] for e in again} == errored
    assert resumed["model_calls_this_run"] == len(again)
    outcomes = Counter(expected.values())
    assert (resumed["accepted_before_dedup"], resumed["exhausted"], resumed["failed"]) == (
        outcomes["accepted"], outcomes["exhausted"], outcomes["failed"])
    samples = [json.loads(line) for name in ("dataset.jsonl", "duplicates.jsonl") if (run / name).exists()
               for line in (run / name).read_text().splitlines()]
    ids = [s["meta"]["probe_id"] for s in samples]
    assert sorted(ids) == sorted(p for p in planned if expected[p] == "accepted")


def test_cli_campaign_on_a_faulty_server(fault_index, tmp_path):
    roles = Roles()
    with MockOpenAIServer(reply=roles, fault_rate=0.2, seed=3, timeout_latency=1.5) as server:
        config = tmp_path / "advqa.toml"
        config.write_text('[models]\nquestioner = "openai:mock"\nstudent = "openai:mock"\n'
                          'expert = "openai:mock"\ncritic = "openai:mock"\n\n'
                          f'[endpoints]\nbase_url = "{server.base_url}"\n'
                          'max_retries = 2\nbackoff = 0.01\ntimeout = 1.0\n', encoding="utf-8")
        env = {**os.environ, "COLUMNS": "200"}
        result = subprocess.run(
            [sys.executable, "-m", "advqa.cli", "generate", "--index", str(fault_index.path),
             "--out", str(tmp_path / "run"), "--seeds", "8", "--max-rounds", "1", "--scorer", "judge",
             "--k", "2", "--concurrency", "4", "--dedup-threshold", "0.999", "--no-cache",
             "--config", str(config)], capture_output=True, text=True, env=env, timeout=300)
    assert "Traceback" not in result.stderr + result.stdout
    stats = json.loads((tmp_path / "run" / "stats.json").read_text())
    assert stats["finished"] + stats["errored"] == stats["probes"] == 8
    (poisoned,) = [c.id for c in plan_seeds(fault_index, 8) if POISONED in c.text]
    assert stats["errors"][poisoned].endswith("(gave up after 2 retries)")
    assert result.returncode == 1, result.stderr[-3000:]  # some probes errored: everything written, exit 1
    retries = {role: row["retries"] for role, row in stats["per_role"].items()}
    assert sum(retries.values()) > 0
    table = next(line for line in result.stdout.splitlines() if "questioner" in line and "│" in line)
    questioner = stats["per_role"]["questioner"]  # the per-role table's errors / retries column
    assert table.split("│")[4].strip() == f"{questioner['errors']} / {questioner['retries']}"
    assert f"{stats['exhausted']} / {stats['failed']} / {stats['errored']}" in result.stdout
    assert any(r.fault for r in server.requests)


def test_the_cli_lists_errored_probes_and_a_rerun_retries_them(fault_index, tmp_path):
    """One probe's call fails at every retry: the summary names the probe and its reason, and the
    same command run again runs that probe, and only it, to the end."""
    roles = Roles()
    roles.poison = False
    with MockOpenAIServer(reply=roles, fault_script=["500"] * 3) as server:
        config = tmp_path / "advqa.toml"
        config.write_text('[models]\nquestioner = "openai:mock"\nstudent = "openai:mock"\n'
                          'expert = "openai:mock"\ncritic = "openai:mock"\n\n'
                          f'[endpoints]\nbase_url = "{server.base_url}"\n'
                          'max_retries = 2\nbackoff = 0.01\ntimeout = 10.0\n', encoding="utf-8")
        command = [sys.executable, "-m", "advqa.cli", "generate", "--index", str(fault_index.path),
                   "--out", str(tmp_path / "run"), "--seeds", "3", "--max-rounds", "1", "--scorer", "judge",
                   "--k", "2", "--concurrency", "1", "--dedup-threshold", "0.999", "--no-cache",
                   "--config", str(config)]
        env = {**os.environ, "COLUMNS": "100"}
        # One probe at a time: the first three requests are the first call's three attempts.
        first = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
        assert first.returncode == 1, first.stderr[-3000:]  # a probe errored
        stats = json.loads((tmp_path / "run" / "stats.json").read_text())
        (errored,) = stats["errors"]
        reason = stats["errors"][errored]
        assert reason.endswith("HTTP 500 injected fault 500 (gave up after 2 retries)")
        questioner = stats["per_role"]["questioner"]
        assert (questioner["errors"], questioner["retries"]) == (1, 2)
        lines = first.stdout.splitlines()
        assert "1 probe errored:" in lines and f"  {errored}: {reason}" in lines  # one line, unwrapped
        assert "run the same command again to retry them; finished probes are kept" in lines
        calls_before = len(read_jsonl(tmp_path / "run" / "traces.jsonl"))

        server.reset()
        again = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    resumed = json.loads((tmp_path / "run" / "stats.json").read_text())
    assert resumed["finished"] == 3 and resumed["errored"] == 0
    assert "errored:" not in again.stdout and "Traceback" not in first.stderr + again.stderr
    new_calls = [e for e in read_jsonl(tmp_path / "run" / "traces.jsonl")[calls_before:]
                 if e["kind"] == "model_call"]
    assert new_calls and {e["probe"] for e in new_calls} == {errored}


def test_errored_probes_are_listed_up_to_a_limit():
    from advqa.cli import errored_probe_lines

    errors = {f"doc.md#{i:02d}": f"ModelError: reason {i}" for i in range(13)}
    lines = errored_probe_lines(errors, limit=10)
    assert lines[0] == "13 probes errored:"
    assert lines[1:11] == [f"  doc.md#{i:02d}: ModelError: reason {i}" for i in range(10)]
    assert lines[11].startswith("  and 3 more")
    assert lines[12].startswith("run the same command again to retry them")
    assert len(errored_probe_lines({"doc.md#00": "x"})) == 3 and errored_probe_lines({}) == []


def test_mock_server_fault_flags(capsys):
    from advqa.models.mock_server import main

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "advqa.models.mock_server", "--port", str(port),
                                "--latency", "0", "--fault-rate", "1", "--faults", "500", "--seed", "1"],
                               stdout=subprocess.PIPE, text=True)
    try:
        assert "127.0.0.1" in process.stdout.readline()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/chat/completions", method="POST",
            data=b'{"model": "m", "messages": [{"role": "user", "content": "hi"}]}')
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(request, timeout=10)
        assert caught.value.code == 500
    finally:
        process.terminate()
        process.wait(timeout=10)
    with pytest.raises(SystemExit) as exited:
        main(["--faults", "500,gremlins"])
    assert exited.value.code == 2 and "unknown fault kind(s) gremlins" in capsys.readouterr().err
