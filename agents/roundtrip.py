"""Round-trip consistency (Alberti et al., ACL 2019): do two answers to one question say the same?"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .divergence import leading_verdict
from .facts import extract_facts, missing_facts
from .questions import content_words

KEY_OVERLAP = 0.5  # share of the reference answer's key words the other answer must hold ...
SIMILAR = 0.7  # ... or this cosine similarity between the two answers


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

    def as_dict(self) -> dict:
        return {"agree": self.agree, "facts": self.facts, "verdict": self.verdict,
                "overlap": round(self.overlap, 3), "similarity": round(self.similarity, 3),
                "missing": self.missing, "reason": self.reason}


def compare_answers(reference: str, other: str, embedder, question: str = "") -> Agreement:
    """Decide by code whether `other` answers `question` as `reference` does.

    They agree when every number, amount, date and duration of the reference is in the other
    (after normalisation: "thirty (30) days" = "30 days"), their leading yes/no (if both have
    one) is the same, and the other holds half of the reference's key words (those not already
    in the question) or reads alike (cosine >= 0.7).
    """
    facts = extract_facts(reference) - extract_facts(question)
    missing = missing_facts(facts, extract_facts(other))
    facts_agree = None if not facts else not missing
    first, second = leading_verdict(reference), leading_verdict(other)
    verdict = None if first is None or second is None else first == second
    key = content_words(reference) - content_words(question) or content_words(reference)
    overlap = len(key & content_words(other)) / len(key) if key else 1.0
    vectors = embedder.encode([reference or " ", other or " "])
    similarity = float(np.dot(vectors[0], vectors[1]))
    reason = ""
    if facts_agree is False:
        reason = "different facts: " + ", ".join(str(f) for f in missing) + " missing"
    elif verdict is False:
        reason = f"different verdicts ({first} against {second})"
    elif overlap < KEY_OVERLAP and similarity < SIMILAR:
        reason = f"different content (key-word overlap {overlap:.2f}, similarity {similarity:.2f})"
    return Agreement(not reason, facts_agree, verdict, overlap, similarity, [str(f) for f in missing], reason)
