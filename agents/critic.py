"""The critic: judges how far the two answers diverge and says how to sharpen the question."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from langchain_core.language_models.chat_models import BaseChatModel

from ..retrieval import Passage
from .calls import CallContext, invoke_model
from .passages import format_passages
from .prompts import PromptSet
from .verdicts import Verdict, parse_verdict

RETRY_TEMPERATURE = 0.7


@dataclass
class CriticResult:
    verdict: Verdict
    raw: str
    attempts: int


def judge_answers(model: BaseChatModel, prompts: PromptSet, ctx: CallContext, *, question: str,
                  student_answer: str, expert_answer: str, passages: Sequence[Passage],
                  base_seed: int = 0, max_tokens: int | None = None) -> CriticResult:
    """Ask the critic for a verdict; one retry (sampling) when the reply cannot be parsed."""
    prompt = prompts.render("critic", question=question, student_answer=student_answer,
                            expert_answer=expert_answer, passages=format_passages(passages))
    raw = ""
    for attempt in (1, 2):
        options = {} if attempt == 1 else {"temperature": RETRY_TEMPERATURE,
                                           "seed": base_seed + 7919 + ctx.round}
        raw = invoke_model("critic", model, prompt, ctx, attempt=attempt, max_tokens=max_tokens,
                           **options).text
        verdict = parse_verdict(raw)
        if verdict.parsed_with != "none":
            return CriticResult(verdict, raw, attempt)
    return CriticResult(Verdict(), raw, 2)


def fallback_feedback(student_answer: str, expert_answer: str) -> str:
    """Feedback written by code when the critic's own could not be read."""
    expert = " ".join(expert_answer.split()[:60])
    student = " ".join(student_answer.split()[:40])
    return (f"The reader without the contract answered: \"{student}\". The contract-based answer "
            f"was: \"{expert}\". Ask about the specific condition, exception or number that "
            "separates the two, so that a general answer is wrong.")
