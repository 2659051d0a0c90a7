"""Campaigns with scripted models: outputs agree with each other, resume repeats nothing."""

from __future__ import annotations

import json

import pytest
from conftest import (
    ReadingChat,
    critic_json,
    expert_json,
    question_json,
    reading_expert,
    reading_questioner,
    scripted,
)

from advqa.campaign import CampaignSettings, plan_seeds, run_campaign
from advqa.graph import ProbeSettings
from advqa.retrieval.files import read_jsonl

CRITIC_HIGH = critic_json(0.9, feedback="fine", reason="far apart")
CRITIC_LOW = critic_json(0.1, feedback="ask about the exception", reason="close")


def models():
    """Fresh models: a questioner and an expert that read their prompts (so every seed passage gets
    a question from it, answered grounded and as intended), a generic student and a scripted
    critic; with concurrency 1 the call order, hence every reply, is fixed."""
    return {
        "questioner": ReadingChat(reply=reading_questioner),
        "student": scripted("It depends on general law."),
        "expert": ReadingChat(reply=reading_expert),
        "critic": scripted(CRITIC_HIGH, CRITIC_LOW, CRITIC_LOW),
    }


def settings(**probe):
    return CampaignSettings(seeds=4, concurrency=1, dedup_threshold=0.999,
                            probe=ProbeSettings(scorer="judge", max_rounds=2, **probe))


def lines(path):
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def test_plan_spreads_seeds_over_every_document(small_index):
    seeds = plan_seeds(small_index, seeds=4)
    assert {c.document for c in seeds} == set(small_index.documents())
    assert len({c.id for c in seeds}) == len(seeds)
    per_doc = plan_seeds(small_index, seeds_per_document=1)
    assert len(per_doc) == len(small_index.documents())


def test_campaign_outputs_agree(small_index, tmp_path):
    stats = run_campaign(small_index, tmp_path, models=models(), settings=settings())
    dataset = lines(tmp_path / "dataset.jsonl")
    calls = [e for e in read_jsonl(tmp_path / "traces.jsonl") if e["kind"] == "model_call"]
    assert stats == json.loads((tmp_path / "stats.json").read_text())
    assert stats["probes"] == stats["finished"] == 4
    assert stats["accepted"] == len(dataset) > 0
    assert stats["accepted"] + stats["exhausted"] + stats["failed"] == 4
    assert stats["model_calls"] == len(calls)
    assert sum(r["calls"] for r in stats["per_role"].values()) == len(calls)
    assert {e["role"] for e in calls} == {"questioner", "student", "expert", "critic"}
    for sample in dataset:
        assert [m["role"] for m in sample["messages"]] == ["user", "assistant"]
        assert "[P1]" not in sample["messages"][1]["content"]
        assert sample["meta"]["divergence"] >= 0.5
        assert all(small_index.contains(p) for p in sample["meta"]["grounding_passages"])
        assert sample["meta"]["grounding_passages"]
        assert sample["meta"]["student_answer"] == "It depends on general law."
    config = (tmp_path / "config.toml").read_text()
    assert "threshold = 0.5" in config and "[models]" in config


def test_rerun_makes_no_model_calls(small_index, tmp_path):
    run_campaign(small_index, tmp_path, models=models(), settings=settings())
    before = (tmp_path / "dataset.jsonl").read_text()
    again = run_campaign(small_index, tmp_path, models=models(), settings=settings())
    assert again["model_calls_this_run"] == 0
    assert (tmp_path / "dataset.jsonl").read_text() == before


def test_resume_after_interrupt_between_probes(small_index, tmp_path):
    whole = run_campaign(small_index, tmp_path / "whole", models=models(), settings=settings())

    class Stop(Exception):
        pass

    done = []

    def interrupt_after_two(event, info):
        if event == "probe":
            done.append(info["probe"])
            if len(done) == 2:
                raise Stop

    shared = models()  # the interrupted run and its resume continue one scripted sequence
    with pytest.raises(Stop):
        run_campaign(small_index, tmp_path / "cut", models=shared, settings=settings(),
                     progress=interrupt_after_two)
    resumed = run_campaign(small_index, tmp_path / "cut", models=shared, settings=settings())
    assert 0 < resumed["model_calls_this_run"] < resumed["model_calls"]  # it really resumed
    cut = lines(tmp_path / "cut" / "dataset.jsonl")
    assert [s["meta"]["probe_id"] for s in cut] == \
        [s["meta"]["probe_id"] for s in lines(tmp_path / "whole" / "dataset.jsonl")]
    assert len({s["meta"]["probe_id"] for s in cut}) == len(cut)
    assert resumed["model_calls"] == whole["model_calls"]  # nothing was asked twice
    assert resumed["accepted"] == whole["accepted"]


def test_near_duplicate_questions_are_dropped(small_index, tmp_path):
    # Questions name their contract, so the same words asked of two contracts are two questions;
    # and the questioner turns down an exact repeat within a document. Near-duplicates are two
    # wordings of one question about one document: here two seeds of the lease (the passages
    # closest to the focus query) that both state the lease's term.
    wordings = ("How long does the lease run from 1 March 2025?",
                "How long does the lease run from March 2025?")
    same = {
        "questioner": scripted(*[question_json(q, "thirty-six months") for q in wordings]),
        "student": scripted("Thirty days."),
        "expert": scripted(expert_json("The lease runs for thirty-six months.",
                                       ("P1", "runs for thirty-six months"))),
        "critic": scripted(CRITIC_HIGH),
    }
    stats = run_campaign(small_index, tmp_path, models=same,
                         settings=CampaignSettings(seeds=3, concurrency=1,
                                                   seed_focus="How long does the lease run from March 2025?",
                                                   probe=ProbeSettings(scorer="judge")))
    kept, dropped = lines(tmp_path / "dataset.jsonl"), lines(tmp_path / "duplicates.jsonl")
    assert stats["accepted_before_dedup"] == 2
    assert stats["accepted"] == 1
    assert stats["duplicates_dropped"] == 1
    assert len(dropped) == 1
    assert kept[0]["meta"]["document"] == dropped[0]["meta"]["document"] == "lease.md"
    assert kept[0]["meta"]["probe_id"] != dropped[0]["meta"]["probe_id"]
    assert kept[0]["messages"][0]["content"] != dropped[0]["messages"][0]["content"]


def test_plan_with_focus_seeds_the_passages_closest_to_the_queries(small_index):
    focus = ["Who pays for repairs caused by misuse of the equipment?", "Is liability capped?"]
    seeds = plan_seeds(small_index, seeds_per_document=1, focus=focus)
    by_document = {c.document: c.text for c in seeds}
    assert "repairs caused by misuse" in by_document["lease.md"]
    assert "Liability cap" in by_document["services.md"]
    spread = plan_seeds(small_index, seeds_per_document=1)
    assert [c.id for c in spread] != [c.id for c in seeds]
