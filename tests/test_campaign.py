"""Campaigns with scripted models: outputs agree with each other, resume repeats nothing."""

from __future__ import annotations

import json

import pytest
from conftest import scripted

from advqa.agents import read_traces
from advqa.graph import ProbeSettings
from advqa.graph.campaign import CampaignSettings, plan_seeds, run_campaign

CRITIC_HIGH = "Divergence: 0.9\nGrounded: yes\nFeedback: fine\nReason: far apart"
CRITIC_LOW = "Divergence: 0.1\nGrounded: yes\nFeedback: ask about the exception\nReason: close"


def models():
    """Fresh scripted models; with concurrency 1 the call order, hence every reply, is fixed."""
    subjects = ["notice period", "fee", "liability cap", "survival", "maintenance", "invoice",
                "term", "breach", "repairs", "indemnity", "quarter", "confidentiality"]
    return {
        "questioner": scripted(*[f"Question: Under this agreement, what rule governs the {s}?"
                                 for s in subjects]),
        "student": scripted("It depends on general law."),
        # A cited answer with no specific word of its own: nothing to check, the citation stands.
        "expert": scripted("Yes, it does [P1]."),
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
    calls = [e for e in read_traces(tmp_path / "traces.jsonl") if e["kind"] == "model_call"]
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
    same = {
        "questioner": scripted("Question: Under this agreement, what fee is payable on termination?"),
        "student": scripted("Thirty days."),
        "expert": scripted("Yes, it does [P1]."),
        "critic": scripted(CRITIC_HIGH),
    }
    # One repeated question: the questioner rejects repeats within a document, so the
    # duplicates that reach the end come from different documents.
    stats = run_campaign(small_index, tmp_path, models=same,
                         settings=CampaignSettings(seeds=2, concurrency=1,
                                                   probe=ProbeSettings(scorer="judge")))
    assert stats["accepted_before_dedup"] == 2
    assert stats["accepted"] == 1
    assert stats["duplicates_dropped"] == 1
    assert len(lines(tmp_path / "duplicates.jsonl")) == 1


def test_plan_with_focus_seeds_the_passages_closest_to_the_queries(small_index):
    focus = ["Who pays for repairs caused by misuse of the equipment?", "Is liability capped?"]
    seeds = plan_seeds(small_index, seeds_per_document=1, focus=focus)
    by_document = {c.document: c.text for c in seeds}
    assert "repairs caused by misuse" in by_document["lease.md"]
    assert "Liability cap" in by_document["services.md"]
    spread = plan_seeds(small_index, seeds_per_document=1)
    assert [c.id for c in spread] != [c.id for c in seeds]
