"""The probe's state: documented dataclasses that LangGraph checkpoints after every node."""

from __future__ import annotations

import operator
from dataclasses import asdict, dataclass, field
from typing import Annotated, Literal

from ..retrieval import Passage
from ..retrieval.cards import DocumentCard

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
    verdict_parsed_with: str  # schema | tolerant | none | skipped (the critic was not asked)
    # given passages the answer cited that hold none of its claim's words (not counted as support)
    unsupported_citations: list[str] = field(default_factory=list)
    intended_answer: str = ""  # the answer the questioner intended, from the seed passage
    question_type: str = ""  # lookup | condition | scenario | exception | consequence | comparison
    focus: str = ""  # the seed passage sentence the question is about
    question_rejections: list[str] = field(default_factory=list)  # questioner tries turned down first
    expert_quotes: list[list[str]] = field(default_factory=list)  # [passage label, quoted words]
    roundtrip: dict = field(default_factory=dict)  # the expert's answer against the intended one
    student_agreement: dict = field(default_factory=dict)  # the student's answer against the expert's
    student_failure: float | None = None  # how reliably the student fails (None: not measured)
    failure_method: str = ""  # likelihood | samples
    critic_consistent: bool | None = None  # the critic's view of the round trip (None: not given)
    grounding_details: dict = field(default_factory=dict)  # missing facts, terms, unsupported sentences
    rejections: list[str] = field(default_factory=list)  # why the round was not accepted ([] if it was)


# "running" until a round is judged, "revise" when another round follows; then one of FINAL_OUTCOMES.
Outcome = Literal["running", "revise", "accepted", "exhausted", "failed"]


@dataclass
class ProbeInput:
    """What a probe starts from: `probe_id`, and either `seed` (a Passage) or `topic` (text; the
    retrieve node fetches the best-matching passage as the seed)."""

    probe_id: str = ""
    seed: Passage | None = None
    topic: str = ""
    card: DocumentCard | None = None  # how questions name the seed's document (default: from the index)
    guidance: str = ""  # the skills or question types the user targets
    accepted_questions: list[str] = field(default_factory=list)  # already accepted, same document


@dataclass
class ProbeOutput:
    """What a finished probe returns."""

    seed: Passage | None = None  # the seed passage: the one given, or the best match for the topic
    rounds: Annotated[list[RoundRecord], operator.add] = field(default_factory=list)
    outcome: Outcome = "running"
    best_round: int = 0  # the accepted round, or the most divergent one when exhausted
    failure: str = ""  # why a probe failed
    question_rejections: list[str] = field(default_factory=list)  # the last round's turned-down tries


@dataclass
class ProbeState(ProbeInput, ProbeOutput):
    """State of one probe (one seed passage): its input and output fields, and the round in
    progress."""

    round: int = 0  # number of the round in progress (1-based once the questioner ran)
    question: str = ""
    intended_answer: str = ""  # the answer the questioner intends
    question_type: str = ""
    focus: str = ""  # the seed sentence asked about
    focuses_used: int = 0  # how many of the seed's focuses (agents.questions.Focus) were tried
    student_answer: str = ""
    expert_answer: str = ""  # "" when the expert's reply did not follow its schema
    expert_cited: list[str] = field(default_factory=list)  # passage labels the expert cites
    expert_quotes: list[list[str]] = field(default_factory=list)  # [label, quoted words]
    passages: list[Passage] = field(default_factory=list)
    feedback: str = ""  # feedback from the last judged round, for the next question


def probe_values(values: dict) -> dict:
    """A probe's checkpointed values with every ProbeState field: the channels its run never wrote
    (a probe that failed before its first round has no `rounds`) at their defaults."""
    return {**asdict(ProbeState()), **values}


def best_round(rounds: list[RoundRecord]) -> RoundRecord | None:
    """The round with the fewest rejections (an accepted one has none), then the most divergent
    grounded one."""
    if not rounds:
        return None
    return max(rounds, key=lambda r: (-len(r.rejections), r.grounded, r.divergence))
