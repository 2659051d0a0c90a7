"""The probe's state: documented dataclasses that LangGraph checkpoints after every node."""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Annotated

from ..retrieval import Passage

FINAL_OUTCOMES = ("accepted", "exhausted", "failed")


@dataclass
class RoundRecord:
    """One round of a probe: the question, both answers, and how code and critic judged them."""

    number: int  # 1-based round number
    question: str  # the questioner's validated question
    student_answer: str  # the student's answer to the bare question
    expert_answer: str  # the expert's answer from the passages (with its [P1] citations)
    passages: list[Passage]  # what the expert saw, in order: P1, P2, ...
    grounded: bool  # the code's grounding verdict (never the critic's claim)
    grounding_method: str  # citation | similarity | abstained | too_short | unsupported
    grounding_passages: list[str]  # ids of the passages that ground the expert's answer
    grounding_score: float  # best sentence-passage cosine (1.0 for citations)
    fabricated_citations: list[str]  # citations naming no passage the expert was given
    scores: dict[str, float | None]  # judge, embedding, verdict (None: not available)
    divergence: float  # the score the router compares with the threshold
    scorer: str  # which scorer(s) produced `divergence`
    critic_grounded: bool | None  # what the critic claimed; recorded, not used for routing
    feedback: str  # how to sharpen the question (the critic's, or code's fallback)
    reason: str  # the critic's one-line reason
    verdict_parsed_with: str  # json | labels | none (then divergence comes from code alone)
    # given passages the answer cited that hold none of its claim's words (not counted as support)
    unsupported_citations: list[str] = field(default_factory=list)


@dataclass
class ProbeState:
    """State of one probe (one seed passage).

    Input: `probe_id`, and either `seed` (a Passage) or `topic` (text; the retrieve node
    fetches the best-matching passage as the seed); optionally `guidance` and
    `accepted_questions`.
    Output: `outcome`, `rounds`, `best_round`, `failure`.
    The other fields hold the round in progress.
    """

    probe_id: str = ""
    seed: Passage | None = None
    topic: str = ""
    guidance: str = ""  # the skills or question types the user targets
    accepted_questions: list[str] = field(default_factory=list)  # already accepted, same document

    round: int = 0  # number of the round in progress (1-based once the questioner ran)
    question: str = ""
    student_answer: str = ""
    expert_answer: str = ""
    passages: list[Passage] = field(default_factory=list)
    feedback: str = ""  # feedback from the last judged round, for the next question

    rounds: Annotated[list[RoundRecord], operator.add] = field(default_factory=list)
    outcome: str = ""  # "" or "revise" while running; then accepted | exhausted | failed
    best_round: int = 0  # the accepted round, or the most divergent one when exhausted
    failure: str = ""  # why a probe failed


def best_round(rounds: list[RoundRecord]) -> RoundRecord | None:
    """The most divergent grounded round, or the most divergent round when none is grounded."""
    if not rounds:
        return None
    return max(rounds, key=lambda r: (r.grounded, r.divergence))
