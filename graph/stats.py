"""stats.json: what a campaign did, computed from its files so that the two always agree."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..agents import read_traces
from ..agents.tracing import read_jsonl


def compute_stats(run: Path, *, seeds: list[str], finished: dict[str, dict[str, Any]],
                  errors: dict[str, str], calls_this_run: int,
                  wall_seconds: float) -> dict[str, Any]:
    """Summarise a run from its checkpoints (outcomes), traces (calls) and dataset; write it."""
    outcomes = {"accepted": 0, "exhausted": 0, "failed": 0}
    rounds_run = 0
    accept_rounds: dict[str, int] = {}
    for values in finished.values():
        outcomes[values["outcome"]] = outcomes.get(values["outcome"], 0) + 1
        rounds_run += len(values["rounds"])
        if values["outcome"] == "accepted":
            key = str(values["best_round"])
            accept_rounds[key] = accept_rounds.get(key, 0) + 1
    per_role: dict[str, dict[str, float]] = {}
    calls = 0
    for event in read_traces(run / "traces.jsonl"):
        if event.get("kind") != "model_call":
            continue
        calls += 1
        role = per_role.setdefault(event["role"], {"calls": 0, "input_tokens": 0,
                                                   "output_tokens": 0, "seconds": 0.0})
        role["calls"] += 1
        role["input_tokens"] += event.get("input_tokens", 0)
        role["output_tokens"] += event.get("output_tokens", 0)
        role["seconds"] = round(role["seconds"] + event.get("seconds", 0.0), 3)
    dataset = read_jsonl(run / "dataset.jsonl")
    probes_finished = len(finished)
    tokens = sum(r["input_tokens"] + r["output_tokens"] for r in per_role.values())
    stats = {
        "probes": len(seeds),
        "finished": probes_finished,
        "accepted": len(dataset),
        "accepted_before_dedup": outcomes["accepted"],
        "duplicates_dropped": len(read_jsonl(run / "duplicates.jsonl")),
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
        "tokens": tokens,
        "tokens_per_accepted": round(tokens / len(dataset), 1) if dataset else None,
        "calls_per_accepted": round(calls / len(dataset), 2) if dataset else None,
        "per_role": per_role,
        "wall_seconds": round(wall_seconds, 2),
    }
    (run / "stats.json").write_text(json.dumps(stats, indent=2), encoding="utf-8")
    return stats
