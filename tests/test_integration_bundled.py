"""The real bundled model and embedder: schema-held replies, the student's failure, one whole probe."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from advqa.agents import CallContext, ListTracer, invoke_model, load_prompts, question_focuses
from advqa.agents.expert import passage_sentences
from advqa.agents.schemas import CriticReply, ExpertReply, QuestionReply, expert_schema, question_schema
from advqa.agents.student import student_failure_rate
from advqa.graph import ProbeSettings, ProbeState, build_probe_graph
from advqa.models import load_chat_model
from advqa.retrieval import IndexRetriever, Passage

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def bundled():
    return load_chat_model("bundled:smollm2-135m")


def seed_of(index, document: str, words: str) -> Passage:
    chunk = next(c for c in index.chunks_of(document) if words in c.text)
    return Passage(chunk.id, chunk.document, chunk.text, chunk.start, chunk.end, 1.0)


def test_schema_held_decoding_always_yields_valid_json(bundled, small_index):
    """Every questioner, expert and critic schema, greedy and sampled, on real prompts in one
    micro-batch: each reply is valid JSON under its schema, decoded strictly (never repaired)."""
    calls = []
    for chunk in small_index.chunks:
        for focus in question_focuses(chunk.text, chunk.id)[:2]:
            frame = focus.frame()
            calls.append((f"Write a question about: {focus.sentence}\nAnswer: {focus.answer}", QuestionReply,
                          question_schema(focus.type, answers=(focus.answer,), frame=frame,
                                          phrases=focus.question_phrases()) if frame else
                          question_schema(focus.type, answers=(focus.answer,))))
    passages = [Passage(c.id, c.document, c.text, c.start, c.end) for c in small_index.chunks[:3]]
    calls.append(("Answer from the passages: " + passages[0].text, ExpertReply, expert_schema(3)))
    calls.append(("Answer with one sentence: " + passages[0].text, ExpertReply,
                  expert_schema(3, passage_sentences(passages))))
    calls.append(("Compare answer A 'never' with answer B 'ninety days' notice'. Judge them.", CriticReply,
                  CriticReply.model_json_schema()))

    def run(call, temperature):
        prompt, reply, schema = call
        options = {"temperature": temperature, "seed": 7} if temperature else {}
        return invoke_model("schema-test", bundled, prompt, CallContext(), max_tokens=224, reply=reply,
                            schema=schema, **options)

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(run, calls * 2, [0.0] * len(calls) + [0.8] * len(calls)))
    assert len(results) >= 10
    for result in results:
        assert result.structured == "grammar"
        assert result.parsed_with == "schema", result.text
        assert result.reply is not None


def test_the_students_failure_is_measured_by_its_own_likelihoods(bundled):
    prompts = load_prompts()
    question = "In the Equipment Lease: what fee does the Lessee pay to end the lease early?"
    own = invoke_model("student", bundled, prompts.render("student", question=question), CallContext(),
                       max_tokens=48).text
    rate, method = student_failure_rate(bundled, prompts, CallContext(), question=question, own_answer=own,
                                        expert_answer="A fee equal to three monthly instalments.",
                                        embedder=None)
    assert method == "likelihood"
    assert 0.5 < rate < 1.0  # it prefers the answer it wrote itself, by some margin
    same, _ = student_failure_rate(bundled, prompts, CallContext(), question=question, own_answer=own,
                                   expert_answer=own, embedder=None)
    assert same == pytest.approx(0.5)


def test_a_probe_on_the_bundled_models(bundled, small_index):
    tracer = ListTracer()
    settings = ProbeSettings(max_rounds=2, k=2)
    graph = build_probe_graph(questioner=bundled, student=bundled, expert=bundled, critic=bundled,
                              retriever=IndexRetriever(index=small_index, k=2), settings=settings,
                              tracer=tracer, embedder=small_index.embedder)
    seed = seed_of(small_index, "services.md", "Fees")
    out = graph.compile().invoke(ProbeState(probe_id="it", seed=seed))

    assert out["outcome"] in ("accepted", "exhausted")
    assert 1 <= len(out["rounds"]) <= 2
    for record in out["rounds"]:
        # Extractive form for the bundled models: the question is a seed sentence with a question
        # phrase where its answer stood, named with its contract, and the answer is that span.
        assert record.question.startswith("In the Services Agreement") and record.question.endswith("?")
        assert record.intended_answer in " ".join(seed.text.split())
        assert record.student_answer and record.expert_answer
        assert 0.0 <= record.divergence <= 1.0
        assert seed.id in [p.id for p in record.passages]
        assert all(p.document == "services.md" for p in record.passages)
        assert record.rejections or out["outcome"] == "accepted"
    calls = [e for e in tracer.events if e["kind"] == "model_call"]
    assert {"questioner", "student"} <= {e["role"] for e in calls}
    # One expert candidate (the default): the expert's answer is the retrieved sentence, no call.
    retrieved = [e for e in tracer.events if e["kind"] == "expert_answer_retrieved"]
    assert [e["answer"] for e in retrieved] == [r.expert_answer for r in out["rounds"]]
    assert "expert" not in {e["role"] for e in calls}
    held = [e for e in calls if e["role"] != "student"]
    assert held and all(e["structured"] == "grammar" and e["parsed_with"] == "schema" for e in held)
    assert all(e["output_tokens"] > 0 and not e["tokens_estimated"] for e in calls)
    if out["outcome"] == "accepted":
        accepted = out["rounds"][-1]
        assert accepted.student_failure is not None and accepted.failure_method == "likelihood"


def test_what_a_schema_forces_is_not_generated_step_by_step(bundled):
    """A held reply's forced opening goes into the prompt and its forced ending is added once the
    grammar leaves one way to finish: the model runs far fewer steps than the reply has tokens,
    and the reply is the same JSON."""
    engine = bundled.engine
    model, _ = engine.model_and_tokenizer()
    sentences = ["The Lessee may end the lease after month twelve by giving ninety days' written notice.",
                 "The Lessor maintains the equipment at its own cost, but the Lessee pays for repairs."]
    schema = expert_schema(2, sentences)
    steps = []
    generate = model.generate

    def counted(**options):
        output = generate(**options)
        steps.append(output.shape[1] - options["input_ids"].shape[1])
        return output

    model.generate = counted
    try:
        result = invoke_model("expert", bundled, "Which sentence says who pays for repairs?\n"
                              + "\n".join(sentences), CallContext(), max_tokens=224, reply=ExpertReply,
                              schema=schema)
    finally:
        model.generate = generate
    assert result.parsed_with == "schema" and result.reply.answer in sentences
    assert result.text.startswith('{"quotes":[],"answer":"') and result.text.endswith('"}')
    assert steps and steps[0] <= result.output_tokens // 3
