"""Round-trip consistency (Alberti et al., ACL 2019): do two answers to one question say the same?"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .divergence import leading_verdict
from .facts import extract_facts, missing_facts
from .questions import content_words

SIMILAR = 0.7  # a cosine similarity between the two answers that counts as full agreement
AGREE = 0.6  # the least mean of the content signals (key-word overlap, similarity, critic) to agree


@dataclass
class Agreement:
    """Whether `other` gives the answer `reference` gives, and the evidence for it."""

    agree: bool
    facts: bool | None  # the reference's facts all in the other (None: the reference has none)
    verdict: bool | None  # the same leading yes/no (None: one of them has none)
    overlap: float  # share of the reference's key words in the other
    similarity: float  # cosine similarity of the two answers
    missing: list[str]  # the reference's facts the other lacks
    reason: str  # why they disagree ("" when they agree)
    score: float = 0.0  # mean of the content signals
    critic: bool | None = None  # the critic's judgement, when it gave one

    def as_dict(self) -> dict:
        return {"agree": self.agree, "facts": self.facts, "verdict": self.verdict,
                "overlap": round(self.overlap, 3), "similarity": round(self.similarity, 3),
                "score": round(self.score, 3), "critic": self.critic, "missing": self.missing,
                "reason": self.reason}


def compare_answers(reference: str, other: str, embedder, question: str = "",
                    critic: bool | None = None) -> Agreement:
    """Decide by code whether `other` answers `question` as `reference` does.

    They agree when every number, amount, date and duration of the reference is in the other
    (after normalisation: "thirty (30) days" = "30 days"), their leading yes/no (if both have
    one) is the same, and their content agrees: the mean of the share of the reference's key
    words (those not already in the question) the other holds, the cosine similarity of the
    reference with the other or its closest clause (full at 0.7; full too when the reference, two
    words or more, occurs word for word in the other) and, when given, the critic's judgement (1 or
    0) reaches 0.6.
    """
    facts = extract_facts(reference) - extract_facts(question)
    missing = missing_facts(facts, extract_facts(other))
    facts_agree = None if not facts else not missing
    first, second = leading_verdict(reference), leading_verdict(other)
    verdict = None if first is None or second is None else first == second
    key = content_words(reference) - content_words(question) or content_words(reference)
    overlap = len(key & content_words(other)) / len(key) if key else 1.0
    # The closest clause of the other answer: a short answer inside a long sentence that says it
    # is not much like the whole sentence.
    clauses = [c for c in re.split(r"[,;:]\s+", other) if len(c.split()) >= 2]
    vectors = embedder.encode([reference or " ", other or " ", *clauses])
    similarity = float(np.max(vectors[1:] @ vectors[0]))
    # The reference found word for word in the other is Alberti et al.'s round trip itself (the
    # answer span recovered), however unlike the whole sentence around it the span reads.
    found = len(reference.split()) >= 2 and f" {_normal(reference)} " in f" {_normal(other)} "
    signals = [overlap, 1.0 if found else min(max(similarity, 0.0) / SIMILAR, 1.0)]
    if critic is not None:
        signals.append(float(critic))
    score = sum(signals) / len(signals)
    reason = ""
    if facts_agree is False:
        reason = "different facts: " + ", ".join(str(f) for f in missing) + " missing"
    elif verdict is False:
        reason = f"different verdicts ({first} against {second})"
    elif score < AGREE:
        reason = (f"different content (key-word overlap {overlap:.2f}, similarity {similarity:.2f}"
                  + ("" if critic is None else f", critic {'agrees' if critic else 'disagrees'}") + ")")
    return Agreement(not reason, facts_agree, verdict, overlap, similarity, [str(f) for f in missing], reason,
                     score, critic)


def _normal(text: str) -> str:
    return " ".join(re.sub(r"[^\w%$£€()]+", " ", text.lower()).split())
