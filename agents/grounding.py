"""Decide by code whether the expert's answer is grounded in the passages it was given."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..retrieval import Passage
from .injection import injection_hits
from .passages import passage_label
from .questions import specific_words

# An answer that cites nothing is grounded when one of its sentences has at least this cosine
# similarity (all-MiniLM-L6-v2) with a sentence of a passage it was given. Measured on the
# example contracts: reworded passage sentences score 0.69 or more (5th percentile), generic
# legal answers against their own nearest passages mostly 0.37-0.56. See README "Grounding".
SIMILARITY_BAR = 0.65
MIN_ANSWER_WORDS = 3
CITED_WORDS = 2  # specific words of a citing answer that its passages must hold (see cited_support)
_CITATION = re.compile(r"\b(?:P|passage\s*)(\d{1,3})\b", re.IGNORECASE)
_ABSTAIN = re.compile(r"not\s+answerable", re.IGNORECASE)


@dataclass
class Grounding:
    """The verdict of the grounding check and the evidence for it."""

    grounded: bool
    method: str  # "citation", "similarity", "abstained", "too_short" or "unsupported"
    passage_ids: list[str] = field(default_factory=list)
    score: float = 0.0
    fabricated: list[str] = field(default_factory=list)  # citations naming no given passage
    unsupported: list[str] = field(default_factory=list)  # given passages cited for words they lack


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
    """Grounded when the answer cites given passages and they hold enough of its specific words
    (cited_support), else when one of its sentences is similar enough to a passage sentence and it
    adds a passage word the question did not have."""
    if _ABSTAIN.search(answer):
        return Grounding(False, "abstained")
    if len(answer.split()) < MIN_ANSWER_WORDS or not passages:
        return Grounding(False, "too_short")
    valid, fabricated = cited_labels(answer, len(passages))
    claim = specific_words(_CITATION.sub(" ", answer))  # a label's digits are not a claim's number
    # A passage that reads like instructions to a model (agents/injection.py) supports nothing:
    # text planted in a document must not ground the answer it asks for.
    usable = [not injection_hits(p.text) for p in passages]
    unsupported: list[str] = []
    if valid:
        grounded_by = cited_support(claim, passages, valid, usable)
        unsupported = [passage_label(i) for i in valid if i not in grounded_by]
        if grounded_by:
            return Grounding(True, "citation", [passages[i].id for i in grounded_by], 1.0, fabricated,
                             unsupported)
    answer_sentences = sentences_of(answer) or [answer]
    passage_sentences = [(i, sentence) for i, p in enumerate(passages) if usable[i]
                         for sentence in sentences_of(p.text)]
    if not passage_sentences:
        return Grounding(False, "unsupported", [], 0.0, fabricated, unsupported)
    vectors = embedder.encode(answer_sentences + [sentence for _, sentence in passage_sentences])
    similarity = vectors[: len(answer_sentences)] @ vectors[len(answer_sentences):].T
    best_per_passage = np.zeros(len(passages))
    for (position, _), value in zip(passage_sentences, similarity.max(axis=0)):
        best_per_passage[position] = max(best_per_passage[position], value)
    best = float(best_per_passage.max())
    # Restating the question is not support: the answer must also bring a specific word or
    # number from the passages that the question did not already contain.
    brought = claim - specific_words(question)
    usable_text = " ".join(p.text for p, ok in zip(passages, usable) if ok)
    if best >= bar and brought & specific_words(usable_text):
        order = np.argsort(-best_per_passage)
        ids = [passages[i].id for i in order if best_per_passage[i] >= bar]
        return Grounding(True, "similarity", ids, best, fabricated, unsupported)
    return Grounding(False, "unsupported", [], best, fabricated, unsupported)


def cited_support(claim: set[str], passages: Sequence[Passage], cited: list[int],
                  usable: Sequence[bool]) -> list[int]:
    """Positions of the passages that support a citing answer whose specific words are `claim`;
    empty when the passages hold too few of them for the citation to count.

    The cited passages, together, must hold two of the claim's words (all, when it has fewer)
    and half of them: an expert told (by a document, say) to cite [P1] for a claim the
    passages do not make is not grounded by the label. Small models often cite the wrong label,
    so when the cited passages fall short, a passage that holds enough on its own supports it
    (the wrong label is still recorded as unsupported). Restating the
    question counts here: "Yes, the Lessee may end the lease early [P1]" is how a cited yes/no
    answer reads. Passages not `usable` (flagged as injections) support nothing.
    """
    need = max(min(CITED_WORDS, len(claim)), math.ceil(len(claim) / 2))
    words = [claim & specific_words(p.text) if ok else set() for p, ok in zip(passages, usable)]
    if len(set().union(*(words[i] for i in cited))) >= need:
        return [i for i in cited if usable[i] and (words[i] or not claim)]
    return [i for i, held in enumerate(words) if usable[i] and len(held) >= need]  # a wrong label


def sentences_of(text: str) -> list[str]:
    """Sentences (or lines) of three words or more."""
    return [s.strip() for s in re.split(r"(?<=[.!?;])\s+|\n+", text) if len(s.split()) >= 3]


def labels_for(passages: Sequence[Passage]) -> dict[str, str]:
    """P1.. label -> passage id, as recorded in traces."""
    return {passage_label(i): p.id for i, p in enumerate(passages)}
