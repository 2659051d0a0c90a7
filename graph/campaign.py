"""A campaign: many probes over a corpus, checkpointed per probe, samples appended as they come."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tomli_w
from langgraph.checkpoint.base import BaseCheckpointSaver

from ..agents import JsonlTracer, PromptSet, ResponseCache, load_prompts
from ..agents.questions import strip_document
from ..models import ModelSpec, model_label
from ..retrieval import Chunk, IndexRetriever, Passage, VectorIndex
from ..retrieval.files import read_jsonl, write_atomic
from ..roles import ROLES
from .checkpointers import Checkpointer, describe, open_checkpointer
from .context import probe_context
from .probe import probe_graph
from .samples import make_sample
from .settings import ProbeSettings
from .sharding import Worker
from .shared_files import RunLock, SharedDataset
from .state import FINAL_OUTCOMES, ProbeInput, probe_values
from .stats import compute_stats
from .threads import probe_torch_threads, torch_threads

DATASET = "dataset.jsonl"
DUPLICATES = "duplicates.jsonl"
TRACES = "traces.jsonl"
CONFIG = "config.toml"
CHECKPOINTS = "checkpoints.sqlite"


@dataclass
class CampaignSettings:
    """How many probes, how many at once, and when two accepted questions are duplicates."""

    seeds: int | None = 8  # total seed passages, spread over every document
    seeds_per_document: int | None = None  # or this many per document (wins over `seeds`)
    concurrency: int = 2  # probes in flight at once
    dedup_threshold: float = 0.92  # drop an accepted question this close (cosine) to an earlier one
    guidance: str = ""  # skills or question types to target, passed to the questioner
    seed_focus: str = ""  # one query per line: seed the passages closest to them, not evenly spread ones
    # torch threads while the probes run; None: 1 when no role runs on torch here (graph/threads.py)
    torch_threads: int | None = None
    probe: ProbeSettings = field(default_factory=ProbeSettings)

    def __post_init__(self) -> None:
        if self.seeds_per_document is not None and self.seeds_per_document < 1:
            raise ValueError("seeds per document must be at least 1")
        if self.seeds_per_document is None and (self.seeds is None or self.seeds < 1):
            raise ValueError("seeds must be at least 1")
        if self.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if not 0.0 < self.dedup_threshold <= 1.0:
            raise ValueError("dedup threshold must be in (0, 1]")
        if self.torch_threads is not None and self.torch_threads < 1:
            raise ValueError("torch threads must be at least 1")


# progress("start", {"total", "done", "accepted", "calls": a function giving this run's model calls so
# far}) once, then progress("probe", {"probe", "outcome"}) as each probe ends.
ProgressCallback = Callable[[str, dict[str, Any]], None]


def plan_seeds(index: VectorIndex, seeds: int | None = None,
               seeds_per_document: int | None = None, focus: list[str] | None = None) -> list[Chunk]:
    """Pick seed chunks spread over every document: `seeds` shared round-robin over documents
    (or `seeds_per_document` each). Within a document the chunks are evenly spaced, or, with
    `focus` queries, the chunks closest to them (taking each query's best in turn)."""
    documents = index.documents()
    if seeds_per_document is not None:
        quota = {d: seeds_per_document for d in documents}
    else:
        base, extra = divmod(seeds or 0, max(len(documents), 1))
        quota = {d: base + (1 if i < extra else 0) for i, d in enumerate(documents)}
    queries = [q.strip() for q in focus or [] if q.strip()]
    query_vectors = index.embedder.encode(queries) if queries else None
    planned: list[list[Chunk]] = []
    for document in documents:
        chunks = index.chunks_of(document)
        count = min(quota[document], len(chunks))
        if query_vectors is not None and count:
            positions = _closest_positions(index.vectors_of(document) @ query_vectors.T, count)
        else:
            positions = sorted({int((j + 0.5) * len(chunks) / count) for j in range(count)}) if count else []
        planned.append([chunks[p] for p in positions])
    # Interleave documents so that a partial run still covers many of them.
    order = []
    for depth in range(max((len(p) for p in planned), default=0)):
        order.extend(p[depth] for p in planned if depth < len(p))
    return order


def _closest_positions(similarity: np.ndarray, count: int) -> list[int]:
    """`count` chunk positions from a (chunks, queries) similarity matrix: each query in turn takes
    its most similar chunk not yet taken, so every query gets seeds; returned in chunk order."""
    rankings = [list(np.argsort(-similarity[:, q], kind="stable")) for q in range(similarity.shape[1])]
    taken: list[int] = []
    while len(taken) < count:
        for ranking in rankings:
            best = next(int(p) for p in ranking if int(p) not in taken)
            taken.append(best)
            if len(taken) == count:
                break
    return sorted(taken)


def run_campaign(index: VectorIndex, run_dir: str | Path, *,
                 models: dict[str, ModelSpec] | None = None,
                 settings: CampaignSettings | None = None, prompts: PromptSet | None = None,
                 callbacks: list | None = None, progress: ProgressCallback | None = None,
                 extra_config: dict[str, Any] | None = None,
                 checkpointer: Checkpointer | None = None,
                 worker: Worker | None = None,
                 cache: ResponseCache | None = None) -> dict[str, Any]:
    """Run (or resume) a campaign into `run_dir`; returns the stats written to stats.json.
    With `cache`, model calls made before (same model, prompt, parameters) are answered from it.

    Finished probes are not run again: their checkpointer thread (the probe id, which is the
    seed chunk's id) says how they ended. `checkpointer` is RUN_DIR/checkpoints.sqlite unless
    given: a postgres:// URL, a SQLite path, or a ready LangGraph checkpointer.

    With `worker` (I of N), only the seeds that hash to worker I run. Workers may share the run
    directory and the checkpointer; each writes stats-I-of-N.json and returns that summary, and
    the one that finds every seed of the campaign finished also deduplicates the dataset and
    writes stats.json (under "campaign" in its summary).
    """
    started = time.perf_counter()
    settings = settings or CampaignSettings()
    prompts = prompts or load_prompts()
    models = {role: (models or {}).get(role) for role in ROLES}
    run = Path(run_dir)
    run.mkdir(parents=True, exist_ok=True)
    checkpointer = run / CHECKPOINTS if checkpointer is None else checkpointer
    extra = dict(extra_config or {})
    extra["campaign"] = {"checkpointer": describe(checkpointer), **extra.get("campaign", {})}
    write_config(run, index, models, settings, prompts, extra)
    planned = plan_seeds(index, settings.seeds, settings.seeds_per_document,
                         settings.seed_focus.splitlines())
    seeds = [c for c in planned if worker is None or worker.owns(c.id)]
    tracer = JsonlTracer(run / TRACES)
    lock = RunLock(run)
    with open_checkpointer(checkpointer) as saver:
        dataset = SharedDataset(run / DATASET, run / DUPLICATES, lock)
        app = None
        finished: dict[str, dict[str, Any]] = {}
        errors: dict[str, str] = {}
        pending = []
        for chunk in seeds:
            values = _final_values(saver, chunk.id)
            if values is not None:
                finished[chunk.id] = values
                _append_sample(dataset, values)
            else:
                pending.append(chunk)
        if progress:
            progress("start", {"total": len(seeds), "done": len(seeds) - len(pending),
                               "accepted": sum(v["outcome"] == "accepted" for v in finished.values()),
                               "calls": lambda: tracer.recorded["model_call"]})
        if pending:
            context = probe_context(retriever=IndexRetriever(index=index, k=settings.probe.k),
                                    settings=settings.probe, prompts=prompts, tracer=tracer,
                                    embedder=index.embedder, cache=cache, **models)
            loaded = {role: getattr(context, role) for role in ROLES}
            app = probe_graph().compile(checkpointer=saver)

            def work(chunk: Chunk) -> tuple[str, dict | None, str]:
                config = {"configurable": {"thread_id": chunk.id}, "callbacks": callbacks or [],
                          "recursion_limit": 10 * settings.probe.max_rounds + 10}
                try:
                    # Started before: resume from its last checkpoint. (Not `get_state().next`:
                    # it leaves out a step whose writes were saved just before a kill, and the
                    # probe would start over on a thread that already holds its earlier rounds.)
                    if saver.get_tuple(config) is not None:
                        app.invoke(None, config, context=context)
                    else:
                        app.invoke(ProbeInput(probe_id=chunk.id, seed=_passage(chunk),
                                              card=index.card(chunk.document), guidance=settings.guidance,
                                              accepted_questions=dataset.questions(chunk.document)),
                                   config, context=context)
                    return chunk.id, probe_values(app.get_state(config).values), ""
                except Exception as error:  # a probe that errors is retried on the next resume
                    reason = f"{type(error).__name__}: {error}".splitlines()[0][:500]
                    tracer.record({"kind": "probe_error", "probe": chunk.id, "error": reason})
                    return chunk.id, None, reason

            with torch_threads(probe_torch_threads(settings.torch_threads, loaded)):
                pool = ThreadPoolExecutor(max_workers=settings.concurrency)
                try:
                    futures = [pool.submit(work, chunk) for chunk in pending]
                    for future in as_completed(futures):
                        probe_id, values, error = future.result()
                        if values is not None:
                            finished[probe_id] = values
                            _append_sample(dataset, values)
                        else:
                            errors[probe_id] = error
                        if progress:
                            progress("probe", {"probe": probe_id,
                                              "outcome": (values or {}).get("outcome", "error")})
                finally:
                    # On an interrupt, probes not yet started are cancelled; running ones finish.
                    pool.shutdown(wait=True, cancel_futures=True)
        if worker is not None:
            return _finish_worker(run, worker, planned, seeds, saver, dataset, finished, errors,
                                  index=index, settings=settings, tracer=tracer, started=started)
        with lock:
            deduplicate(run, [c.id for c in seeds], index.embedder, settings.dedup_threshold)
            return compute_stats(
                run, seeds=[c.id for c in seeds], finished=finished, errors=errors,
                calls_this_run=tracer.recorded["model_call"],
                wall_seconds=time.perf_counter() - started, embedder=index.embedder,
            )


def _finish_worker(run: Path, worker: Worker, planned: list[Chunk], seeds: list[Chunk],
                   saver: BaseCheckpointSaver, dataset: SharedDataset,
                   finished: dict[str, dict[str, Any]], errors: dict[str, str], *,
                   index: VectorIndex, settings: CampaignSettings, tracer: JsonlTracer,
                   started: float) -> dict[str, Any]:
    """Write this worker's stats-I-of-N.json; if every planned seed is now finished (by any
    worker), complete the campaign: its whole dataset, deduplicated, and stats.json.

    Under the run lock, so the last worker to look, whose own samples are all written by then,
    is the one whose stats.json stands.
    """
    outcomes = [v["outcome"] for v in finished.values()]
    summary: dict[str, Any] = {
        "worker": str(worker), "probes": len(seeds), "campaign_probes": len(planned),
        "finished": len(finished), "accepted": outcomes.count("accepted"),
        "exhausted": outcomes.count("exhausted"), "failed": outcomes.count("failed"),
        "errored": len(errors), "errors": errors,
        "model_calls_this_run": tracer.recorded["model_call"],
        "wall_seconds": round(time.perf_counter() - started, 2),
    }
    name = f"stats-{worker.index}-of-{worker.count}.json"
    with dataset.lock:
        everything: dict[str, dict[str, Any]] = {}
        for chunk in planned:
            values = finished.get(chunk.id) or _final_values(saver, chunk.id)
            if values is None:
                break
            everything[chunk.id] = values
        else:
            # Samples of workers writing to another run directory (sharing only the database).
            for values in everything.values():
                _append_sample(dataset, values)
            deduplicate(run, [c.id for c in planned], index.embedder, settings.dedup_threshold)
            summary["campaign"] = compute_stats(
                run, seeds=[c.id for c in planned], finished=everything, errors={},
                calls_this_run=tracer.recorded["model_call"],
                wall_seconds=time.perf_counter() - started, embedder=index.embedder,
            )
        write_atomic(run / name, json.dumps(summary, indent=2))
    return summary


def _passage(chunk: Chunk) -> Passage:
    return Passage(chunk.id, chunk.document, chunk.text, chunk.start, chunk.end, 1.0)


def _final_values(checkpointer: BaseCheckpointSaver, probe_id: str) -> dict[str, Any] | None:
    """A probe's final state when its thread finished, else None."""
    saved = checkpointer.get_tuple({"configurable": {"thread_id": probe_id}})
    if saved is None:
        return None
    values = saved.checkpoint.get("channel_values", {})
    # Only the last node of a probe writes a final outcome, so a final outcome means finished.
    return probe_values(values) if values.get("outcome") in FINAL_OUTCOMES else None


def _append_sample(dataset: SharedDataset, values: dict[str, Any]) -> None:
    if values.get("outcome") == "accepted":
        dataset.append(make_sample(values))


def deduplicate(run: Path, order: list[str], embedder, threshold: float) -> list[dict]:
    """Drop accepted questions closer than `threshold` (cosine) to an earlier one about the same
    document. Questions are compared without their "In the <contract>: " opening, which would make
    any two about one contract look alike; questions about different contracts teach different facts.

    Works over dataset.jsonl and earlier duplicates together, in seed order, so running it
    again gives the same split. Dropped samples go to duplicates.jsonl. Call it under the
    run's lock when other workers may be appending.
    """
    samples = read_jsonl(run / DATASET) + read_jsonl(run / DUPLICATES)
    if not samples:
        return []
    rank = {probe_id: i for i, probe_id in enumerate(order)}
    samples.sort(key=lambda s: (rank.get(s["meta"]["probe_id"], len(rank)), s["meta"]["probe_id"]))
    vectors = embedder.encode([strip_document(s["messages"][0]["content"]) for s in samples])
    kept, dropped = [], []
    kept_vectors: dict[str, list[np.ndarray]] = {}
    for sample, vector in zip(samples, vectors):
        earlier = kept_vectors.setdefault(sample["meta"].get("document", ""), [])
        if earlier and float(np.max(np.stack(earlier) @ vector)) >= threshold:
            dropped.append(sample)
        else:
            kept.append(sample)
            earlier.append(vector)
    _write_jsonl(run / DATASET, kept)
    if dropped or (run / DUPLICATES).exists():
        _write_jsonl(run / DUPLICATES, dropped)
    return dropped


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    """Rewrite a JSONL file atomically: readers, other workers and a killed run never see half of it."""
    write_atomic(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))


def write_config(run: Path, index: VectorIndex, models: dict[str, ModelSpec],
                 settings: CampaignSettings, prompts: PromptSet,
                 extra: dict[str, Any] | None) -> None:
    """Write the resolved settings as config.toml: model names and settings, never a secret."""
    probe = asdict(settings.probe)
    campaign = {k: v for k, v in asdict(settings).items() if k != "probe"}
    document = {
        "campaign": campaign,
        "probe": probe,
        "models": {role: _spec_label(spec) for role, spec in models.items()},
        "prompts": dict(prompts.sources),
        "index": {"embedding_model": index.embedding_model, "chunks": len(index.chunks),
                  "documents": len(index.documents())},
    }
    for key, value in (extra or {}).items():
        if isinstance(value, dict) and isinstance(document.get(key), dict):
            document[key] = {**document[key], **value}
        else:
            document[key] = value
    write_atomic(run / CONFIG, tomli_w.dumps(_drop_none(document)))
    # The prompt texts too (RUN_DIR/prompts/<role>.txt), for `advqa prompts diff` and `--prompts`.
    (run / "prompts").mkdir(exist_ok=True)
    for role, template in prompts.templates.items():
        write_atomic(run / "prompts" / f"{role}.txt", template)


def _spec_label(spec: ModelSpec | None) -> str:
    if spec is None:
        return "bundled:smollm2-135m"
    return spec if isinstance(spec, str) else model_label(spec)


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    return value
