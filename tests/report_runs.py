"""Run folders for the report, trace and prompt tests: scripted campaigns and synthetic runs of any size."""

from __future__ import annotations

import json
import random
import sqlite3
from functools import partial
from pathlib import Path

import tomli_w
from conftest import (
    ReadingChat,
    critic_json,
    expert_json,
    question_json,
    reading_expert,
    reading_questioner,
    scripted,
)
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph

from advqa.campaign import CampaignSettings, run_campaign
from advqa.graph import ProbeSettings, ProbeState, RoundRecord
from advqa.retrieval import Passage

CRITIC_HIGH = critic_json(0.9, feedback="fine", reason="far apart")
CRITIC_LOW = critic_json(0.1, feedback="ask about the exception", reason="close")
HOSTILE = {
    "question": "<script>window.__pwned = 1</script> Is the fee payable?",
    "answer": '<img src="x" onerror="window.__pwned = 2"> It is [P1].',
    "passage": "</script><script>window.__pwned = 3</script><!-- </details></section> <b>bold</b>",
    "document": 'evil"><svg onload="window.__pwned=4">.md',
    "feedback": "</dd></dl></div><style>body{display:none}</style>",
}
WORDS = ("the lessee lessor shall pay a fee equal to three monthly instalments on early termination after "
         "ninety days written notice except where material breach occurs liability cap twelve months "
         "confidentiality survives five years indemnity section maintenance repairs misuse invoice quarter "
         "euros advance client supplier warranty audit records insurance coverage").split()


QUESTION_OPENING = "What does the contract say about"


def scripted_models(*, accept: bool = True) -> dict:
    """Fresh models; with concurrency 1 every reply is fixed. The questioner and the expert read
    their prompts (conftest.reading_questioner, reading_expert: questions from each seed passage,
    answered from the passages with an inline [P..] citation); the critic judges low, low, high in
    turn. accept=False: it always judges low, and nothing passes."""
    return {
        "questioner": ReadingChat(reply=partial(reading_questioner, opening=QUESTION_OPENING),
                                  name="reading_questioner"),
        "student": scripted("It depends on general law."),
        "expert": ReadingChat(reply=partial(reading_expert, cite=True), name="reading_expert(cite)"),
        "critic": scripted(*((CRITIC_LOW, CRITIC_LOW, CRITIC_HIGH) if accept else (CRITIC_LOW,))),
    }


# The passages the scripted runs start from: each has a sentence to ask about (an evenly spread
# plan would pick the lease's maintenance passage, where the questioner finds nothing to ask).
SEED_FOCUS = ("When does the lease start and how long does it run?\n"
              "What does the Lessee pay to end the lease early?")
DOCUMENT_NAMES = {"lease.md": "the Equipment Lease", "services.md": "the Services Agreement"}


def scripted_run(index, run_dir: Path, *, accept: bool = True, seeds: int = 4, max_rounds: int = 2) -> dict:
    """A real campaign over `index` with scripted models; returns its stats. With the default four
    seeds (and accept=True): two probes accepted in round 1, two exhausted after two rounds."""
    settings = CampaignSettings(seeds=seeds, concurrency=1, dedup_threshold=0.999, seed_focus=SEED_FOCUS,
                                probe=ProbeSettings(scorer="judge", max_rounds=max_rounds))
    return run_campaign(index, run_dir, models=scripted_models(accept=accept), settings=settings)


def _words(rng: random.Random, count: int) -> str:
    text = " ".join(rng.choice(WORDS) for _ in range(count))
    return text[0].upper() + text[1:]


def _checkpoint(path: Path, finals: dict[str, dict]) -> None:
    """Write each probe's final state into a LangGraph SQLite checkpointer, one thread per probe."""
    connection = sqlite3.connect(str(path), check_same_thread=False)
    saver = SqliteSaver(connection, serde=JsonPlusSerializer(
        allowed_msgpack_modules=[ProbeState, RoundRecord, Passage]))
    saver.setup()

    def fill(state: ProbeState) -> dict:
        return finals[state.probe_id]

    graph = StateGraph(ProbeState)
    graph.add_node("fill", fill)
    graph.add_edge(START, "fill")
    graph.add_edge("fill", END)
    app = graph.compile(checkpointer=saver)
    try:
        for probe_id in finals:
            app.invoke(ProbeState(probe_id=probe_id), {"configurable": {"thread_id": probe_id}})
    finally:
        connection.close()


def synthetic_run(run: Path, *, probes: int = 300, rounds: int = 3, k: int = 4, documents: int = 12,
                  pool: int = 600, hostile: bool = False, all_rounds: bool = False, seed: int = 0) -> dict:
    """A run folder as a campaign writes it (config, traces, checkpoints, dataset, stats), without
    running models. Text lengths are those of real runs: questions of ~25 words, answers of ~130.
    `all_rounds`: every probe that does not fail runs all `rounds` rounds (the largest report)."""
    rng = random.Random(seed)
    run.mkdir(parents=True, exist_ok=True)
    names = [f"contract_{i:02d}.md" for i in range(documents)]
    if hostile:
        names[0] = HOSTILE["document"]
    chunks = []
    for j in range(pool):
        document = names[j % documents]
        text = _words(rng, 180)
        if hostile and j % 5 == 0:
            text = HOSTILE["passage"] + " " + text
        chunk_id = f"{document}#{j:04d}-{rng.getrandbits(32):08x}"
        chunks.append(Passage(chunk_id, document, text, 0, len(text), 1.0))
    config = {
        "campaign": {"seeds": probes, "concurrency": 2, "dedup_threshold": 0.92,
                     "guidance": "liability caps"},
        "probe": {"threshold": 0.5, "max_rounds": rounds, "k": k, "scorer": "combined"},
        "models": {r: "bundled:smollm2-135m" for r in ("questioner", "student", "expert", "critic")},
        "prompts": {r: f"advqa:{r}.txt" for r in ("questioner", "student", "expert", "critic")},
        "index": {"embedding_model": "bundled:all-minilm-l6-v2", "chunks": pool, "documents": documents},
    }
    (run / "config.toml").write_text(tomli_w.dumps(config), encoding="utf-8")
    events: list[dict] = []
    finals: dict[str, dict] = {}
    dataset, duplicates = [], []
    counts = {"accepted": 0, "duplicate": 0, "exhausted": 0, "failed": 0, "error": 0}
    per_role: dict[str, dict] = {}

    def call(probe_id: str, number: int, role: str, output: str, attempt: int = 1) -> None:
        tokens_in, tokens_out = rng.randint(100, 900), len(output.split())
        events.append({"kind": "model_call", "probe": probe_id, "round": number, "role": role,
                       "model": "bundled:smollm2-135m", "attempt": attempt, "prompt": "(prompt)",
                       "output": output, "input_tokens": tokens_in, "output_tokens": tokens_out,
                       "seconds": round(rng.uniform(0.5, 9.0), 3)})
        row = per_role.setdefault(role, {"calls": 0, "input_tokens": 0, "output_tokens": 0, "seconds": 0.0})
        row["calls"] += 1
        row["input_tokens"] += tokens_in
        row["output_tokens"] += tokens_out
        row["seconds"] = round(row["seconds"] + events[-1]["seconds"], 3)

    for i in range(probes):
        seed_chunk = chunks[(i * 7) % pool]
        probe_id = seed_chunk.id
        slot = i % 20
        kind = ("accepted" if slot < 6 else "duplicate" if slot == 6 else "exhausted" if slot < 15
                else "failed" if slot < 19 else "error")
        judged_rounds = {"accepted": 1 + i % rounds, "duplicate": 1 + i % rounds, "exhausted": rounds,
                         "failed": i % rounds, "error": 1}[kind]
        if all_rounds:
            judged_rounds = rounds - 1 if kind == "failed" else rounds
        records = []
        for number in range(1, judged_rounds + 1):
            passages = [seed_chunk, *rng.sample(chunks, k - 1)]
            question = _words(rng, 25) + "?"
            student, expert = _words(rng, 120) + ".", _words(rng, 135) + " [P1]."
            feedback = _words(rng, 45) + "."
            if hostile:
                question, expert, feedback = HOSTILE["question"], HOSTILE["answer"], HOSTILE["feedback"]
            last = number == judged_rounds
            divergence = round(min(0.05 + 0.14 * number + rng.uniform(0, 0.1), 0.49), 4)
            if kind in ("accepted", "duplicate") and last:
                divergence = round(rng.uniform(0.5, 0.95), 4)
            grounded = kind in ("accepted", "duplicate") and last or rng.random() < 0.5
            # As the probe loop judges: an ungrounded round is not shown to the critic; a grounded
            # one is, and the student's failure is measured by sampling it three more times.
            rejections = ([] if kind in ("accepted", "duplicate") and last else
                          ["below_threshold"] if grounded else ["fact_not_in_passage"])
            record = RoundRecord(
                number=number, question=question, student_answer=student, expert_answer=expert,
                passages=passages, grounded=grounded,
                grounding_method="facts" if grounded else "fact_not_in_passage",
                grounding_passages=[seed_chunk.id] if grounded else [],
                grounding_score=1.0 if grounded else 0.4,
                fabricated_citations=[], scores={"judge": divergence if grounded else None, "embedding": 0.3,
                                                 "verdict": None, "facts": 0.5,
                                                 "failure": 1.0 if grounded else None},
                divergence=divergence, scorer="combined(embedding+facts+judge)",
                critic_grounded=True if grounded else None, feedback=feedback if rejections else "",
                reason=_words(rng, 12) if grounded else "",
                verdict_parsed_with="schema" if grounded else "skipped", intended_answer=_words(rng, 6),
                question_type="lookup", rejections=rejections, student_failure=1.0 if grounded else None,
                failure_method="samples" if grounded else "")
            records.append(record)
            reply = question_json(question, record.intended_answer)
            if number % 2 == 0:
                call(probe_id, number, "questioner", _words(rng, 20), attempt=1)  # rejected: not JSON
                call(probe_id, number, "questioner", reply, attempt=2)
                events.append({"kind": "question_rejected", "probe": probe_id, "round": number,
                               "role": "questioner", "reasons": ["question_unparsed"]})
            else:
                call(probe_id, number, "questioner", reply)
            call(probe_id, number, "student", student)
            call(probe_id, number, "expert", expert_json(expert, ("P1", _words(rng, 8))))
            if grounded:
                call(probe_id, number, "critic", critic_json(divergence, feedback=feedback))
                for attempt in (2, 3, 4):
                    call(probe_id, number, "student", _words(rng, 120) + ".", attempt=attempt)
            labels = {f"P{j + 1}": p.id for j, p in enumerate(passages)}
            events.append({"kind": "retrieval", "probe": probe_id, "round": number, "role": "expert",
                           "query": question, "passages": labels})
            events.append({"kind": "judgement", "probe": probe_id, "round": number, "role": "critic",
                           "divergence": divergence, "grounded": grounded, "rejections": rejections})
            route = ("accepted" if kind in ("accepted", "duplicate") and last else
                     "exhausted" if kind == "exhausted" and last else "revise")
            if kind not in ("failed", "error") or not last:
                events.append({"kind": "route", "probe": probe_id, "round": number, "role": "route",
                               "outcome": route, "divergence": divergence, "grounded": grounded,
                               "threshold": 0.5})
        final: dict = {"seed": seed_chunk, "rounds": records, "outcome": kind, "failure": ""}
        if kind in ("accepted", "duplicate"):
            final["best_round"] = judged_rounds
            sample = {"messages": [{"role": "user", "content": records[-1].question},
                                   {"role": "assistant", "content": records[-1].expert_answer}],
                      "meta": {"probe_id": probe_id, "document": seed_chunk.document}}
            (duplicates if kind == "duplicate" else dataset).append(sample)
            final["outcome"] = "accepted"
        elif kind == "exhausted":
            final["best_round"] = max(records, key=lambda r: (r.grounded, r.divergence)).number
        elif kind == "failed":
            number = judged_rounds + 1
            reason = ("questioner produced no usable question (attempt 1: question_unparsed; "
                      "attempt 2: question_unparsed; attempt 3: question_off_passage)")
            if hostile:
                reason += " " + HOSTILE["question"]
            for attempt in (1, 2):
                call(probe_id, number, "questioner", _words(rng, 18), attempt=attempt)
            off_passage = question_json(_words(rng, 18) + "?", _words(rng, 4))
            call(probe_id, number, "questioner", off_passage, attempt=3)
            events.append({"kind": "question_rejected", "probe": probe_id, "round": number,
                           "role": "questioner",
                           "reasons": ["question_unparsed", "question_unparsed", "question_off_passage"]})
            events.append({"kind": "probe_failed", "probe": probe_id, "round": number, "role": "questioner",
                           "reason": reason})
            final.update(round=number, failure=reason)
        else:
            final["outcome"] = ""
            events.append({"kind": "probe_error", "probe": probe_id, "error": "TimeoutError: model server"})
        counts[kind] += 1
        finals[probe_id] = final
    with (run / "traces.jsonl").open("w", encoding="utf-8") as handle:
        for event in events:
            handle.write(json.dumps(event, ensure_ascii=False) + "\n")
    for name, rows in (("dataset.jsonl", dataset), ("duplicates.jsonl", duplicates)):
        lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        (run / name).write_text(lines, encoding="utf-8")
    _checkpoint(run / "checkpoints.sqlite", finals)
    finished = probes - counts["error"]
    tokens = sum(r["input_tokens"] + r["output_tokens"] for r in per_role.values())
    stats = {"probes": probes, "finished": finished, "accepted": counts["accepted"],
             "accepted_before_dedup": counts["accepted"] + counts["duplicate"],
             "duplicates_dropped": counts["duplicate"], "exhausted": counts["exhausted"],
             "failed": counts["failed"], "errored": counts["error"], "errors": {},
             "acceptance_rate": round(counts["accepted"] / finished, 4), "rounds": 0, "mean_rounds": 2.0,
             "accepted_at_round": {}, "model_calls": sum(r["calls"] for r in per_role.values()),
             "model_calls_this_run": 0, "tokens": tokens, "tokens_per_accepted": None,
             "calls_per_accepted": None, "per_role": per_role, "wall_seconds": 1234.5}
    (run / "stats.json").write_text(json.dumps(stats, indent=2), encoding="utf-8")
    return {"counts": counts, "stats": stats}


def with_prompts(run: Path, **changes: str) -> None:
    """Save prompt texts into a run folder as the campaign does (RUN_DIR/prompts/<role>.txt)."""
    from advqa.agents import load_prompts

    prompts = load_prompts()
    folder = run / "prompts"
    folder.mkdir(parents=True, exist_ok=True)
    for role, text in prompts.templates.items():
        (folder / f"{role}.txt").write_text(changes.get(role, text), encoding="utf-8")
