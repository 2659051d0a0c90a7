"""Data-quality figures of a run: rejections by reason, round-trip and grounding rates, the student's
failure, question types, schema parse rates, diversity and coverage."""

from __future__ import annotations

import gzip
import re
from collections import Counter
from itertools import combinations
from typing import Any

import numpy as np

from .samples import as_dict

HISTOGRAM_BINS = 10


def quality_figures(finished: dict[str, dict[str, Any]], dataset: list[dict[str, Any]],
                    events: list[dict[str, Any]], embedder=None) -> dict[str, Any]:
    """What stats.json reports under "quality", from the probes' final states, the kept samples
    and the trace events. `embedder` (optional) adds the mean pairwise distance of the questions."""
    rounds = [as_dict(r) for values in finished.values() for r in values.get("rounds", [])]
    rejections: Counter[str] = Counter()
    for round_ in rounds:
        rejections.update(set(round_.get("rejections", [])))
        rejections.update(round_.get("question_rejections", []))
    for values in finished.values():
        if values.get("outcome") == "failed":
            rejections.update(values.get("question_rejections", []))
    judged = [r for r in rounds if r.get("expert_answer")]
    failures = [s["meta"]["student_failure"] for s in dataset if s["meta"].get("student_failure") is not None]
    return {
        "rejections": dict(rejections.most_common()),
        "rounds_judged": len(rounds),
        "roundtrip_agreement_rate": _rate(judged, lambda r: r.get("roundtrip", {}).get("agree")),
        "fact_grounding_rate": _rate(judged, lambda r: r.get("grounded")),
        "student_correct_rate": _rate(judged, lambda r: r.get("student_agreement", {}).get("agree")),
        "student_failure": {
            "mean": round(float(np.mean(failures)), 4) if failures else None,
            "histogram": histogram(failures),
            "method": sorted({s["meta"].get("failure_method", "") for s in dataset} - {""}),
        },
        # Does divergence separate what the student got wrong from what it got right?
        "divergence": {
            "student_wrong": histogram([r["divergence"] for r in judged
                                        if not r.get("student_agreement", {}).get("agree")]),
            "student_right": histogram([r["divergence"] for r in judged
                                        if r.get("student_agreement", {}).get("agree")]),
            "accepted": histogram([r["divergence"] for r in rounds if not r.get("rejections")]),
        },
        "question_types": {
            "accepted": dict(Counter(s["meta"].get("question_type") or "unknown" for s in dataset)),
            "asked": dict(Counter(r.get("question_type") or "unknown" for r in rounds)),
        },
        "schema_parse_rate": parse_rates(events),
        "diversity": diversity([s["messages"][0]["content"] for s in dataset],
                               [s["messages"][1]["content"] for s in dataset], embedder),
        "coverage": coverage(finished, dataset),
    }


def _rate(rows: list[dict[str, Any]], test) -> float | None:
    return round(sum(1 for r in rows if test(r)) / len(rows), 4) if rows else None


def histogram(values: list[float], bins: int = HISTOGRAM_BINS) -> list[int]:
    """Counts of values in [0, 1] over `bins` equal bins (1.0 in the last)."""
    counts = [0] * bins
    for value in values:
        counts[min(int(float(value) * bins), bins - 1)] += 1
    return counts


def parse_rates(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per role asked for a structured reply: calls, the share that followed the schema, and how
    the replies were held to it (grammar, json_schema, refused, prompted)."""
    rates: dict[str, dict[str, Any]] = {}
    for event in events:
        if event.get("kind") != "model_call" or "structured" not in event or event.get("error"):
            continue
        role = rates.setdefault(event["role"], {"calls": 0, "parsed": 0, "paths": Counter()})
        role["calls"] += 1
        role["parsed"] += bool(event.get("parsed_with"))
        role["paths"][event["structured"]] += 1
    return {name: {"calls": r["calls"], "parsed": r["parsed"], "rate": round(r["parsed"] / r["calls"], 4),
                   "paths": dict(r["paths"])} for name, r in rates.items()}


def diversity(questions: list[str], answers: list[str], embedder=None) -> dict[str, Any]:
    """Distinct n-grams (share of unique 1-, 2- and 3-grams over the questions), the gzip
    compression ratio of questions and answers (higher: more repetitive), and, with an embedder,
    the mean pairwise cosine distance between questions."""
    tokens = [re.findall(r"\w+", q.lower()) for q in questions]
    figures: dict[str, Any] = {}
    for n in (1, 2, 3):
        grams = [tuple(t[i:i + n]) for t in tokens for i in range(len(t) - n + 1)]
        figures[f"distinct_{n}"] = round(len(set(grams)) / len(grams), 4) if grams else None
    text = "\n".join(questions + answers).encode("utf-8")
    figures["compression_ratio"] = round(len(text) / len(gzip.compress(text)), 4) if text else None
    figures["mean_pairwise_distance"] = None
    if embedder is not None and len(questions) >= 2:
        vectors = embedder.encode(questions)
        distances = [1.0 - float(vectors[i] @ vectors[j]) for i, j in combinations(range(len(questions)), 2)]
        figures["mean_pairwise_distance"] = round(float(np.mean(distances)), 4)
    return figures


def coverage(finished: dict[str, dict[str, Any]], dataset: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Probes finished and samples kept per document."""
    table: dict[str, dict[str, int]] = {}
    for values in finished.values():
        seed = as_dict(values["seed"]) if values.get("seed") is not None else {}
        table.setdefault(seed.get("document", "?"), {"probes": 0, "accepted": 0})["probes"] += 1
    for sample in dataset:
        table.setdefault(sample["meta"]["document"], {"probes": 0, "accepted": 0})["accepted"] += 1
    return dict(sorted(table.items()))
