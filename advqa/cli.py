"""The `advqa` command line: index, generate, demo."""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .campaign import CampaignSettings
from .campaign.settings import RunSettings
from .config import (
    ConfigError,
    campaign_settings,
    parse_worker,
    read_config_file,
    read_prices,
    resolve_cache,
    resolve_endpoints,
    resolve_models,
    run_settings,
)
from .errors import AdvqaError
from .graph import ProbeSettings
from .models import Endpoint
from .settings import settings_options

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  help="Adversarial QA: turn reference documents into a small, hard, grounded "
                       "fine-tuning set.")
console = Console(stderr=True)
out = Console()


class CampaignError(AdvqaError):
    """A campaign in which every probe failed with an error (e.g. an unreachable model server)."""


def _quiet_libraries() -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    logging.getLogger("sentence_transformers").setLevel(logging.ERROR)
    logging.getLogger("pypdf").setLevel(logging.ERROR)  # a broken PDF is reported as one line instead


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console, transient=True)


def do_index(docs: Path, index_dir: Path, *, embedding_model: str | None = None,
             max_tokens: int = 200, overlap_tokens: int = 40, max_file_mb: float | None = None):
    from .retrieval import build_index, load_index

    with _progress() as progress:
        task = progress.add_task("indexing", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        report = build_index(docs, index_dir, embedding_model=embedding_model,
                             max_tokens=max_tokens, overlap_tokens=overlap_tokens, progress=advance,
                             **({"max_file_mb": max_file_mb} if max_file_mb is not None else {}))
    for note in report.notes:  # skipped files and fallback decodings, one line each
        print(f"advqa: {'skipped' if note.skipped else 'note'}: {note}", file=sys.stderr)
    console.print(
        f"indexed {report.documents} documents into {report.chunks} chunks "
        f"({report.added_documents} added, {report.changed_documents} changed, "
        f"{report.removed_documents} removed, {report.unchanged_documents} unchanged; "
        f"{report.embedded_chunks} chunks embedded"
        + (f", {report.journalled_chunks} from an interrupted build" if report.journalled_chunks else "")
        + f") in {report.seconds:.1f}s -> {index_dir}")
    return load_index(index_dir)


@app.command()
def index(
    docs: Annotated[Path, typer.Argument(help="Folder of documents (.txt, .md, .pdf, .docx, .html).")],
    out_dir: Annotated[Path, typer.Option("--out", help="Index folder to create or update.")],
    embedding_model: Annotated[str | None, typer.Option(
        help="sentence-transformers name or path (default: bundled all-MiniLM-L6-v2).")] = None,
    max_tokens: Annotated[int, typer.Option(help="Chunk size budget in tokens.")] = 200,
    overlap_tokens: Annotated[int, typer.Option(help="Overlap between chunks in tokens.")] = 40,
    max_file_mb: Annotated[float, typer.Option(help="Skip (and report) files larger than this many MB.")] = 50.0,
) -> None:
    """Chunk and embed DOCS into a FAISS index; re-running embeds only what changed."""
    _quiet_libraries()
    do_index(docs, out_dir, embedding_model=embedding_model, max_tokens=max_tokens,
             overlap_tokens=overlap_tokens, max_file_mb=max_file_mb)


@app.command()
@settings_options(CampaignSettings, ProbeSettings, Endpoint, RunSettings)
def generate(
    out_dir: Annotated[Path, typer.Option("--out", help="Run folder (re-use it to resume).")],
    index_dir: Annotated[Path | None, typer.Option("--index", help="Index folder from `advqa index`.")] = None,
    docs: Annotated[Path | None, typer.Option(help="Documents to index first (into OUT/index).")] = None,
    max_file_mb: Annotated[float | None, typer.Option(help="With --docs: skip (and report) files larger than this many MB. [default: 50]")] = None,
    model: Annotated[str | None, typer.Option(help="Model spec for every role.")] = None,
    questioner: Annotated[str | None, typer.Option(help="Questioner model spec.")] = None,
    student: Annotated[str | None, typer.Option(help="Student model spec (the model to adapt).")] = None,
    expert: Annotated[str | None, typer.Option(help="Expert model spec.")] = None,
    critic: Annotated[str | None, typer.Option(help="Critic model spec.")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Call the models even for calls made before (else replies are cached).")] = False,
    prompts: Annotated[Path | None, typer.Option(help="Folder of prompt files replacing the packaged ones.")] = None,
    config: Annotated[Path | None, typer.Option(help="TOML file with [campaign], [probe], [models], [endpoints], [prices] tables.")] = None,
    *, options: dict,
) -> None:
    """Run (or resume) an adversarial campaign and write the dataset into OUT."""
    _quiet_libraries()
    file = read_config_file(config)
    fc = file.get("campaign", {})
    if (index_dir is None) == (docs is None):
        raise ConfigError("give exactly one of --index INDEX_DIR or --docs DOCS")
    settings = campaign_settings(file, options)
    run = run_settings(file, options[RunSettings])
    models = resolve_models({"questioner": questioner, "student": student, "expert": expert,
                             "critic": critic}, file.get("models", {}), model)
    run_generate(out_dir, index_dir=index_dir, docs=docs, settings=settings, models=models,
                 prompts_dir=prompts,
                 endpoints=resolve_endpoints(options[Endpoint], file.get("endpoints", {})),
                 prices=read_prices(file.get("prices", {})),
                 cache_path=resolve_cache(no_cache, fc.get("cache")),
                 checkpointer=run.checkpointer, worker=parse_worker(run.worker),
                 max_file_mb=max_file_mb)


@app.command()
def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the demo's index and run.")] = Path("runs/demo"),
    seeds: Annotated[int, typer.Option(help="Seed passages in all.")] = 12,
    max_rounds: Annotated[int, typer.Option(help="Rounds per probe.")] = ProbeSettings.max_rounds,
) -> None:
    """Index the bundled example contracts and run a small campaign with the bundled models."""
    _quiet_libraries()
    from .examples import EXAMPLES_DIR

    index_dir = out_dir / "index"
    do_index(EXAMPLES_DIR, index_dir)
    # Three passages per expert prompt keep the CPU prefill of the bundled model short; every probe
    # at once fills the model's micro-batches (12 probes: 277 s against 375 s with 6 at a time).
    try:
        settings = CampaignSettings(seeds=seeds, concurrency=max(1, seeds),
                                    probe=ProbeSettings(max_rounds=max_rounds, k=3))
    except ValueError as error:
        raise ConfigError(str(error)) from None
    models = resolve_models({}, {}, None)
    run_generate(out_dir / "run", index_dir=index_dir, docs=None, settings=settings, models=models,
                 prompts_dir=None, cache_path=resolve_cache(False, None))


def run_generate(out_dir: Path, *, index_dir: Path | None, docs: Path | None, settings,
                 models: dict[str, str], prompts_dir: Path | None,
                 base_url: str | None = None, checkpointer: str | None = None,
                 worker=None, endpoints: dict[str, Any] | None = None,
                 prices: dict[str, dict[str, float]] | None = None,
                 cache_path: Path | None = None, max_file_mb: float | None = None) -> dict[str, Any]:
    from .agents import ResponseCache, load_prompts
    from .campaign import run_campaign
    from .campaign.checkpointers import is_postgres, open_checkpointer
    from .models import load_chat_model, validate_spec
    from .retrieval import load_index

    prompt_set = load_prompts(prompts_dir)  # a bad prompt file fails before any model call
    for spec in models.values():
        validate_spec(spec)
    if checkpointer and is_postgres(checkpointer):
        with open_checkpointer(checkpointer):  # an unreachable database fails before any work
            pass
    if docs is not None:
        index_dir = out_dir / "index"
        idx = do_index(docs, index_dir, max_file_mb=max_file_mb)
    else:
        idx = load_index(index_dir)
    idx.check_embedder()  # an index built with another embedding model fails here, not in every probe
    # Resolve every spec before the campaign starts, so that a bad one fails before any call.
    endpoints = endpoints or resolve_endpoints({"base_url": base_url}, {})
    chat_models = {role: load_chat_model(spec, endpoint=endpoints[role]) if spec.startswith("openai:")
                   else load_chat_model(spec) for role, spec in models.items()}
    # Endpoint settings and prices go into config.toml; an Endpoint names its key's variable only.
    used = {role: asdict(endpoints[role]) for role, spec in models.items() if spec.startswith("openai:")}
    extra = {"index": {"path": str(index_dir)}, "model_specs": models,
             "campaign": {"cache": str(cache_path) if cache_path else False}}
    if used:
        extra["endpoints"] = used
    if prices:
        extra["prices"] = prices
    cache = ResponseCache(cache_path) if cache_path else None
    started = time.perf_counter()
    ticker = ProgressLines(started)
    with _progress() as progress:
        task = progress.add_task("probes", total=None)

        def report(event: str, info: dict[str, Any]) -> None:
            ticker.update(event, info)
            if event == "start":
                progress.update(task, total=info["total"], completed=info["done"])
            elif event == "probe":
                progress.advance(task)

        try:
            with ticker.running(enabled=not console.is_terminal):
                stats = run_campaign(idx, out_dir, models=chat_models, settings=settings, prompts=prompt_set,
                                     progress=report, extra_config=extra,
                                     checkpointer=checkpointer or None, worker=worker, cache=cache)
        finally:
            if cache is not None:
                cache.close()
    if stats["errored"] and not stats["finished"]:
        first = next(iter(stats["errors"].values()), "")
        raise CampaignError(f"every probe failed ({stats['errored']} of {stats['probes']}); "
                            f"the first error: {first} (details in {out_dir / 'traces.jsonl'})")
    if worker is None:
        print_summary(stats, out_dir, time.perf_counter() - started)
    else:
        print_worker_summary(stats, out_dir, time.perf_counter() - started)
    for line in errored_probe_lines(stats.get("errors", {})):
        out.print(line, markup=False, highlight=False, soft_wrap=True)
    if worker is None or "campaign" in stats:
        write_run_report(out_dir)
    if stats.get("errors"):
        # Everything is written; a script still learns that a rerun is needed.
        raise typer.Exit(PROBES_ERRORED_EXIT)
    return stats


class ProgressLines:
    """Plain progress lines for a log (output not on a terminal, where the progress bar shows
    nothing): probes done, accepted, model calls and time, every PROGRESS_SECONDS."""

    def __init__(self, started: float):
        self.started = started
        self.total = self.done = self.accepted = 0
        self.calls = lambda: 0
        self._stop = threading.Event()

    def update(self, event: str, info: dict[str, Any]) -> None:
        if event == "start":
            self.total, self.done, self.accepted = info["total"], info["done"], info.get("accepted", 0)
            self.calls = info.get("calls", self.calls)
        elif event == "probe":
            self.done += 1
            self.accepted += info.get("outcome") == "accepted"

    def line(self) -> str:
        return (f"advqa: {self.done} of {self.total} probes done, {self.accepted} accepted, "
                f"{self.calls()} model calls, {time.perf_counter() - self.started:.0f}s")

    @contextmanager
    def running(self, enabled: bool) -> Iterator[None]:
        if not enabled:
            yield
            return
        def tick() -> None:
            while not self._stop.wait(PROGRESS_SECONDS):
                print(self.line(), file=sys.stderr, flush=True)
        thread = threading.Thread(target=tick, daemon=True, name="advqa-progress")
        thread.start()
        try:
            yield
        finally:
            self._stop.set()
            thread.join()
            print(self.line(), file=sys.stderr, flush=True)


PROGRESS_SECONDS = 20.0


def write_run_report(run_dir: Path) -> None:
    """RUN_DIR/report.html at the end of a run; a report problem never hides the run's own files."""
    from .report import write_report

    try:
        path = write_report(run_dir)
    except Exception as error:  # the dataset, traces and stats are already written
        console.print(f"report not written: {type(error).__name__}: {error}", markup=False, style="yellow")
        return
    console.print(f"report: {path}", markup=False)


def print_summary(stats: dict[str, Any], run_dir: Path, seconds: float) -> None:
    from .report.terminal import campaign_table, quality_lines, role_table

    out.print(campaign_table(stats, run_dir, seconds))
    out.print(role_table(stats))
    for line in quality_lines(stats.get("quality") or {}, run_dir):
        out.print(line, markup=False, highlight=False, soft_wrap=True)


MAX_LISTED_ERRORS = 10
PROBES_ERRORED_EXIT = 1  # some probes errored (listed); 2 is for bad input and runs where every probe errored


def errored_probe_lines(errors: dict[str, str], limit: int = MAX_LISTED_ERRORS) -> list[str]:
    """The probes that errored this run, each with its one-line reason (the first `limit`, by
    probe id), and how to retry them; nothing when none errored."""
    if not errors:
        return []
    lines = [f"{len(errors)} probe{'s' if len(errors) != 1 else ''} errored:"]
    lines += [f"  {probe}: {errors[probe]}" for probe in sorted(errors)[:limit]]
    if len(errors) > limit:
        lines.append(f"  and {len(errors) - limit} more (each reason is in traces.jsonl as a probe_error)")
    lines.append("run the same command again to retry them; finished probes are kept")
    return lines


def print_worker_summary(stats: dict[str, Any], run_dir: Path, seconds: float) -> None:
    """One worker's share; the whole campaign's table too when this worker completed it."""
    name = "stats-{}-of-{}.json".format(*stats["worker"].split("/"))
    out.print(f"worker {stats['worker']}: {stats['finished']} of {stats['probes']} probes finished "
              f"({stats['accepted']} accepted, {stats['exhausted']} exhausted, {stats['failed']} failed, "
              f"{stats['errored']} errored), {stats['model_calls_this_run']} model calls, "
              f"{seconds:.1f}s -> {run_dir / name}")
    if "campaign" in stats:
        print_summary(stats["campaign"], run_dir, seconds)
    else:
        out.print("the campaign is not complete yet: the last worker to finish writes stats.json")


def _register_commands() -> None:
    """The training, evaluation and baseline commands live with their packages."""
    from .baselines.commands import baseline_command
    from .evaluation.commands import eval_command, reference_command
    from .training.commands import export_command, train_command

    app.command("train")(train_command)
    app.command("export")(export_command)
    app.command("eval")(eval_command)
    app.command("reference")(reference_command)
    app.command("baseline")(baseline_command)
    from .report.commands import audit_command, prompts_app, report_command, trace_command

    app.command("report")(report_command)
    app.command("audit")(audit_command)
    app.command("trace")(trace_command)
    app.add_typer(prompts_app, name="prompts")
    from .config_command import config_app

    app.add_typer(config_app, name="config")


_register_commands()


def main() -> None:
    """Entry point: user errors print one line and exit 2, never a traceback."""
    try:
        app()
    except AdvqaError as error:
        print(f"advqa: error: {' '.join(str(error).split())}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("advqa: interrupted; run the same command again to resume", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
