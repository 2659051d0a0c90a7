"""The questioner: writes one self-contained question about a seed passage."""

from __future__ import annotations

from dataclasses import dataclass

from langchain_core.language_models.chat_models import BaseChatModel

from ..retrieval import Passage
from .calls import CallContext, invoke_model
from .passages import document_name, format_seed
from .prompts import PromptSet
from .questions import extract_question

RETRY_TEMPERATURE = 0.7


@dataclass
class QuestionAttempt:
    question: str | None
    failure: str
    attempts: int
    input_tokens: int
    output_tokens: int


def ask_question(model: BaseChatModel, prompts: PromptSet, ctx: CallContext, *, seed: Passage,
                 guidance: str = "", feedback: str = "", accepted_questions: list[str] = (),
                 previous_questions: list[str] = (), attempts: int = 3,
                 base_seed: int = 0, max_tokens: int | None = None) -> QuestionAttempt:
    """Ask for a question, validating it by code; retry with a varied seed up to `attempts` times."""
    prompt = prompts.render(
        "questioner",
        document=document_name(seed),
        passage=format_seed(seed),
        guidance=guidance.strip() or "any clause that needs careful interpretation",
        feedback=feedback.strip() or "none yet (this is the first question)",
        accepted_questions="; ".join(accepted_questions) or "none",
    )
    reasons = []
    tokens_in = tokens_out = 0
    for attempt in range(1, attempts + 1):
        # The first try uses the model's defaults (greedy for local models); retries sample.
        options = {} if attempt == 1 else {"temperature": RETRY_TEMPERATURE,
                                           "seed": base_seed + 1000 * attempt + ctx.round}
        result = invoke_model("questioner", model, prompt, ctx, attempt=attempt,
                              max_tokens=max_tokens, **options)
        tokens_in += result.input_tokens
        tokens_out += result.output_tokens
        question, why = extract_question(result.text, [*previous_questions, *accepted_questions],
                                         passage=seed.text)
        if question:
            return QuestionAttempt(question, "", attempt, tokens_in, tokens_out)
        reasons.append(f"attempt {attempt}: {why}")
    return QuestionAttempt(None, "questioner produced no usable question (" + "; ".join(reasons) + ")",
                           attempts, tokens_in, tokens_out)
