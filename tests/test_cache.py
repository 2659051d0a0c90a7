"""The reply cache: hits and misses, --no-cache, and re-runs that pay only for what changed."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest
from conftest import counting, counting_campaign_models, critic_json

from advqa.agents import CallContext, ListTracer, ResponseCache, invoke_model, load_prompts
from advqa.campaign import CampaignSettings, run_campaign
from advqa.config import ConfigError, resolve_cache
from advqa.graph import ProbeSettings
from advqa.retrieval.files import read_jsonl

CRITIC_HIGH = critic_json(0.9, feedback="fine", reason="far apart")
CRITIC_LOW = critic_json(0.1, feedback="ask about the exception", reason="close")


def test_the_same_call_twice_reaches_the_model_once(tmp_path):
    model = counting("first reply", "second reply")
    tracer = ListTracer()
    with ResponseCache(tmp_path / "cache.sqlite") as cache:
        ctx = CallContext(tracer=tracer, cache=cache)
        one = invoke_model("student", model, "What is the notice period?", ctx, max_tokens=20)
        two = invoke_model("student", model, "What is the notice period?", ctx, max_tokens=20)
        assert (cache.hits, cache.misses, len(cache)) == (1, 1, 1)
    assert model.calls == 1
    assert one.text == two.text == "first reply" and two.cached and not one.cached
    assert [e["cached"] for e in tracer.events] == [False, True]
    assert tracer.events[1]["output"] == "first reply"
    assert tracer.events[1]["input_tokens"] == tracer.events[0]["input_tokens"]


@pytest.mark.parametrize("change", [
    {"max_tokens": 21}, {"temperature": 0.7}, {"seed": 5}, {"prompt": "What is the notice period??"},
    {"model": ["another script"]},
])
def test_any_change_of_call_is_a_miss(tmp_path, change):
    model = counting("reply")
    with ResponseCache(tmp_path / "cache.sqlite") as cache:
        ctx = CallContext(cache=cache)
        invoke_model("student", model, "What is the notice period?", ctx, max_tokens=20)
        other = counting(*change.pop("model")) if "model" in change else model
        prompt = change.pop("prompt", "What is the notice period?")
        options = {"max_tokens": 20, **change}
        invoke_model("student", other, prompt, ctx, **options)
    assert model.calls + (other.calls if other is not model else 0) == 2


def test_without_a_cache_every_call_reaches_the_model():
    model = counting("reply")
    for _ in range(3):
        invoke_model("student", model, "Same question?", CallContext(), max_tokens=20)
    assert model.calls == 3


def test_the_cache_is_shared_by_threads_and_processes(tmp_path):
    path = tmp_path / "cache.sqlite"
    writer = ("import sys; from advqa.agents import ResponseCache\n"
              "cache = ResponseCache(sys.argv[1])\n"
              "for i in range(40):\n"
              "    cache.put(f'{sys.argv[2]}-{i}', model='m', text=str(i), input_tokens=1,"
              " output_tokens=1, tokens_estimated=False, seconds=0.0)\n")
    processes = [subprocess.Popen([sys.executable, "-c", writer, str(path), name]) for name in "ab"]
    with ResponseCache(path) as cache:
        def put(name):
            for i in range(40):
                cache.put(f"{name}-{i}", model="m", text=str(i), input_tokens=1, output_tokens=1,
                          tokens_estimated=False, seconds=0.0)
        threads = [threading.Thread(target=put, args=(name,)) for name in "cd"]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert [p.wait(timeout=120) for p in processes] == [0, 0]
        assert len(cache) == 160
        assert cache.get("b-39")["text"] == "39"


def scripted_models():
    return counting_campaign_models(CRITIC_HIGH, CRITIC_LOW, CRITIC_LOW)


def settings():
    return CampaignSettings(seeds=4, concurrency=1, dedup_threshold=0.999,
                            probe=ProbeSettings(scorer="judge", max_rounds=2))


def test_a_new_run_directory_is_answered_from_the_cache(small_index, tmp_path):
    with ResponseCache(tmp_path / "cache.sqlite") as cache:
        first = run_campaign(small_index, tmp_path / "one", models=scripted_models(),
                             settings=settings(), cache=cache)
        again = scripted_models()
        second = run_campaign(small_index, tmp_path / "two", models=again, settings=settings(),
                              cache=cache)
    assert sum(m.calls for m in again.values()) == 0
    assert second["model_calls"] == second["cache_hits"] == first["model_calls"] > 0
    assert all(e["cached"] for e in read_jsonl(tmp_path / "two" / "traces.jsonl")
               if e["kind"] == "model_call")
    assert (tmp_path / "two" / "dataset.jsonl").read_text() == \
        (tmp_path / "one" / "dataset.jsonl").read_text()


def test_a_changed_prompt_pays_only_for_the_calls_that_changed(small_index, tmp_path):
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / "student.txt").write_text("Answer in one sentence.\n\n{question}\n")
    with ResponseCache(tmp_path / "cache.sqlite") as cache:
        run_campaign(small_index, tmp_path / "one", models=scripted_models(), settings=settings(),
                     cache=cache)
        again = scripted_models()
        second = run_campaign(small_index, tmp_path / "two", models=again, settings=settings(),
                              prompts=load_prompts(prompts), cache=cache)
    roles = second["per_role"]
    assert again["student"].calls == roles["student"]["calls"] > 0
    assert roles["student"]["cache_hits"] == 0
    for role in ("questioner", "expert", "critic"):
        assert again[role].calls == 0
        assert roles[role]["cache_hits"] == roles[role]["calls"] > 0


def test_cache_settings_resolve(tmp_path, monkeypatch):
    monkeypatch.setenv("ADVQA_RESPONSE_CACHE", str(tmp_path / "default.sqlite"))
    monkeypatch.delenv("ADVQA_NO_CACHE", raising=False)
    assert resolve_cache(False, None) == tmp_path / "default.sqlite"  # on by default
    assert resolve_cache(True, None) is None  # --no-cache
    assert resolve_cache(True, True) is None  # the option wins over the file
    assert resolve_cache(False, False) is None  # [campaign] cache = false
    assert resolve_cache(False, str(tmp_path / "mine.sqlite")) == tmp_path / "mine.sqlite"
    monkeypatch.setenv("ADVQA_NO_CACHE", "1")
    assert resolve_cache(False, None) is None
    assert resolve_cache(False, True) == tmp_path / "default.sqlite"  # the file wins over the env
    with pytest.raises(ConfigError, match="must be true, false or a file path"):
        resolve_cache(False, 3)
