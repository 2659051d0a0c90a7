"""One probe of two rounds on the real bundled model and embedder (runs in CI)."""

from __future__ import annotations

import pytest

from advqa.agents import ListTracer
from advqa.graph import ProbeSettings, ProbeState, build_probe_graph
from advqa.models import load_chat_model
from advqa.retrieval import IndexRetriever, Passage

pytestmark = pytest.mark.integration


def test_two_round_probe_with_bundled_models(small_index):
    model = load_chat_model("bundled:smollm2-135m")
    tracer = ListTracer()
    # threshold 1.0 and max 2 rounds: the probe runs its two rounds unless a round is a
    # perfect, grounded divergence.
    settings = ProbeSettings(threshold=1.0, max_rounds=2, k=2,
                             max_tokens={"questioner": 48, "student": 48, "expert": 64, "critic": 64})
    graph = build_probe_graph(questioner=model, student=model, expert=model, critic=model,
                              retriever=IndexRetriever(index=small_index, k=2), settings=settings,
                              tracer=tracer, embedder=small_index.embedder)
    chunk = small_index.chunks_of("services.md")[0]
    seed = Passage(chunk.id, chunk.document, chunk.text, chunk.start, chunk.end, 1.0)
    out = graph.compile().invoke(ProbeState(probe_id="it", seed=seed))

    if out["outcome"] == "failed":  # the 135M questioner may never write a question
        assert "no usable question" in out["failure"]
        return
    assert out["outcome"] in ("accepted", "exhausted")
    assert 1 <= len(out["rounds"]) <= 2
    for record in out["rounds"]:
        assert record.question.endswith("?")
        assert record.student_answer and record.expert_answer
        assert 0.0 <= record.divergence <= 1.0
        assert record.scores["embedding"] is not None
        assert seed.id in [p.id for p in record.passages]
    calls = [e for e in tracer.events if e["kind"] == "model_call"]
    assert {"questioner", "student", "expert", "critic"} <= {e["role"] for e in calls}
    assert all(e["output_tokens"] > 0 and not e["tokens_estimated"] for e in calls)
    if len(out["rounds"]) == 2:
        second_questioner = [e for e in calls if e["role"] == "questioner" and e["round"] == 2]
        assert out["rounds"][0].feedback.split()[0] in second_questioner[0]["prompt"]
