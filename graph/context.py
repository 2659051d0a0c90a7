"""The probe graph's run-time context: the models, retrieval, prompts and tracer its nodes use."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.retrievers import BaseRetriever

from ..agents import NullTracer, PromptSet, ResponseCache, Tracer, load_prompts
from ..models import ModelSpec, load_chat_model, model_label
from ..retrieval import Embedder, IndexRetriever, Passage
from ..retrieval.cards import DocumentCard, card_from_text
from .settings import ProbeSettings


@dataclass
class ProbeContext:
    """What the probe's nodes need besides the state, passed as LangGraph's run-time context
    (`app.invoke(state, config, context=...)`; nodes read it as `runtime.context`)."""

    questioner: BaseChatModel  # writes the question and the answer it intends
    student: BaseChatModel  # the model to adapt: answers the bare question
    expert: BaseChatModel  # answers from the retrieved passages, citing them
    critic: BaseChatModel  # judges how far the two answers diverge, says how to sharpen the question
    retriever: BaseRetriever  # advqa's IndexRetriever or any LangChain retriever
    embedder: Any  # advqa.retrieval.Embedder or anything with encode(texts) -> unit vectors
    prompts: PromptSet = field(default_factory=load_prompts)  # the agents' prompt files
    tracer: Tracer = field(default_factory=NullTracer)  # where every model call and decision is recorded
    settings: ProbeSettings = field(default_factory=ProbeSettings)  # threshold, rounds, k, scorer, ...
    cache: ResponseCache | None = None  # replies to calls made before (None: every call goes to the model)

    def form(self) -> str:
        """How questions and answers are written (ProbeSettings.form); "auto" is extractive when
        the questioner or the expert is a bundled model (135M parameters: it cannot write a sound
        question or answer of its own, measured in README "Accepted means right"), else free."""
        if self.settings.form != "auto":
            return self.settings.form
        bundled = any(model_label(m).startswith("bundled:") for m in (self.questioner, self.expert))
        return "extractive" if bundled else "free"

    def document_texts(self, seed: Passage) -> list[str]:
        """The text of the seed's whole document, as the index's chunks; the seed alone when the
        retriever is not advqa's index."""
        if isinstance(self.retriever, IndexRetriever):
            return [chunk.text for chunk in self.retriever.index.chunks_of(seed.document)]
        return [seed.text]

    def card_for(self, seed: Passage) -> DocumentCard:
        """How questions name the seed's document: the index's card, else one read from the seed."""
        if isinstance(self.retriever, IndexRetriever):
            return self.retriever.index.card(seed.document)
        return card_from_text(seed.text, seed.document)


def probe_context(*, questioner: ModelSpec | BaseChatModel, student: ModelSpec | BaseChatModel,
                  expert: ModelSpec | BaseChatModel, critic: ModelSpec | BaseChatModel,
                  retriever: BaseRetriever, settings: ProbeSettings | None = None,
                  prompts: PromptSet | None = None, tracer: Tracer | None = None,
                  embedder: Any = None, cache: ResponseCache | None = None) -> ProbeContext:
    """A ProbeContext from chat models or model specs (loaded here). `embedder` (for the embedding
    scorer and the grounding check) defaults to the index's embedder, else
    `settings.embedding_model` (the bundled all-MiniLM-L6-v2)."""
    settings = settings or ProbeSettings()
    if embedder is None:
        embedder = (retriever.index.embedder if isinstance(retriever, IndexRetriever)
                    else Embedder(settings.embedding_model))
    return ProbeContext(
        questioner=load_chat_model(questioner), student=load_chat_model(student),
        expert=load_chat_model(expert), critic=load_chat_model(critic), retriever=retriever,
        embedder=embedder, prompts=prompts or load_prompts(), tracer=tracer or NullTracer(),
        settings=settings, cache=cache,
    )
