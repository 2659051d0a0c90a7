"""Divergence scorers: the critic's judgement, embedding distance, differing verdicts, missing facts."""

from __future__ import annotations

import re

import numpy as np

from .questions import specific_words

SCORERS = ("combined", "judge", "embedding", "verdict", "facts", "failure")
# Weights of the default "combined" scorer: a weighted mean over the scores available. `failure`
# (how reliably the student fails, agents/student.py) is measured only on rounds that pass every
# other check.
WEIGHTS = {"judge": 2.0, "embedding": 1.0, "verdict": 1.0, "facts": 1.0, "failure": 2.0}

_VERDICT = re.compile(r"^\W*(yes|no|true|false|\(?[a-e]\))(?=\W|$)", re.IGNORECASE)
_CHOICE = re.compile(r"^\(?([a-e])\)$", re.IGNORECASE)


def embedding_divergence(embedder, first: str, second: str) -> float:
    """1 - cosine similarity of the two answers' embeddings, clipped to [0, 1]."""
    vectors = embedder.encode([first or " ", second or " "])
    cosine = float(np.dot(vectors[0], vectors[1]))
    return float(min(max(1.0 - cosine, 0.0), 1.0))


def leading_verdict(answer: str) -> str | None:
    """"yes"/"no" or a choice letter when the answer opens with one, else None."""
    match = _VERDICT.match(answer.strip())
    if not match:
        return None
    word = match.group(1).lower()
    if choice := _CHOICE.match(word):
        return choice.group(1)
    return {"true": "yes", "false": "no"}.get(word, word)


def verdict_divergence(first: str, second: str) -> float | None:
    """1.0 when both answers open with a verdict and the verdicts differ, 0.0 when they agree,
    None when either has no leading verdict (the scorer does not apply)."""
    a, b = leading_verdict(first), leading_verdict(second)
    if a is None or b is None:
        return None
    return 0.0 if a == b else 1.0


def facts_divergence(question: str, student: str, expert: str, passages_text: str) -> float | None:
    """Share of the facts the expert brought from the passages that the student's answer lacks.

    The expert's facts are the specific words and numbers of its answer that occur in the
    passages and not in the question ("40,000", "components"). None when it brought none.
    Two answers can read alike (low embedding distance) and still differ in the one number
    that matters; this scorer sees that.
    """
    brought = (specific_words(expert) - specific_words(question)) & specific_words(passages_text)
    if not brought:
        return None
    return len(brought - specific_words(student)) / len(brought)


def combine(scores: dict[str, float | None], scorer: str = "combined") -> tuple[float, str]:
    """Pick or combine scores; returns (divergence, what was used).

    `combined` is the weighted mean of the available scores (judge 2, embedding 1, verdict 1,
    facts 1, failure 2).
    A single named scorer that is unavailable falls back to `combined`, and says so.
    """
    if scorer not in SCORERS:
        raise ValueError(f"unknown divergence scorer '{scorer}' (choose from {', '.join(SCORERS)})")
    if scorer != "combined":
        value = scores.get(scorer)
        if value is not None:
            return float(value), scorer
    available = {name: v for name, v in scores.items() if v is not None and name in WEIGHTS}
    if not available:
        return 0.0, "none"
    total = sum(WEIGHTS[name] for name in available)
    value = sum(WEIGHTS[name] * v for name, v in available.items()) / total
    used = "combined(" + "+".join(sorted(available)) + ")"
    if scorer != "combined":
        used = f"{used} [{scorer} unavailable]"
    return float(value), used
