"""The student: the model being adapted answers the question alone, exactly as at test time."""

from __future__ import annotations

from langchain_core.language_models.chat_models import BaseChatModel

from .calls import CallContext, CallResult, invoke_model
from .prompts import PromptSet


def answer_as_student(model: BaseChatModel, prompts: PromptSet, ctx: CallContext,
                      question: str, max_tokens: int | None = None) -> CallResult:
    return invoke_model("student", model, prompts.render("student", question=question), ctx,
                        max_tokens=max_tokens)
