"""The expert: answers from retrieved passages, quoting the words it relies on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from langchain_core.language_models.chat_models import BaseChatModel

from ..retrieval import Passage
from .calls import CallContext, invoke_model
from .passages import format_passages
from .prompts import PromptSet
from .schemas import ExpertReply, expert_schema


@dataclass
class ExpertAnswer:
    """The expert's reply: its answer, the passages it cites (P1..) and the quotes it gives."""

    text: str  # the answer ("" when the reply did not follow the schema)
    cited: list[str] = field(default_factory=list)
    quotes: list[tuple[str, str]] = field(default_factory=list)  # (passage label, quoted words)
    parsed: bool = True


def answer_as_expert(model: BaseChatModel, prompts: PromptSet, ctx: CallContext, question: str,
                     passages: Sequence[Passage], max_tokens: int | None = None) -> ExpertAnswer:
    prompt = prompts.render("expert", question=question, passages=format_passages(passages))
    result = invoke_model("expert", model, prompt, ctx, max_tokens=max_tokens, reply=ExpertReply,
                          schema=expert_schema(len(passages)))
    reply = result.reply
    if reply is None:
        return ExpertAnswer("", parsed=False)
    quotes = [(q.passage, q.text) for q in reply.quotes]
    cited = list(dict.fromkeys(label for label, _ in quotes))
    return ExpertAnswer(reply.answer.strip(), cited, quotes)
