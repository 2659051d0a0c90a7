"""Build the probe graph: retrieve -> questioner -> (student || expert) -> critic -> route."""

from __future__ import annotations

from collections.abc import Callable
from inspect import signature
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from ..agents import PromptSet, ResponseCache, Tracer
from ..models import ModelSpec
from . import nodes
from .context import ProbeContext, probe_context
from .settings import ProbeSettings
from .state import ProbeInput, ProbeOutput, ProbeState

NODES = (nodes.retrieve, nodes.questioner, nodes.student, nodes.expert, nodes.critic, nodes.route)


def probe_graph(context: Callable[[Any], ProbeContext] | None = None,
                context_schema: type = ProbeContext) -> StateGraph:
    """The uncompiled probe StateGraph, its nodes reading a ProbeContext from LangGraph's runtime.

    Pass the context per run (`app.invoke(ProbeInput(...), config, context=ctx)`); a parent graph
    whose run has a ProbeContext hands it to this graph when it is one of its nodes. With
    `context`, a function, the nodes use `context(run's context)` instead (the run's context is
    None when it brings none, else of `context_schema`): build_probe_graph binds a context built
    up front, Studio builds one from the settings in its configuration panel.
    """
    graph = StateGraph(ProbeState, context_schema=context_schema, input_schema=ProbeInput,
                       output_schema=ProbeOutput)
    for node in NODES:
        graph.add_node(node.__name__, node if context is None else _with_context(node, context))
    graph.add_edge(START, "retrieve")
    graph.add_conditional_edges("retrieve", nodes.after_retrieve,
                                {"questioner": "questioner", "end": END})
    graph.add_conditional_edges("questioner", nodes.after_questioner,
                                {"student": "student", "expert": "expert", "end": END})
    graph.add_edge(["student", "expert"], "critic")
    graph.add_edge("critic", "route")
    graph.add_conditional_edges("route", nodes.after_route, {"questioner": "questioner", "end": END})
    return graph


def build_probe_graph(*, questioner: ModelSpec | BaseChatModel,
                      student: ModelSpec | BaseChatModel, expert: ModelSpec | BaseChatModel,
                      critic: ModelSpec | BaseChatModel, retriever: BaseRetriever,
                      settings: ProbeSettings | None = None, prompts: PromptSet | None = None,
                      tracer: Tracer | None = None, embedder: Any = None,
                      cache: ResponseCache | None = None) -> StateGraph:
    """The uncompiled probe graph with its context built from these models and parts, used by
    any run that passes no context of its own (see `probe_context` for the arguments).

    Compile it with your own checkpointer, or add it as a node of a parent graph whose state
    shares ProbeState's input/output fields.
    """
    built = probe_context(questioner=questioner, student=student, expert=expert, critic=critic,
                          retriever=retriever, settings=settings, prompts=prompts, tracer=tracer,
                          embedder=embedder, cache=cache)
    return probe_graph(lambda given: given if given is not None else built)


def _with_context(node, context: Callable[[Any], ProbeContext]):
    """`node`, given the ProbeContext that `context` makes from the run's context."""
    takes_config = "config" in signature(node).parameters

    def run(state: ProbeState, config: RunnableConfig, runtime: Runtime) -> dict:
        runtime = runtime.override(context=context(runtime.context))
        return node(state, config, runtime) if takes_config else node(state, runtime)

    run.__name__, run.__doc__ = node.__name__, node.__doc__  # not functools.wraps: LangGraph would
    return run                                               # read the node's signature, not this one's
