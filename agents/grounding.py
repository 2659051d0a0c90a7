"""Decide by code whether the expert's answer is grounded in the passages it was given."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..retrieval import Passage
from .passages import passage_label
from .questions import specific_words

# An answer that cites nothing is grounded when one of its sentences has at least this cosine
# similarity (all-MiniLM-L6-v2) with a sentence of a passage it was given. Measured on the
# example contracts: reworded passage sentences score 0.69 or more (5th percentile), generic
# legal answers against their own nearest passages mostly 0.37-0.56. See README "Grounding".
SIMILARITY_BAR = 0.65
MIN_ANSWER_WORDS = 3
_CITATION = re.compile(r"\b(?:P|passage\s*)(\d{1,3})\b", re.IGNORECASE)
_ABSTAIN = re.compile(r"not\s+answerable", re.IGNORECASE)


@dataclass
class Grounding:
    """The verdict of the grounding check and the evidence for it."""

    grounded: bool
    method: str  # "citation", "similarity", "abstained", "too_short" or "unsupported"
    passage_ids: list[str] = field(default_factory=list)
    score: float = 0.0
    fabricated: list[str] = field(default_factory=list)


def cited_labels(answer: str, count: int) -> tuple[list[int], list[str]]:
    """Positions of the passages an answer cites, and the citations naming no given passage."""
    valid, fabricated = [], []
    for match in _CITATION.finditer(answer):
        number = int(match.group(1))
        if 1 <= number <= count:
            if number - 1 not in valid:
                valid.append(number - 1)
        elif match.group(0) not in fabricated:
            fabricated.append(match.group(0))
    return valid, fabricated


def check_grounding(answer: str, passages: Sequence[Passage], embedder,
                    bar: float = SIMILARITY_BAR, question: str = "") -> Grounding:
    """Grounded when the answer cites given passages, else when one of its sentences is similar
    enough to a passage sentence and it adds a passage word the question did not have."""
    if _ABSTAIN.search(answer):
        return Grounding(False, "abstained")
    if len(answer.split()) < MIN_ANSWER_WORDS or not passages:
        return Grounding(False, "too_short")
    valid, fabricated = cited_labels(answer, len(passages))
    if valid:
        return Grounding(True, "citation", [passages[i].id for i in valid], 1.0, fabricated)
    answer_sentences = sentences_of(answer) or [answer]
    passage_sentences = [(i, sentence) for i, p in enumerate(passages)
                         for sentence in sentences_of(p.text)]
    if not passage_sentences:
        return Grounding(False, "unsupported", [], 0.0, fabricated)
    vectors = embedder.encode(answer_sentences + [sentence for _, sentence in passage_sentences])
    similarity = vectors[: len(answer_sentences)] @ vectors[len(answer_sentences):].T
    best_per_passage = np.zeros(len(passages))
    for (position, _), value in zip(passage_sentences, similarity.max(axis=0)):
        best_per_passage[position] = max(best_per_passage[position], value)
    best = float(best_per_passage.max())
    # Restating the question is not support: the answer must also bring a specific word or
    # number from the passages that the question did not already contain.
    brought = specific_words(answer) - specific_words(question)
    if best >= bar and brought & specific_words(" ".join(p.text for p in passages)):
        order = np.argsort(-best_per_passage)
        ids = [passages[i].id for i in order if best_per_passage[i] >= bar]
        return Grounding(True, "similarity", ids, best, fabricated)
    return Grounding(False, "unsupported", [], best, fabricated)


def sentences_of(text: str) -> list[str]:
    """Sentences (or lines) of three words or more."""
    return [s.strip() for s in re.split(r"(?<=[.!?;])\s+|\n+", text) if len(s.split()) >= 3]


def labels_for(passages: Sequence[Passage]) -> dict[str, str]:
    """P1.. label -> passage id, as recorded in traces."""
    return {passage_label(i): p.id for i, p in enumerate(passages)}
