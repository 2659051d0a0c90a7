"""The critic: judges how far the two answers diverge and says how to sharpen the question."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from langchain_core.language_models.chat_models import BaseChatModel

from ..retrieval import Passage
from .calls import CallContext, invoke_model
from .passages import format_passages
from .prompts import PromptSet
from .schemas import CriticReply


@dataclass
class Verdict:
    """What the critic said; `parsed_with` is "none" (and the fields empty) when its reply did
    not follow the schema."""

    divergence: float | None = None
    grounded: bool | None = None  # recorded, never used: grounding is decided by code
    consistent: bool | None = None  # whether the expert's answer says what was intended
    feedback: str = ""
    reason: str = ""
    parsed_with: str = "none"  # schema | tolerant | none


def judge_answers(model: BaseChatModel, prompts: PromptSet, ctx: CallContext, *, question: str,
                  student_answer: str, expert_answer: str, passages: Sequence[Passage],
                  intended_answer: str = "", max_tokens: int | None = None) -> Verdict:
    """Ask the critic for its verdict, in the critic's schema."""
    prompt = prompts.render("critic", question=question, student_answer=student_answer,
                            expert_answer=expert_answer, passages=format_passages(passages),
                            intended_answer=intended_answer or "(not given)")
    result = invoke_model("critic", model, prompt, ctx, max_tokens=max_tokens, reply=CriticReply)
    reply = result.reply
    if reply is None:
        return Verdict()
    return Verdict(reply.divergence, reply.grounded, reply.consistent, reply.feedback.strip(),
                   reply.reason.strip(), result.parsed_with)


def fallback_feedback(student_answer: str, expert_answer: str) -> str:
    """Feedback written by code when the critic's own could not be read."""
    expert = " ".join(expert_answer.split()[:60])
    student = " ".join(student_answer.split()[:40])
    return (f"The reader without the contract answered: \"{student}\". The contract-based answer "
            f"was: \"{expert}\". Ask about the specific condition, exception or number that "
            "separates the two, so that a general answer is wrong.")
