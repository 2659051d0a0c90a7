"""The probe graph with scripted fake chat models: routing, feedback, grounding, subgraph use."""

from __future__ import annotations

import json
import operator
import re
from dataclasses import dataclass, field, fields
from typing import Annotated

import pytest
from conftest import (
    LEASE_ANSWER,
    LEASE_EXPERT,
    ReadingChat,
    critic_json,
    expert_json,
    lease_questions,
    question_json,
    scripted,
)
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from advqa.agents import ListTracer
from advqa.graph import (
    ProbeContext,
    ProbeInput,
    ProbeOutput,
    ProbeSettings,
    ProbeState,
    RoundRecord,
    build_probe_graph,
    probe_context,
    probe_graph,
)
from advqa.retrieval import IndexRetriever

CRITIC_LOW = critic_json(0.2, feedback="ask about the fee exception", reason="close")
CRITIC_HIGH = critic_json(0.9, reason="far apart")
EXPERT = LEASE_EXPERT


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
    return lease_questions(n)


def test_accepted_on_round_k(small_index):
    tracer = ListTracer()
    out = run_probe(
        small_index, questioner=scripted(*questions(3)), student=scripted("A fee is always due."),
        expert=scripted(EXPERT), critic=scripted(CRITIC_LOW, CRITIC_HIGH),
        settings=ProbeSettings(scorer="judge", threshold=0.5, max_rounds=3), tracer=tracer,
    )
    assert out["outcome"] == "accepted"
    assert [r.number for r in out["rounds"]] == [1, 2]
    assert out["rounds"][0].rejections == ["below_threshold"]
    assert out["best_round"] == 2
    assert out["rounds"][1].divergence == pytest.approx(0.9)
    assert out["rounds"][1].grounding_method == "facts"
    assert out["rounds"][1].roundtrip["agree"] and out["rounds"][1].intended_answer == LEASE_ANSWER
    # The question names its contract; the student's failure is measured by sampling it.
    assert out["rounds"][1].question.startswith("Under the Equipment Lease")
    assert out["rounds"][1].student_failure == 1.0 and out["rounds"][1].failure_method == "samples"
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
    ungrounded = expert_json("The moon is made of cheese and pays no rent.", ("P1", "The moon is cheese"))
    tracer = ListTracer()
    out = run_probe(
        small_index, questioner=scripted(*questions(2)), student=scripted("A fee is due."),
        expert=scripted(ungrounded), critic=scripted(CRITIC_HIGH),
        settings=ProbeSettings(scorer="judge", max_rounds=2), tracer=tracer,
    )
    assert out["outcome"] == "exhausted"
    assert all(not r.grounded and "roundtrip_disagree" in r.rejections for r in out["rounds"])
    # An unsound round is not shown to the critic at all.
    assert all(r.verdict_parsed_with == "skipped" for r in out["rounds"])
    assert not [e for e in tracer.events if e["kind"] == "model_call" and e["role"] == "critic"]


def test_fabricated_citation_does_not_ground(small_index):
    out = run_probe(
        small_index, questioner=scripted(*questions(1)), student=scripted("A fee is due."),
        expert=scripted(expert_json("The sky is green [P9].")), critic=scripted(CRITIC_HIGH),
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
    assert json.loads(questions(2)[0])["question"] in prompts[1]  # the last question, with its feedback


def test_a_disagreeing_expert_is_a_defect_of_the_question(small_index):
    tracer = ListTracer()
    other = expert_json("The Lessee gives ninety days' written notice to end the lease early.",
                        ("P1", "giving ninety days' written notice"))
    out = run_probe(
        small_index, questioner=scripted(*questions(2)), student=scripted("No fee."),
        expert=scripted(other), critic=scripted(CRITIC_HIGH),
        settings=ProbeSettings(max_rounds=2), tracer=tracer,
    )
    first = out["rounds"][0]
    assert first.grounded and not first.roundtrip["agree"]
    assert "roundtrip_disagree" in first.rejections
    assert first.feedback.startswith("Defect of the question")
    prompts = [e["prompt"] for e in tracer.events if e["kind"] == "model_call" and e["role"] == "questioner"]
    assert "Defect of the question" in prompts[1]


def test_unparseable_verdict_falls_back_to_code_scorers(small_index):
    tracer = ListTracer()
    out = run_probe(
        small_index, questioner=scripted(*questions(1)), student=scripted("A fee is always due."),
        expert=scripted(EXPERT), critic=scripted("I like turtles."),
        settings=ProbeSettings(max_rounds=1), tracer=tracer,
    )
    record = out["rounds"][0]
    assert record.verdict_parsed_with == "none"
    assert record.scores["judge"] is None
    assert record.scorer.startswith("combined(") and "judge" not in record.scorer
    assert "failure" in record.scorer and "embedding" in record.scorer
    critic_calls = [e for e in tracer.events if e["kind"] == "model_call" and e["role"] == "critic"]
    assert len(critic_calls) == 1  # no retry: an off-schema reply is recorded as such
    assert critic_calls[0]["structured"] == "prompted" and critic_calls[0]["parsed_with"] is None
    assert out["outcome"] == "accepted"  # code alone decided


def test_a_student_that_knows_the_answer_is_not_a_hard_question(small_index):
    out = run_probe(
        small_index, questioner=scripted(*questions(1)),
        student=scripted("The Lessee pays a fee equal to three monthly instalments."),
        expert=scripted(EXPERT), critic=scripted(CRITIC_HIGH), settings=ProbeSettings(max_rounds=1),
    )
    assert out["outcome"] == "exhausted"
    assert out["rounds"][0].rejections == ["student_correct"]


def test_questioner_that_never_asks_fails_the_probe(small_index):
    tracer = ListTracer()
    out = run_probe(
        small_index, questioner=scripted("Here is a statement.", question_json("No question mark", "x"),
                                         question_json("What is the capital of France?", "Paris")),
        student=scripted("x"), expert=scripted(EXPERT), critic=scripted(CRITIC_HIGH),
        settings=ProbeSettings(question_attempts=3), tracer=tracer,
    )
    assert out["outcome"] == "failed"
    assert "no usable question" in out["failure"]
    assert out["rounds"] == []
    assert out["question_rejections"] == ["question_unparsed", "question_unparsed", "question_off_passage"]
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


def says(answer: str, quote: str = "") -> ReadingChat:
    """An expert replying `answer`, quoting `quote` from whichever passage of its prompt holds it
    (P1 when none does)."""
    def reply(prompt: str) -> str:
        blocks = re.findall(r'<passage id="(P\d+)"[^>]*>\n(.*?)\n</passage>', prompt, re.S)
        label = next((label for label, text in blocks if quote and quote in " ".join(text.split())), "P1")
        return expert_json(answer, *([(label, quote)] if quote else []))
    return ReadingChat(reply=reply, name=f"says:{answer}:{quote}")


FEE_QUOTE = "paying a fee equal to three monthly instalments"
FEE = "The Lessee pays a fee equal to three monthly instalments."
# Each reason a round is rejected for, and a scripted round that reaches it: the expert's reply,
# the student's replies (its answer, then three samples), the critic's reply and settings.
# (other_document is not here: the expert node drops other documents' passages before the expert
# sees them; check_grounding's own test in test_parsing.py reaches it.)
ROUND_REASONS = {
    "expert_unparsed": dict(expert=scripted("I like turtles.")),
    "abstained": dict(expert=says("not answerable from the documents")),
    "no_claim": dict(expert=says("Yes.", FEE_QUOTE)),
    "no_citation": dict(expert=says(FEE)),
    "quote_not_found": dict(expert=says(FEE, "paying a fee equal to four monthly instalments")),
    "fact_not_in_passage": dict(expert=says("The Lessee pays a fee equal to five monthly instalments.",
                                            FEE_QUOTE)),
    "term_not_in_passage": dict(expert=says("The Lessee pays a fee equal to three monthly instalments under "
                                            "the Master Rental Schedule.", FEE_QUOTE)),
    "sentence_unsupported": dict(expert=says(FEE + " The Lessor must also repaint the equipment every "
                                             "winter at the Lessee's cost.", FEE_QUOTE)),
    "off_topic": dict(expert=says("The Lessor maintains the equipment at its own cost.",
                                  "The Lessor maintains the equipment at its own cost")),
    "roundtrip_disagree": dict(expert=says("The Lessee gives ninety days' written notice to end the lease "
                                           "early.", "giving ninety days' written notice")),
    "critic_inconsistent": dict(critic=critic_json(0.9, consistent=False),
                                settings=ProbeSettings(max_rounds=1, critic_veto=True)),
    "student_correct": dict(student=scripted(FEE)),
    "student_not_failing": dict(student=scripted("No fee.", FEE, FEE, FEE)),
    "below_threshold": dict(critic=critic_json(0.1), settings=ProbeSettings(scorer="judge", max_rounds=1)),
}


@pytest.mark.parametrize("reason", list(ROUND_REASONS))
def test_each_round_rejection_reason_is_reached(small_index, reason):
    script = ROUND_REASONS[reason]
    graph = build_probe_graph(
        questioner=scripted(*questions(1)), student=script.get("student", scripted("No fee is ever due.")),
        expert=script.get("expert", scripted(EXPERT)), critic=scripted(script.get("critic", CRITIC_HIGH)),
        retriever=IndexRetriever(index=small_index, k=3),
        settings=script.get("settings", ProbeSettings(max_rounds=1)), embedder=small_index.embedder)
    out = graph.compile().invoke(ProbeState(probe_id="p1", seed=seed_of(small_index)))
    assert out["outcome"] == "exhausted"
    assert reason in out["rounds"][0].rejections, out["rounds"][0].rejections


QUESTION_REASONS = {
    "question_unparsed": "Here is a statement.",
    "not_a_question": question_json("Which fee applies?", LEASE_ANSWER),
    "question_not_standalone": question_json("What fee does this clause make the Lessee pay to end early?",
                                             LEASE_ANSWER),
    "question_off_passage": question_json("What is the capital of France?", "Paris"),
    "question_vague": question_json("What does the Lessee pay?", LEASE_ANSWER),
    "answer_not_in_passage": question_json("What fee does the Lessee pay to end the lease early?",
                                           "a fee of 500 euros"),
}


@pytest.mark.parametrize("reason", list(QUESTION_REASONS))
def test_each_question_rejection_reason_is_reached(small_index, reason):
    out = run_probe(small_index, questioner=scripted(QUESTION_REASONS[reason]), student=scripted("x"),
                    expert=scripted(EXPERT), critic=scripted(CRITIC_HIGH),
                    settings=ProbeSettings(question_attempts=1))
    assert out["outcome"] == "failed" and out["question_rejections"] == [reason]


def test_a_repeated_question_is_rejected_and_a_seed_without_sentences_fails(small_index):
    first = questions(1)[0]
    out = run_probe(small_index, questioner=scripted(first, first), student=scripted("No fee."),
                    expert=scripted(EXPERT), critic=scripted(CRITIC_LOW),
                    settings=ProbeSettings(scorer="judge", max_rounds=2, question_attempts=1))
    assert out["outcome"] == "failed" and out["question_rejections"] == ["question_repeated"]
    graph = build_probe_graph(
        questioner=scripted(first), student=scripted("x"), expert=scripted(EXPERT),
        critic=scripted(CRITIC_HIGH), retriever=IndexRetriever(index=small_index, k=3),
        embedder=small_index.embedder)
    heading = seed_of(small_index)
    heading = type(heading)(heading.id, heading.document, "# Equipment Lease", 0, 17, 1.0)
    out = graph.compile().invoke(ProbeState(probe_id="p2", seed=heading))
    assert out["outcome"] == "failed" and out["question_rejections"] == ["no_focus"]


def test_compiled_graph_takes_its_models_from_the_run_context(small_index):
    """One compiled graph, two runs with different contexts: each run's nodes use its own models
    and settings (LangGraph's runtime context, not anything bound at build time)."""
    app = probe_graph().compile()
    retriever = IndexRetriever(index=small_index, k=3)

    def context(critic_reply, tracer):
        return probe_context(questioner=scripted(*questions(1)), student=scripted("A fee is always due."),
                             expert=scripted(EXPERT), critic=scripted(critic_reply), retriever=retriever,
                             settings=ProbeSettings(scorer="judge", max_rounds=1),
                             embedder=small_index.embedder, tracer=tracer)

    high, low = ListTracer(), ListTracer()
    seed = seed_of(small_index)
    accepted = app.invoke(ProbeInput(probe_id="high", seed=seed), context=context(CRITIC_HIGH, high))
    exhausted = app.invoke(ProbeInput(probe_id="low", seed=seed), context=context(CRITIC_LOW, low))
    assert accepted["outcome"] == "accepted" and exhausted["outcome"] == "exhausted"
    assert {e["probe"] for e in high.events} == {"high"} and {e["probe"] for e in low.events} == {"low"}
    assert set(accepted) <= {f.name for f in fields(ProbeOutput)}  # the output schema, not the whole state
    with pytest.raises(AttributeError):  # no context, nothing bound: the nodes have no models
        app.invoke(ProbeInput(probe_id="none", seed=seed_of(small_index)))


@dataclass
class ContextParentState:
    """A parent workflow that runs the probe graph as a node under its own ProbeContext."""

    probe_id: str = ""
    topic: str = ""
    rounds: Annotated[list[RoundRecord], operator.add] = field(default_factory=list)
    outcome: str = ""
    checked: bool = False


def test_probe_graph_as_subgraph_reads_the_parents_context(small_index):
    tracer = ListTracer()
    context = probe_context(questioner=scripted(*questions(1)), student=scripted("A fee is always due."),
                            expert=scripted(EXPERT), critic=scripted(CRITIC_HIGH),
                            retriever=IndexRetriever(index=small_index, k=3),
                            settings=ProbeSettings(scorer="judge", max_rounds=1),
                            embedder=small_index.embedder, tracer=tracer)

    def check(state: ContextParentState, runtime: Runtime[ProbeContext]) -> dict:
        return {"checked": runtime.context.settings.max_rounds == len(state.rounds)}

    parent = StateGraph(ContextParentState, context_schema=ProbeContext)
    parent.add_node("probe", probe_graph().compile())
    parent.add_node(check)
    parent.add_edge(START, "probe")
    parent.add_edge("probe", "check")
    parent.add_edge("check", END)
    out = parent.compile().invoke(ContextParentState(probe_id="t", topic="early termination fee"),
                                  context=context)
    assert out["outcome"] == "accepted" and out["checked"]
    assert any(e["kind"] == "route" and e["probe"] == "t" for e in tracer.events)


LIABILITY = "Neither party is liable for loss of profits or any indirect loss arising from this Agreement."
FORCE_MAJEURE = "Neither party is liable for delay caused by events beyond its reasonable control."


def _liability_contract(embedder, tmp_path, rival: bool):
    """An NDA whose liability clause is the seed (with the force majeure clause when `rival`):
    its index retriever and the seed passage."""
    from advqa.retrieval import Passage, build_index, load_index

    docs = tmp_path / "docs"
    docs.mkdir()
    filler = " ".join(f"The heading {word} is there for convenience only." for word in (
        "Scope", "Records", "Audit", "Notices", "Waiver", "Counterparts", "Headings", "Language"))
    text = f"# Mutual NDA\n\n1. Liability. {LIABILITY}\n\n{filler}\n\n"
    text += f"9. Force majeure. {FORCE_MAJEURE}\n" if rival else ""
    (docs / "nda.md").write_text(text, encoding="utf-8")
    build_index(docs, tmp_path / "index", embedder=embedder, max_tokens=60, overlap_tokens=10)
    index = load_index(tmp_path / "index", embedder=embedder)
    chunk = next(c for c in index.chunks_of("nda.md") if "loss of profits" in c.text)
    return IndexRetriever(index=index, k=3), Passage(chunk.id, chunk.document, chunk.text, chunk.start,
                                                    chunk.end, 1.0)


LIABILITY_ANSWER = "loss of profits or any indirect loss arising from this Agreement"


@pytest.mark.parametrize("rival", [True, False])
def test_an_extractive_question_that_another_sentence_fits_is_ambiguous(embedder, tmp_path, rival):
    # "Neither party is liable for what?" has two answers in a contract with a force majeure clause
    # (the demo's software licence, 13.3 and 16.3). An expert that picks the question's own sentence
    # cannot show that: the round trip holds, and code finds the rival in the contract.
    retriever, seed = _liability_contract(embedder, tmp_path, rival)
    tracer = ListTracer()
    graph = build_probe_graph(
        questioner=scripted(question_json("Neither party is liable for what?", LIABILITY_ANSWER)),
        student=scripted("No idea."), critic=scripted(CRITIC_HIGH),
        expert=ReadingChat(reply=lambda prompt: expert_json(LIABILITY if LIABILITY in prompt else "none")),
        retriever=retriever, tracer=tracer, embedder=embedder,
        settings=ProbeSettings(form="extractive", max_rounds=1, answer_candidates=2))
    first = graph.compile().invoke(ProbeState(probe_id="p1", seed=seed))["rounds"][0]
    assert first.grounded and first.roundtrip["agree"]
    assert ("question_ambiguous" in first.rejections) is rival, first.rejections
    if rival:
        assert FORCE_MAJEURE in first.feedback and first.feedback.startswith("Defect of the question")
        assert not [e for e in tracer.events if e["kind"] == "model_call" and e["role"] == "critic"]


def test_one_expert_candidate_is_the_answer_without_a_model_call(embedder, tmp_path):
    # With answer_candidates = 1 the expert could only copy the closest sentence: no call is made,
    # and the trace says the answer was retrieved.
    retriever, seed = _liability_contract(embedder, tmp_path, rival=False)
    tracer = ListTracer()
    expert = ReadingChat(reply=lambda prompt: expert_json("none"))
    graph = build_probe_graph(
        questioner=scripted(question_json("Neither party is liable for what?", LIABILITY_ANSWER)),
        student=scripted("No idea."), critic=scripted(CRITIC_HIGH), expert=expert,
        retriever=retriever, tracer=tracer, embedder=embedder,
        settings=ProbeSettings(form="extractive", max_rounds=1, answer_candidates=1))
    first = graph.compile().invoke(ProbeState(probe_id="p1", seed=seed))["rounds"][0]
    assert expert.calls == 0
    assert first.expert_answer == LIABILITY and first.grounded and first.roundtrip["agree"]
    retrieved = [e for e in tracer.events if e["kind"] == "expert_answer_retrieved"]
    assert [(e["answer"], e["round"]) for e in retrieved] == [(LIABILITY, 1)]
    assert first.expert_quotes and first.expert_quotes[0][1] == LIABILITY
