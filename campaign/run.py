"""A campaign: many probes over a corpus, checkpointed per probe, samples appended as they come.

run_campaign = plan -> skip finished -> run pending -> finish, one function each.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.state import CompiledStateGraph

from ..agents import JsonlTracer, PromptSet, ResponseCache, load_prompts
from ..graph.context import ProbeContext, probe_context
from ..graph.probe import probe_graph
from ..graph.state import FINAL_OUTCOMES, ProbeInput, probe_values
from ..models import ModelSpec
from ..retrieval import Chunk, IndexRetriever, Passage, VectorIndex
from ..retrieval.files import write_atomic
from ..roles import ROLES
from .agreement import agreement, check_agreement
from .checkpointers import Checkpointer, describe, open_checkpointer
from .config_file import write_config
from .dedup import deduplicate
from .files import CHECKPOINTS, DATASET, DUPLICATES, TRACES, worker_stats
from .samples import make_sample
from .seeds import plan_seeds
from .settings import CampaignSettings
from .sharding import Worker
from .shared_files import RunLock, SharedDataset
from .stats import compute_stats
from .threads import probe_torch_threads, torch_threads

# progress("start", {"total", "done", "accepted", "calls": a function giving this run's model calls so
# far}) once, then progress("probe", {"probe", "outcome"}) as each probe ends.
ProgressCallback = Callable[[str, dict[str, Any]], None]


@dataclass
class CampaignRun:
    """One invocation of a campaign: where it writes, which seeds it owns, what has finished."""

    run: Path  # the run directory
    index: VectorIndex
    settings: CampaignSettings
    planned: list[Chunk]  # every seed of the campaign, in order
    seeds: list[Chunk]  # the seeds this process runs (all of them, or its worker's share)
    saver: BaseCheckpointSaver
    dataset: SharedDataset
    tracer: JsonlTracer
    started: float  # time.perf_counter() at the start
    finished: dict[str, dict[str, Any]] = field(default_factory=dict)  # probe id -> final values
    errors: dict[str, str] = field(default_factory=dict)  # probe id -> why it errored this time

    def record(self, probe_id: str, values: dict[str, Any]) -> None:
        """A finished probe: kept, and its sample appended if it was accepted (once per probe)."""
        self.finished[probe_id] = values
        self.append_sample(values)

    def append_sample(self, values: dict[str, Any]) -> None:
        """The probe's sample, if it was accepted (the dataset keeps one per probe)."""
        if values.get("outcome") == "accepted":
            self.dataset.append(make_sample(values))


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
    with open_checkpointer(checkpointer) as saver:
        campaign = plan(index, run, settings, saver, worker, started)
        if worker is not None:  # workers share the campaign through the checkpointer alone
            check_agreement(saver, agreement(campaign.planned, settings, models, prompts))
        pending = skip_finished(campaign)
        if progress:
            accepted = sum(v["outcome"] == "accepted" for v in campaign.finished.values())
            progress("start", {"total": len(campaign.seeds), "done": len(campaign.finished),
                               "accepted": accepted, "calls": lambda: campaign.tracer.recorded["model_call"]})
        if pending:
            context = probe_context(retriever=IndexRetriever(index=index, k=settings.probe.k),
                                    settings=settings.probe, prompts=prompts, tracer=campaign.tracer,
                                    embedder=index.embedder, cache=cache, **models)
            run_pending(campaign, pending, context, callbacks=callbacks, progress=progress)
        return finish(campaign, worker)


def plan(index: VectorIndex, run: Path, settings: CampaignSettings, saver: BaseCheckpointSaver,
         worker: Worker | None, started: float) -> CampaignRun:
    """The campaign's seeds (this worker's share of them) and the files it appends to."""
    planned = plan_seeds(index, settings.seeds, settings.seeds_per_document,
                         settings.seed_focus.splitlines())
    return CampaignRun(
        run=run, index=index, settings=settings, planned=planned,
        seeds=[c for c in planned if worker is None or worker.owns(c.id)], saver=saver,
        dataset=SharedDataset(run / DATASET, run / DUPLICATES, RunLock(run)),
        tracer=JsonlTracer(run / TRACES), started=started,
    )


def skip_finished(campaign: CampaignRun) -> list[Chunk]:
    """Record the probes whose checkpoints say they finished; return the seeds still to run."""
    pending = []
    for chunk in campaign.seeds:
        values = _final_values(campaign.saver, chunk.id)
        if values is None:
            pending.append(chunk)
        else:
            campaign.record(chunk.id, values)
    return pending


def run_pending(campaign: CampaignRun, pending: list[Chunk], context: ProbeContext, *,
                callbacks: list | None = None, progress: ProgressCallback | None = None) -> None:
    """Run the pending probes, `concurrency` at a time, recording each as it ends.

    A thread pool, not `app.batch`: LangChain's batch executor waits for every queued probe on
    shutdown, and here an interrupt cancels the probes not yet started (running ones finish).
    """
    app = probe_graph().compile(checkpointer=campaign.saver)
    models = {role: getattr(context, role) for role in ROLES}
    with torch_threads(probe_torch_threads(campaign.settings.torch_threads, models)):
        pool = ThreadPoolExecutor(max_workers=campaign.settings.concurrency)
        try:
            futures = [pool.submit(run_probe, app, context, campaign, chunk, callbacks) for chunk in pending]
            for future in as_completed(futures):
                probe_id, values, error = future.result()
                if values is not None:
                    campaign.record(probe_id, values)
                else:
                    campaign.errors[probe_id] = error
                if progress:
                    progress("probe", {"probe": probe_id, "outcome": (values or {}).get("outcome", "error")})
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def run_probe(app: CompiledStateGraph, context: ProbeContext, campaign: CampaignRun, chunk: Chunk,
              callbacks: list | None = None) -> tuple[str, dict[str, Any] | None, str]:
    """Run (or resume) one probe: (probe id, its final values or None, why it errored or "")."""
    config = {"configurable": {"thread_id": chunk.id}, "callbacks": callbacks or [],
              "recursion_limit": 10 * campaign.settings.probe.max_rounds + 10}
    try:
        # Started before: resume from its last checkpoint. (Not `get_state().next`: it leaves out
        # a step whose writes were saved just before a kill, and the probe would start over on a
        # thread that already holds its earlier rounds.)
        if campaign.saver.get_tuple(config) is not None:
            app.invoke(None, config, context=context)
        else:
            start = ProbeInput(probe_id=chunk.id, seed=_passage(chunk),
                               card=campaign.index.card(chunk.document), guidance=campaign.settings.guidance,
                               accepted_questions=campaign.dataset.questions(chunk.document))
            app.invoke(start, config, context=context)
        return chunk.id, probe_values(app.get_state(config).values), ""
    except Exception as error:  # a probe that errors is retried on the next resume
        reason = f"{type(error).__name__}: {error}".splitlines()[0][:500]
        campaign.tracer.record({"kind": "probe_error", "probe": chunk.id, "error": reason})
        return chunk.id, None, reason


def finish(campaign: CampaignRun, worker: Worker | None) -> dict[str, Any]:
    """Deduplicate the dataset and write stats.json (a worker: its own stats, and the campaign's
    when every seed is finished)."""
    if worker is not None:
        return _finish_worker(campaign, worker)
    with campaign.dataset.lock:
        seeds = [c.id for c in campaign.seeds]
        deduplicate(campaign.run, seeds, campaign.index.embedder, campaign.settings.dedup_threshold)
        return compute_stats(
            campaign.run, seeds=seeds, finished=campaign.finished, errors=campaign.errors,
            calls_this_run=campaign.tracer.recorded["model_call"],
            wall_seconds=time.perf_counter() - campaign.started, embedder=campaign.index.embedder,
        )


def _finish_worker(campaign: CampaignRun, worker: Worker) -> dict[str, Any]:
    """Write this worker's stats-I-of-N.json; if every planned seed is now finished (by any
    worker), complete the campaign: its whole dataset, deduplicated, and stats.json.

    Under the run lock, so the last worker to look, whose own samples are all written by then,
    is the one whose stats.json stands.
    """
    run, planned, finished, tracer = campaign.run, campaign.planned, campaign.finished, campaign.tracer
    outcomes = [v["outcome"] for v in finished.values()]
    summary: dict[str, Any] = {
        "worker": str(worker), "probes": len(campaign.seeds), "campaign_probes": len(planned),
        "finished": len(finished), "accepted": outcomes.count("accepted"),
        "exhausted": outcomes.count("exhausted"), "failed": outcomes.count("failed"),
        "errored": len(campaign.errors), "errors": campaign.errors,
        "model_calls_this_run": tracer.recorded["model_call"],
        "wall_seconds": round(time.perf_counter() - campaign.started, 2),
    }
    with campaign.dataset.lock:
        everything: dict[str, dict[str, Any]] = {}
        for chunk in planned:
            values = finished.get(chunk.id) or _final_values(campaign.saver, chunk.id)
            if values is None:
                break
            everything[chunk.id] = values
        else:
            # Samples of workers writing to another run directory (sharing only the database).
            for values in everything.values():
                campaign.append_sample(values)
            deduplicate(run, [c.id for c in planned], campaign.index.embedder,
                        campaign.settings.dedup_threshold)
            summary["campaign"] = compute_stats(
                run, seeds=[c.id for c in planned], finished=everything, errors={},
                calls_this_run=tracer.recorded["model_call"],
                wall_seconds=time.perf_counter() - campaign.started, embedder=campaign.index.embedder,
            )
        write_atomic(run / worker_stats(worker.index, worker.count), json.dumps(summary, indent=2))
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
