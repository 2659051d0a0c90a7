"""The expert: answers from retrieved passages, quoting the words it relies on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from langchain_core.language_models.chat_models import BaseChatModel

from ..retrieval import Passage
from .calls import CallContext, invoke_model
from .passages import format_passages, passage_label
from .prompts import PromptSet
from .schemas import ExpertReply, expert_schema
from .sentences import contract_sentences


@dataclass
class ExpertAnswer:
    """The expert's reply: its answer, the passages it cites (P1..) and the quotes it gives."""

    text: str  # the answer ("" when the reply did not follow the schema)
    cited: list[str] = field(default_factory=list)
    quotes: list[tuple[str, str]] = field(default_factory=list)  # (passage label, quoted words)
    parsed: bool = True


def answer_as_expert(model: BaseChatModel, prompts: PromptSet, ctx: CallContext, question: str,
                     passages: Sequence[Passage], max_tokens: int | None = None,
                     sentences: list[str] | None = None) -> ExpertAnswer:
    """The expert's answer from `passages`. With `sentences` (the extractive form: sentences of
    the passages), the answer is one of them (held by the schema), and it cites the passage that
    sentence comes from."""
    extractive = bool(sentences)
    if extractive and len(sentences) == 1:
        return _only_candidate(sentences[0], passages, ctx)
    if extractive:  # the prompt shows what it may answer with: each passage's candidate sentences
        passages = [replace(p, text=" ".join(s for s in sentences if s in _spaced(p.text))) for p in passages]
    prompt = prompts.render("expert", question=question, passages=format_passages(passages))
    result = invoke_model("expert", model, prompt, ctx, max_tokens=max_tokens, reply=ExpertReply,
                          schema=expert_schema(len(passages), sentences))
    reply = result.reply
    if reply is None:
        return ExpertAnswer("", parsed=False)
    answer = reply.answer.strip()
    quotes = [(q.passage, q.text) for q in reply.quotes]
    if extractive:
        quotes = _sentence_quote(answer, passages)
    cited = list(dict.fromkeys(label for label, _ in quotes))
    return ExpertAnswer(answer, cited, quotes)


def _sentence_quote(sentence: str, passages: Sequence[Passage]) -> list[tuple[str, str]]:
    """An extractive answer's quote: (label, sentence) of the first passage holding it, or none."""
    return [(passage_label(i), sentence) for i, p in enumerate(passages) if sentence in _spaced(p.text)][:1]


def _only_candidate(sentence: str, passages: Sequence[Passage], ctx: CallContext) -> ExpertAnswer:
    """The answer when retrieval leaves one candidate sentence: a model call could only copy it
    (ProbeSettings.answer_candidates = 1), so none is made; the trace says the answer was retrieved."""
    quotes = _sentence_quote(sentence, passages)
    ctx.tracer.record({"kind": "expert_answer_retrieved", "probe": ctx.probe_id, "round": ctx.round,
                       "role": "expert", "answer": sentence, "passage": quotes[0][0] if quotes else None})
    return ExpertAnswer(sentence, [label for label, _ in quotes], quotes)


def passage_sentences(passages: Sequence[Passage], question: str = "", embedder=None,
                      limit: int | None = None) -> list[str]:
    """The sentences of the passages (four words or more, each once), for an extractive answer;
    with an embedder, the `limit` closest to the question, closest first."""
    found: dict[str, None] = {}
    for passage in passages:
        for sentence in contract_sentences(passage.text):  # "5.2 Term If ..." -> "If ..."
            if len(sentence.split()) >= 4:
                found.setdefault(sentence)
    sentences = list(found)
    if embedder is None or not sentences:
        return sentences[:limit]
    vectors = embedder.encode([question, *sentences])
    order = sorted(range(len(sentences)), key=lambda i: -float(vectors[0] @ vectors[i + 1]))
    return [sentences[i] for i in order[:limit]]


def _spaced(text: str) -> str:
    return " ".join(text.split())
