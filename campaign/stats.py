"""stats.json: what a campaign did, computed from its files so that the two always agree."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from ..retrieval.files import read_jsonl, write_atomic
from .files import CONFIG, DATASET, DUPLICATES, STATS, TRACES
from .quality import quality_figures

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def compute_stats(run: Path, *, seeds: list[str], finished: dict[str, dict[str, Any]],
                  errors: dict[str, str], calls_this_run: int,
                  wall_seconds: float,
                  prices: dict[str, dict[str, float]] | None = None, embedder=None) -> dict[str, Any]:
    """Summarise a run from its checkpoints (outcomes), traces (calls) and dataset; write it.

    `prices` (model label -> input_per_million, output_per_million) default to the [prices]
    table of the run's config.toml. `embedder` adds the questions' mean pairwise distance to the
    quality figures.
    """
    outcomes = {"accepted": 0, "exhausted": 0, "failed": 0}
    rounds_run = 0
    accept_rounds: dict[str, int] = {}
    for values in finished.values():
        outcomes[values["outcome"]] = outcomes.get(values["outcome"], 0) + 1
        rounds_run += len(values["rounds"])
        if values["outcome"] == "accepted":
            key = str(values["best_round"])
            accept_rounds[key] = accept_rounds.get(key, 0) + 1
    if prices is None:
        prices = read_prices(run / CONFIG)
    events = read_jsonl(run / TRACES)
    accounting = account_model_calls(events, prices)
    per_role = accounting["per_role"]
    calls = accounting["model_calls"]
    dataset = read_jsonl(run / DATASET)
    probes_finished = len(finished)
    tokens = accounting["tokens"]
    stats = {
        "probes": len(seeds),
        "finished": probes_finished,
        "accepted": len(dataset),
        "accepted_before_dedup": outcomes["accepted"],
        "duplicates_dropped": len(read_jsonl(run / DUPLICATES)),
        "exhausted": outcomes["exhausted"],
        "failed": outcomes["failed"],
        "errored": len(errors),
        "errors": errors,
        "acceptance_rate": round(len(dataset) / probes_finished, 4) if probes_finished else 0.0,
        "rounds": rounds_run,
        "mean_rounds": round(rounds_run / probes_finished, 3) if probes_finished else 0.0,
        "accepted_at_round": dict(sorted(accept_rounds.items())),
        "model_calls": calls,
        "model_calls_this_run": calls_this_run,
        "cache_hits": accounting["cache_hits"],
        "tokens": tokens,
        "tokens_from_cache": accounting["tokens_from_cache"],
        "tokens_per_accepted": round(tokens / len(dataset), 1) if dataset else None,
        "calls_per_accepted": round(calls / len(dataset), 2) if dataset else None,
        "per_role": per_role,
        "wall_seconds": round(wall_seconds, 2),
        "quality": quality_figures(finished, dataset, events, embedder),
    }
    for key in ("cost", "unpriced_models"):
        if key in accounting:
            stats[key] = accounting[key]
    write_atomic(run / STATS, json.dumps(stats, indent=2))  # never half a file, even if killed
    return stats


def account_model_calls(events: list[dict[str, Any]],
                        prices: dict[str, dict[str, float]] | None = None) -> dict[str, Any]:
    """Calls, cache hits, errors, retries, tokens and seconds per role from model_call events;
    with prices, the cost in all and per role whose model has a price (a cache hit costs nothing;
    models with paid calls and no price are listed under unpriced_models).

    Tokens count every call, cached or not (what the campaign's questions took); the tokens of
    cache hits are also given apart, and only the others are priced.
    """
    per_role: dict[str, dict[str, Any]] = {}
    unpriced: set[str] = set()
    for event in events:
        if event.get("kind") != "model_call":
            continue
        role = per_role.setdefault(str(event.get("role")), {
            "calls": 0, "cache_hits": 0, "errors": 0, "retries": 0, "input_tokens": 0,
            "output_tokens": 0, "cached_input_tokens": 0, "cached_output_tokens": 0, "seconds": 0.0})
        input_tokens = int(event.get("input_tokens", 0))
        output_tokens = int(event.get("output_tokens", 0))
        role["calls"] += 1
        role["errors"] += 1 if event.get("error") else 0
        role["retries"] += int(event.get("retries", 0))
        role["input_tokens"] += input_tokens
        role["output_tokens"] += output_tokens
        role["seconds"] = round(role["seconds"] + float(event.get("seconds", 0.0)), 3)
        if event.get("cached"):
            role["cache_hits"] += 1
            role["cached_input_tokens"] += input_tokens
            role["cached_output_tokens"] += output_tokens
        price = price_for(str(event.get("model", "")), prices) if prices else None
        if price is not None:  # a role has a cost once one of its models has a price
            paid = 0.0 if event.get("cached") else (
                input_tokens * price.get("input_per_million", 0.0)
                + output_tokens * price.get("output_per_million", 0.0)) / 1e6
            role["cost"] = role.get("cost", 0.0) + paid
        elif prices and not event.get("cached") and (input_tokens or output_tokens):
            unpriced.add(str(event.get("model", "")))
    result: dict[str, Any] = {
        "per_role": per_role,
        "model_calls": sum(r["calls"] for r in per_role.values()),
        "cache_hits": sum(r["cache_hits"] for r in per_role.values()),
        "tokens": sum(r["input_tokens"] + r["output_tokens"] for r in per_role.values()),
        "tokens_from_cache": sum(r["cached_input_tokens"] + r["cached_output_tokens"]
                                 for r in per_role.values()),
    }
    if prices:
        for role in per_role.values():
            if "cost" in role:
                role["cost"] = round(role["cost"], 6)
        result["cost"] = round(sum(r.get("cost", 0.0) for r in per_role.values()), 6)
        if unpriced:
            result["unpriced_models"] = sorted(unpriced)
    return result


def price_for(model: str, prices: dict[str, dict[str, float]]) -> dict[str, float] | None:
    """The price of a model label (`openai:gpt-4o-mini`), or of its bare name (`gpt-4o-mini`)."""
    if model in prices:
        return prices[model]
    kind, _, name = model.partition(":")
    return prices.get(name) if name else None


def read_prices(config: Path) -> dict[str, dict[str, float]]:
    """The [prices] table of a run's config.toml ({} when there is none)."""
    try:
        data = tomllib.loads(config.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return {}
    prices = data.get("prices", {})
    return prices if isinstance(prices, dict) else {}
