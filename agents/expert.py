"""The expert: answers from retrieved passages, citing them by label."""

from __future__ import annotations

from collections.abc import Sequence

from langchain_core.language_models.chat_models import BaseChatModel

from ..retrieval import Passage
from .calls import CallContext, CallResult, invoke_model
from .passages import format_passages
from .prompts import PromptSet


def answer_as_expert(model: BaseChatModel, prompts: PromptSet, ctx: CallContext, question: str,
                     passages: Sequence[Passage], max_tokens: int | None = None) -> CallResult:
    prompt = prompts.render("expert", question=question, passages=format_passages(passages))
    return invoke_model("expert", model, prompt, ctx, max_tokens=max_tokens)
