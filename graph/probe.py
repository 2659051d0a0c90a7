"""Build the probe graph: retrieve -> questioner -> (student || expert) -> critic -> route."""

from __future__ import annotations

from functools import partial
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.retrievers import BaseRetriever
from langgraph.graph import END, START, StateGraph

from ..agents import NullTracer, PromptSet, ResponseCache, Tracer, load_prompts
from ..models import ModelSpec, load_chat_model
from ..retrieval import Embedder, IndexRetriever
from . import nodes
from .settings import ProbeSettings
from .state import ProbeState


def build_probe_graph(*, questioner: ModelSpec | BaseChatModel,
                      student: ModelSpec | BaseChatModel, expert: ModelSpec | BaseChatModel,
                      critic: ModelSpec | BaseChatModel, retriever: BaseRetriever,
                      settings: ProbeSettings | None = None, prompts: PromptSet | None = None,
                      tracer: Tracer | None = None, embedder: Any = None,
                      cache: ResponseCache | None = None) -> StateGraph:
    """Return the uncompiled probe StateGraph over `ProbeState`.

    Each role is a LangChain chat model or a model spec string. `retriever` is advqa's
    IndexRetriever or any LangChain BaseRetriever. Compile it with your own checkpointer, or
    add it as a node of a parent graph whose state shares ProbeState's input/output fields.
    `embedder` (for the embedding scorer and the grounding check) defaults to the index's
    embedder, else `settings.embedding_model` (the bundled all-MiniLM-L6-v2). With `cache`, a
    model call made before (same model, prompt, parameters) is answered from it.
    """
    settings = settings or ProbeSettings()
    if embedder is None:
        embedder = (retriever.index.embedder if isinstance(retriever, IndexRetriever)
                    else Embedder(settings.embedding_model))
    deps = nodes.ProbeDeps(
        questioner=load_chat_model(questioner), student=load_chat_model(student),
        expert=load_chat_model(expert), critic=load_chat_model(critic), retriever=retriever,
        embedder=embedder, prompts=prompts or load_prompts(), tracer=tracer or NullTracer(),
        settings=settings, cache=cache,
    )
    graph = StateGraph(ProbeState)
    for name in ("retrieve", "questioner", "student", "expert", "critic", "route"):
        graph.add_node(name, partial(getattr(nodes, name), deps=deps))
    graph.add_edge(START, "retrieve")
    graph.add_conditional_edges("retrieve", nodes.after_retrieve,
                                {"questioner": "questioner", "end": END})
    graph.add_conditional_edges("questioner", nodes.after_questioner,
                                {"student": "student", "expert": "expert", "end": END})
    graph.add_edge(["student", "expert"], "critic")
    graph.add_edge("critic", "route")
    graph.add_conditional_edges("route", nodes.after_route, {"questioner": "questioner", "end": END})
    return graph
