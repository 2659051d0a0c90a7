"""Judge a round by code (grounding, round trip, the student's miss); say what the next question must fix."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..agents import Agreement, Grounding, Verdict, check_grounding, compare_answers, fallback_feedback
from ..agents.grounding import ABSTAINED, NO_CLAIM, OFF_TOPIC
from ..agents.questions import rival_sentence, strip_document
from .state import ProbeState

# Why a round is not accepted, besides the grounding check's reasons (agents/grounding.py); each
# is counted in stats.json.
EXPERT_UNPARSED = "expert_unparsed"  # the expert's reply did not follow its schema
ROUNDTRIP_DISAGREE = "roundtrip_disagree"  # the expert's answer is not the one the question intends
CRITIC_INCONSISTENT = "critic_inconsistent"  # the critic says so (ProbeSettings.critic_veto)
STUDENT_CORRECT = "student_correct"  # the student already gives the expert's answer
STUDENT_NOT_FAILING = "student_not_failing"  # its measured failure rate is under FAILURE_BAR
BELOW_THRESHOLD = "below_threshold"  # the divergence is under the threshold
QUESTION_AMBIGUOUS = "question_ambiguous"  # another sentence of the contract fits the extractive question
FAILURE_BAR = 0.5


@dataclass
class CodeChecks:
    """What code found about a round before any critic is asked."""

    grounding: Grounding
    roundtrip: Agreement  # the expert's answer against the intended one
    student: Agreement  # the student's answer against the expert's
    rejections: list[str] = field(default_factory=list)
    rival: str = ""  # a sentence of the contract that an extractive question fits as well as its own

    @property
    def valid(self) -> bool:
        """Grounded, unambiguous, and the round trip holds: the question is sound, hard or not."""
        return self.grounding.grounded and self.roundtrip.agree and not self.rival


def check_round(state: ProbeState, embedder, bar: float, rivals_in: list[str] | None = None) -> CodeChecks:
    """The expert's answer checked fact by fact against the passages it cites (of the seed's
    document), against the answer the questioner intended, and the student's against it. With
    `rivals_in` (the contract's text), an extractive question (its sentence with the answer left
    out) must fit no other sentence there: else two answers are right."""
    if state.expert_answer:
        grounding = check_grounding(
            state.expert_answer, state.passages, embedder, bar, question=state.question,
            cited=state.expert_cited, quotes=[tuple(q) for q in state.expert_quotes],
            document=state.seed.document, question_body=strip_document(state.question))
    else:
        grounding = Grounding(False, EXPERT_UNPARSED, reasons=[EXPERT_UNPARSED])
    roundtrip = compare_answers(state.intended_answer, state.expert_answer, embedder, state.question)
    student = compare_answers(state.expert_answer or state.intended_answer, state.student_answer,
                              embedder, state.question)
    rival = rival_sentence(state.focus, state.intended_answer, rivals_in) if rivals_in and state.focus else ""
    rejections = list(grounding.reasons)
    if rival:
        rejections.append(QUESTION_AMBIGUOUS)
    if not roundtrip.agree:
        rejections.append(ROUNDTRIP_DISAGREE)
    if student.agree:
        rejections.append(STUDENT_CORRECT)
    return CodeChecks(grounding, roundtrip, student, rejections, rival)


def round_feedback(rejections: list[str], state: ProbeState, verdict: Verdict, checks: CodeChecks) -> str:
    """What the questioner should change next round: a defect of the question, said by code, or
    for a sound question the student got right, the critic's feedback ("" when accepted)."""
    if not rejections:
        return ""
    first = rejections[0]
    if first == QUESTION_AMBIGUOUS:
        return (f"Defect of the question: another sentence of the contract fits it as well, "
                f"\"{checks.rival}\". Ask about a sentence whose words pick out only your answer.")
    if first in (ROUNDTRIP_DISAGREE, CRITIC_INCONSISTENT):
        why = checks.roundtrip.reason or "the critic judged them different"
        return (f"Defect of the question: you intended the answer \"{state.intended_answer}\", but a "
                f"reader of the contract answered \"{state.expert_answer}\" ({why}). The question is "
                "ambiguous or does not ask for what the sentence says: name the party, the thing and "
                "the situation so that only your answer fits.")
    if first in (STUDENT_CORRECT, STUDENT_NOT_FAILING, BELOW_THRESHOLD):
        return verdict.feedback or fallback_feedback(state.student_answer, state.expert_answer)
    if first in (EXPERT_UNPARSED, ABSTAINED, OFF_TOPIC, NO_CLAIM):
        return ("The contract's passages gave no clear answer to the question: ask about one "
                "specific statement of the sentence, in its own words.")
    missing = ", ".join(checks.grounding.missing_facts + checks.grounding.missing_terms)
    return ("The answer from the contract could not be checked against its passages"
            + (f" ({missing} not found there)" if missing else "")
            + ": ask about a fact the sentence states outright.")
