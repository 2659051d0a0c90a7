"""The `advqa` command line: index, generate, demo."""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .config import ConfigError, read_config_file, read_guidance, resolve, resolve_models

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Adversarial QA: turn reference documents into a small, hard, grounded "
                       "fine-tuning set.")
console = Console(stderr=True)
out = Console()


def _quiet_libraries() -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    logging.getLogger("sentence_transformers").setLevel(logging.ERROR)


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console, transient=True)


def do_index(docs: Path, index_dir: Path, *, embedding_model: str | None = None,
             max_tokens: int = 200, overlap_tokens: int = 40):
    from .retrieval import build_index, load_index

    with _progress() as progress:
        task = progress.add_task("indexing", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        report = build_index(docs, index_dir, embedding_model=embedding_model,
                             max_tokens=max_tokens, overlap_tokens=overlap_tokens, progress=advance)
    console.print(
        f"indexed {report.documents} documents into {report.chunks} chunks "
        f"({report.added_documents} added, {report.changed_documents} changed, "
        f"{report.removed_documents} removed, {report.unchanged_documents} unchanged; "
        f"{report.embedded_chunks} chunks embedded) in {report.seconds:.1f}s -> {index_dir}")
    return load_index(index_dir)


@app.command()
def index(
    docs: Annotated[Path, typer.Argument(help="Folder of documents (.txt, .md, .pdf, .docx, .html).")],
    out_dir: Annotated[Path, typer.Option("--out", help="Index folder to create or update.")],
    embedding_model: Annotated[str | None, typer.Option(
        help="sentence-transformers name or path (default: bundled all-MiniLM-L6-v2).")] = None,
    max_tokens: Annotated[int, typer.Option(help="Chunk size budget in tokens.")] = 200,
    overlap_tokens: Annotated[int, typer.Option(help="Overlap between chunks in tokens.")] = 40,
) -> None:
    """Chunk and embed DOCS into a FAISS index; re-running embeds only what changed."""
    _quiet_libraries()
    do_index(docs, out_dir, embedding_model=embedding_model, max_tokens=max_tokens,
             overlap_tokens=overlap_tokens)


@app.command()
def generate(
    out_dir: Annotated[Path, typer.Option("--out", help="Run folder (re-use it to resume).")],
    index_dir: Annotated[Path | None, typer.Option("--index", help="Index folder from `advqa index`.")] = None,
    docs: Annotated[Path | None, typer.Option(help="Documents to index first (into OUT/index).")] = None,
    seeds: Annotated[int | None, typer.Option(help="Seed passages in all, spread over documents. [default: 8]")] = None,
    seeds_per_doc: Annotated[int | None, typer.Option(help="Seed passages per document (instead of --seeds).")] = None,
    max_rounds: Annotated[int | None, typer.Option(help="Rounds per probe. [default: 3]")] = None,
    threshold: Annotated[float | None, typer.Option(help="Divergence to accept a question. [default: 0.5]")] = None,
    scorer: Annotated[str | None, typer.Option(help="combined | judge | embedding | verdict | facts. [default: combined]")] = None,
    k: Annotated[int | None, typer.Option(help="Passages the expert sees. [default: 4]")] = None,
    model: Annotated[str | None, typer.Option(help="Model spec for every role.")] = None,
    questioner: Annotated[str | None, typer.Option(help="Questioner model spec.")] = None,
    student: Annotated[str | None, typer.Option(help="Student model spec (the model to adapt).")] = None,
    expert: Annotated[str | None, typer.Option(help="Expert model spec.")] = None,
    critic: Annotated[str | None, typer.Option(help="Critic model spec.")] = None,
    base_url: Annotated[str | None, typer.Option(help="Base URL for openai: specs (else $OPENAI_BASE_URL); the key comes from $OPENAI_API_KEY.")] = None,
    prompts: Annotated[Path | None, typer.Option(help="Folder of prompt files replacing the packaged ones.")] = None,
    guidance: Annotated[str | None, typer.Option(help="Skills or question types to target: text or a file.")] = None,
    seed_focus: Annotated[str | None, typer.Option(help="Seed the passages closest to these queries (one per line: text or a file) instead of evenly spread ones.")] = None,
    concurrency: Annotated[int | None, typer.Option(help="Probes in flight at once. [default: 2]")] = None,
    dedup_threshold: Annotated[float | None, typer.Option(help="Cosine above which a question is a duplicate. [default: 0.92]")] = None,
    config: Annotated[Path | None, typer.Option(help="TOML file with [campaign], [probe], [models] tables.")] = None,
) -> None:
    """Run (or resume) an adversarial campaign and write the dataset into OUT."""
    _quiet_libraries()
    file = read_config_file(config)
    fc, fp = file.get("campaign", {}), file.get("probe", {})
    if (index_dir is None) == (docs is None):
        raise ConfigError("give exactly one of --index INDEX_DIR or --docs DOCS")
    settings = _campaign_settings(
        seeds=resolve(seeds, fc.get("seeds"), "ADVQA_SEEDS", 8, int),
        seeds_per_document=resolve(seeds_per_doc, fc.get("seeds_per_document"), "ADVQA_SEEDS_PER_DOC", None, int),
        concurrency=resolve(concurrency, fc.get("concurrency"), "ADVQA_CONCURRENCY", 2, int),
        dedup_threshold=resolve(dedup_threshold, fc.get("dedup_threshold"), "ADVQA_DEDUP_THRESHOLD", 0.92, float),
        guidance=read_guidance(resolve(guidance, fc.get("guidance"), "ADVQA_GUIDANCE", "")),
        seed_focus=read_guidance(resolve(seed_focus, fc.get("seed_focus"), "ADVQA_SEED_FOCUS", "")),
        threshold=resolve(threshold, fp.get("threshold"), "ADVQA_THRESHOLD", 0.5, float),
        max_rounds=resolve(max_rounds, fp.get("max_rounds"), "ADVQA_MAX_ROUNDS", 3, int),
        scorer=resolve(scorer, fp.get("scorer"), "ADVQA_SCORER", "combined"),
        k=resolve(k, fp.get("k"), "ADVQA_K", 4, int),
    )
    models = resolve_models({"questioner": questioner, "student": student, "expert": expert,
                             "critic": critic}, file.get("models", {}), model)
    run_generate(out_dir, index_dir=index_dir, docs=docs, settings=settings, models=models,
                 prompts_dir=prompts, base_url=resolve(base_url, file.get("models", {}).get("base_url"),
                                                       "OPENAI_BASE_URL", None))


@app.command()
def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the demo's index and run.")] = Path("runs/demo"),
    seeds: Annotated[int, typer.Option(help="Seed passages in all.")] = 12,
    max_rounds: Annotated[int, typer.Option(help="Rounds per probe.")] = 3,
) -> None:
    """Index the bundled example contracts and run a small campaign with the bundled models."""
    _quiet_libraries()
    from .examples import EXAMPLES_DIR

    index_dir = out_dir / "index"
    do_index(EXAMPLES_DIR, index_dir)
    # Three passages per expert prompt keep the CPU prefill of the bundled model short.
    settings = _campaign_settings(seeds=seeds, seeds_per_document=None, concurrency=6,
                                  dedup_threshold=0.92, guidance="", threshold=0.5,
                                  max_rounds=max_rounds, scorer="combined", k=3)
    models = resolve_models({}, {}, None)
    run_generate(out_dir / "run", index_dir=index_dir, docs=None, settings=settings, models=models,
                 prompts_dir=None)


def _campaign_settings(*, threshold, max_rounds, scorer, k, **campaign):
    from .graph import ProbeSettings
    from .graph.campaign import CampaignSettings

    try:
        probe = ProbeSettings(threshold=threshold, max_rounds=max_rounds, scorer=scorer, k=k)
        return CampaignSettings(probe=probe, **campaign)
    except ValueError as error:
        raise ConfigError(str(error)) from None


def run_generate(out_dir: Path, *, index_dir: Path | None, docs: Path | None, settings,
                 models: dict[str, str], prompts_dir: Path | None,
                 base_url: str | None = None) -> dict[str, Any]:
    from .agents import load_prompts
    from .graph.campaign import run_campaign
    from .models import load_chat_model, validate_spec
    from .retrieval import load_index

    prompt_set = load_prompts(prompts_dir)  # a bad prompt file fails before any model call
    for spec in models.values():
        validate_spec(spec)
    if docs is not None:
        index_dir = out_dir / "index"
        idx = do_index(docs, index_dir)
    else:
        idx = load_index(index_dir)
    # Resolve every spec before the campaign starts, so that a bad one fails before any call.
    chat_models = {role: load_chat_model(spec, base_url=base_url) if spec.startswith("openai:")
                   else load_chat_model(spec) for role, spec in models.items()}
    started = time.perf_counter()
    with _progress() as progress:
        task = progress.add_task("probes", total=None)

        def report(event: str, info: dict[str, Any]) -> None:
            if event == "start":
                progress.update(task, total=info["total"], completed=info["done"])
            elif event == "probe":
                progress.advance(task)

        stats = run_campaign(idx, out_dir, models=chat_models, settings=settings, prompts=prompt_set,
                             progress=report, extra_config={"index": {"path": str(index_dir)},
                                                            "model_specs": models})
    print_summary(stats, out_dir, time.perf_counter() - started)
    return stats


def print_summary(stats: dict[str, Any], run_dir: Path, seconds: float) -> None:
    table = Table(title="advqa campaign", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    rows = [
        ("probes", f"{stats['finished']} of {stats['probes']} finished"),
        ("accepted", f"{stats['accepted']} ({stats['duplicates_dropped']} duplicates dropped)"),
        ("exhausted / failed / errored", f"{stats['exhausted']} / {stats['failed']} / {stats['errored']}"),
        ("acceptance rate", f"{stats['acceptance_rate']:.0%}"),
        ("mean rounds", f"{stats['mean_rounds']:.2f}"),
        ("model calls", f"{stats['model_calls']} ({stats['model_calls_this_run']} this run)"),
        ("tokens", f"{stats['tokens']:,}"),
        ("time", f"{seconds:.1f}s"),
        ("dataset", str(run_dir / "dataset.jsonl")),
        ("traces / stats", f"{run_dir / 'traces.jsonl'}, {run_dir / 'stats.json'}"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    out.print(table)


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


_register_commands()


def main() -> None:
    """Entry point: user errors print one line and exit 2, never a traceback."""
    from .agents import PromptError
    from .baselines import BaselineError
    from .evaluation import EvaluationError
    from .models import ModelError
    from .retrieval import RetrievalError
    from .training import TrainingError

    try:
        app()
    except (ConfigError, ModelError, PromptError, RetrievalError, TrainingError, EvaluationError,
            BaselineError) as error:
        print(f"advqa: error: {' '.join(str(error).split())}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("advqa: interrupted; run the same command again to resume", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
