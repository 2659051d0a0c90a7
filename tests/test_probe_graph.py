"""The probe graph with scripted fake chat models: routing, feedback, grounding, subgraph use."""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Annotated

import pytest
from conftest import scripted
from langgraph.graph import END, START, StateGraph

from advqa.agents import ListTracer
from advqa.graph import ProbeSettings, ProbeState, RoundRecord, build_probe_graph
from advqa.retrieval import IndexRetriever

CRITIC_LOW = "Divergence: 0.2\nGrounded: yes\nFeedback: ask about the fee exception\nReason: close"
CRITIC_HIGH = "Divergence: 0.9\nGrounded: yes\nFeedback: none\nReason: far apart"
EXPERT = "No fee is payable when the Lessor is in material breach [P1]."


def seed_of(index, document="lease.md"):
    chunk = next(c for c in index.chunks_of(document) if "Early termination" in c.text)
    from advqa.retrieval import Passage
    return Passage(chunk.id, chunk.document, chunk.text, chunk.start, chunk.end, 1.0)


def run_probe(index, *, questioner, student, expert, critic, settings=None, tracer=None):
    graph = build_probe_graph(
        questioner=questioner, student=student, expert=expert, critic=critic,
        retriever=IndexRetriever(index=index, k=3), settings=settings or ProbeSettings(),
        tracer=tracer, embedder=index.embedder,
    )
    app = graph.compile()
    return app.invoke(ProbeState(probe_id="p1", seed=seed_of(index)))


def questions(n):
    return [f"Under the Equipment Lease, what happens in case number {i} of early termination?"
            for i in range(1, n + 1)]


def test_accepted_on_round_k(small_index):
    tracer = ListTracer()
    out = run_probe(
        small_index, questioner=scripted(*questions(3)), student=scripted("A fee is always due."),
        expert=scripted(EXPERT), critic=scripted(CRITIC_LOW, CRITIC_HIGH),
        settings=ProbeSettings(scorer="judge", threshold=0.5, max_rounds=3), tracer=tracer,
    )
    assert out["outcome"] == "accepted"
    assert [r.number for r in out["rounds"]] == [1, 2]
    assert out["best_round"] == 2
    assert out["rounds"][1].divergence == pytest.approx(0.9)
    assert out["rounds"][1].grounding_method == "citation"
    roles = {e["role"] for e in tracer.events if e["kind"] == "model_call"}
    assert roles == {"questioner", "student", "expert", "critic"}


def test_exhausted_after_max_rounds(small_index):
    out = run_probe(
        small_index, questioner=scripted(*questions(2)), student=scripted("No fee."),
        expert=scripted(EXPERT), critic=scripted(CRITIC_LOW),
        settings=ProbeSettings(scorer="judge", max_rounds=2),
    )
    assert out["outcome"] == "exhausted"
    assert len(out["rounds"]) == 2
    assert out["best_round"] in (1, 2)


def test_high_divergence_but_ungrounded_is_not_accepted(small_index):
    ungrounded = "The moon is made of cheese and pays no rent."
    out = run_probe(
        small_index, questioner=scripted(*questions(2)), student=scripted("A fee is due."),
        expert=scripted(ungrounded), critic=scripted(CRITIC_HIGH),
        settings=ProbeSettings(scorer="judge", max_rounds=2),
    )
    assert out["outcome"] == "exhausted"
    assert all(r.divergence >= 0.9 and not r.grounded for r in out["rounds"])
    # The critic claimed "Grounded: yes"; that claim is recorded but does not count.
    assert out["rounds"][0].critic_grounded is True


def test_fabricated_citation_does_not_ground(small_index):
    out = run_probe(
        small_index, questioner=scripted(*questions(1)), student=scripted("A fee is due."),
        expert=scripted("The sky is green [P9]."), critic=scripted(CRITIC_HIGH),
        settings=ProbeSettings(scorer="judge", max_rounds=1),
    )
    record = out["rounds"][0]
    assert not record.grounded
    assert record.fabricated_citations == ["P9"]


def test_critic_feedback_reaches_next_questioner(small_index):
    tracer = ListTracer()
    run_probe(
        small_index, questioner=scripted(*questions(2)), student=scripted("No fee."),
        expert=scripted(EXPERT), critic=scripted(CRITIC_LOW),
        settings=ProbeSettings(scorer="judge", max_rounds=2), tracer=tracer,
    )
    prompts = [e["prompt"] for e in tracer.events
               if e["kind"] == "model_call" and e["role"] == "questioner"]
    assert len(prompts) == 2
    assert "ask about the fee exception" not in prompts[0]
    assert "ask about the fee exception" in prompts[1]
    assert questions(2)[0] in prompts[1]  # the last question is shown with its feedback


def test_unparseable_verdict_falls_back_to_code_scorers(small_index):
    tracer = ListTracer()
    out = run_probe(
        small_index, questioner=scripted(*questions(1)), student=scripted("Yes, always."),
        expert=scripted("No. " + EXPERT), critic=scripted("I like turtles.", "Still turtles."),
        settings=ProbeSettings(max_rounds=1), tracer=tracer,
    )
    record = out["rounds"][0]
    assert record.verdict_parsed_with == "none"
    assert record.scores["judge"] is None
    assert record.scores["verdict"] == 1.0  # "Yes" against "No"
    assert record.scorer.startswith("combined(") and "judge" not in record.scorer
    assert "verdict" in record.scorer and "embedding" in record.scorer
    assert "contract-based answer" in record.feedback  # code-written feedback
    critic_calls = [e for e in tracer.events if e["kind"] == "model_call" and e["role"] == "critic"]
    assert len(critic_calls) == 2  # one retry
    judgement = next(e for e in tracer.events if e["kind"] == "judgement")
    assert "could not be parsed" in judgement["note"]


def test_questioner_that_never_asks_fails_the_probe(small_index):
    tracer = ListTracer()
    out = run_probe(
        small_index, questioner=scripted("Here is a statement.", "Still no question", "Nope."),
        student=scripted("x"), expert=scripted(EXPERT), critic=scripted(CRITIC_HIGH),
        settings=ProbeSettings(question_attempts=3), tracer=tracer,
    )
    assert out["outcome"] == "failed"
    assert "no usable question" in out["failure"]
    assert out["rounds"] == []
    calls = [e for e in tracer.events if e["kind"] == "model_call"]
    assert [e["attempt"] for e in calls] == [1, 2, 3]
    assert {e["role"] for e in calls} == {"questioner"}
    assert any(e["kind"] == "probe_failed" for e in tracer.events)


@dataclass
class ParentState:
    """A parent workflow that embeds the probe graph as one node."""

    probe_id: str = ""
    topic: str = ""
    rounds: Annotated[list[RoundRecord], operator.add] = field(default_factory=list)
    outcome: str = ""
    summary: str = ""


def test_probe_graph_as_subgraph_node(small_index):
    probe = build_probe_graph(
        questioner=scripted(*questions(1)), student=scripted("A fee is always due."),
        expert=scripted(EXPERT), critic=scripted(CRITIC_HIGH),
        retriever=IndexRetriever(index=small_index, k=3),
        settings=ProbeSettings(scorer="judge", max_rounds=1), embedder=small_index.embedder,
    ).compile()

    def summarise(state: ParentState) -> dict:
        return {"summary": f"{state.outcome} after {len(state.rounds)} round(s)"}

    parent = StateGraph(ParentState)
    parent.add_node("probe", probe)
    parent.add_node("summarise", summarise)
    parent.add_edge(START, "probe")
    parent.add_edge("probe", "summarise")
    parent.add_edge("summarise", END)
    out = parent.compile().invoke(ParentState(probe_id="t", topic="early termination fee"))
    assert out["outcome"] == "accepted"
    assert out["summary"] == "accepted after 1 round(s)"
    assert out["rounds"][0].passages[0].document == "lease.md"
