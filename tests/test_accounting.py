"""Accounting in stats.json: calls, tokens, cache hits, seconds and cost per role match the traces."""

from __future__ import annotations

import json

import pytest
from conftest import counting, counting_campaign_models, critic_json

from advqa.agents import ResponseCache
from advqa.campaign import CampaignSettings, run_campaign
from advqa.campaign.stats import account_model_calls, price_for
from advqa.graph import ProbeSettings
from advqa.retrieval.files import read_jsonl

PRICES = {"openai:gpt-4o-mini": {"input_per_million": 0.15, "output_per_million": 0.6},
          "CountingChat": {"input_per_million": 2.0, "output_per_million": 8.0},
          "ReadingChat": {"input_per_million": 2.0, "output_per_million": 8.0}}


def event(role, model, tokens_in, tokens_out, seconds=1.0, **extra):
    return {"kind": "model_call", "role": role, "model": model, "input_tokens": tokens_in,
            "output_tokens": tokens_out, "seconds": seconds, **extra}


def test_sums_and_costs_from_events():
    events = [
        event("critic", "openai:gpt-4o-mini", 1_000_000, 100_000),
        event("critic", "openai:gpt-4o-mini", 500, 50, cached=True, seconds=0.001),
        event("critic", "openai:gpt-4o-mini", 0, 0, error="ModelError: gave up", retries=3),
        event("student", "bundled:smollm2-135m", 300, 20, seconds=2.5),
        {"kind": "judgement", "role": "critic"},
    ]
    accounting = account_model_calls(events, PRICES)
    critic, student = accounting["per_role"]["critic"], accounting["per_role"]["student"]
    assert (critic["calls"], critic["cache_hits"], critic["errors"], critic["retries"]) == (3, 1, 1, 3)
    assert critic["input_tokens"] == 1_000_500 and critic["cached_input_tokens"] == 500
    assert critic["cost"] == pytest.approx(0.15 + 0.06)  # the cache hit costs nothing
    assert critic["seconds"] == pytest.approx(2.001)
    assert "cost" not in student  # no price for its model
    assert accounting["cost"] == pytest.approx(0.21)
    assert accounting["unpriced_models"] == ["bundled:smollm2-135m"]
    assert accounting["model_calls"] == 4 and accounting["cache_hits"] == 1
    assert accounting["tokens"] == 1_000_500 + 100_050 + 320
    assert "cost" not in account_model_calls(events, None)


def test_a_price_matches_the_label_or_the_bare_name():
    assert price_for("openai:gpt-4o-mini", {"gpt-4o-mini": {"input_per_million": 1}}) is not None
    assert price_for("openai:gpt-4o", {"gpt-4o-mini": {"input_per_million": 1}}) is None


def models():
    return counting_campaign_models(critic_json(0.9, feedback="fine", reason="far apart"),
                                    critic_json(0.1, feedback="sharpen", reason="close"))


def test_stats_match_the_traces(small_index, tmp_path):
    # One probe at a time: the scripted critic's replies then reach the same rounds in both runs,
    # so which calls the cache answers does not depend on thread timing.
    settings = CampaignSettings(seeds=4, concurrency=1, dedup_threshold=0.999,
                                probe=ProbeSettings(scorer="judge", max_rounds=2))
    with ResponseCache(tmp_path / "cache.sqlite") as cache:
        run_campaign(small_index, tmp_path / "one", models=models(), settings=settings, cache=cache)
        # A second run, half from the cache: new student replies, the rest repeated.
        changed = models()
        changed["student"] = counting("Under general law, a reasonable period.")
        stats = run_campaign(small_index, tmp_path / "two", models=changed, settings=settings,
                             cache=cache, extra_config={"prices": PRICES})
    assert stats == json.loads((tmp_path / "two" / "stats.json").read_text())
    calls = [e for e in read_jsonl(tmp_path / "two" / "traces.jsonl") if e["kind"] == "model_call"]
    assert stats["model_calls"] == len(calls)
    assert stats["cache_hits"] == sum(1 for e in calls if e["cached"]) > 0
    assert stats["cache_hits"] < stats["model_calls"]
    assert stats["tokens"] == sum(e["input_tokens"] + e["output_tokens"] for e in calls)
    expected_cost = 0.0
    for role, row in stats["per_role"].items():
        mine = [e for e in calls if e["role"] == role]
        paid = [e for e in mine if not e["cached"]]
        assert row["calls"] == len(mine)
        assert row["cache_hits"] == len(mine) - len(paid)
        assert row["input_tokens"] == sum(e["input_tokens"] for e in mine)
        assert row["output_tokens"] == sum(e["output_tokens"] for e in mine)
        assert row["cached_output_tokens"] == sum(e["output_tokens"] for e in mine if e["cached"])
        assert row["seconds"] == pytest.approx(sum(e["seconds"] for e in mine), abs=0.01)
        cost = sum(e["input_tokens"] * 2.0 + e["output_tokens"] * 8.0 for e in paid) / 1e6
        assert row["cost"] == pytest.approx(cost, abs=1e-6)
        expected_cost += cost
        if role == "student":
            assert row["cost"] > 0 and row["cache_hits"] == 0
    assert stats["cost"] == pytest.approx(expected_cost, abs=1e-6)
    assert "unpriced_models" not in stats
    assert '[prices."openai:gpt-4o-mini"]' in (tmp_path / "two" / "config.toml").read_text()
