"""Command-line functions `advqa eval` and `advqa reference` (registered by advqa/cli.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from advqa.config import read_config_file
from advqa.models import DEFAULT_MODEL_SPEC
from advqa.settings import resolve_settings, settings_options

from .closed_book import evaluate_closed_book, format_closed_book
from .errors import EvaluationError
from .reference import build_reference_corpus, read_reference_documents
from .run import evaluate, format_table, write_results
from .settings import EvalSettings

console = Console(stderr=True)
out_console = Console()


@settings_options(EvalSettings)
def eval_command(
    legalbench: Annotated[Path | None, typer.Option(
        "--legalbench", help="LegalBench folder (tasks/<task>/{test,train}.tsv, base_prompt.txt).")] = None,
    tasks: Annotated[str | None, typer.Option(
        "--tasks", help="Comma-separated task names or patterns, e.g. 'cuad_*,contract_qa'.")] = None,
    qa: Annotated[Path | None, typer.Option(
        "--qa", help="Closed-book questions instead (JSONL, e.g. ../shared/cuad_qa/dev.jsonl).")] = None,
    documents: Annotated[str | None, typer.Option(
        "--documents", help="With --qa: only questions about these contracts (comma-separated file "
                            "names, or a file with one a line).")] = None,
    baseline: Annotated[Path | None, typer.Option(
        "--baseline", help="With --qa: the base model's results JSON; also count rows learned and "
                           "forgotten.")] = None,
    model: Annotated[str, typer.Option(
        "--model", help="bundled:/hf: spec (log-likelihood) or an API model (generation).")]
    = DEFAULT_MODEL_SPEC,
    adapter: Annotated[Path | None, typer.Option(
        "--adapter", help="LoRA adapter folder (peft) on top of a local model.")] = None,
    config: Annotated[Path | None, typer.Option(
        "--config", help="TOML file whose [eval] table holds scoring settings.")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Write the results to this JSON file.")] = None,
    reference: Annotated[Path | None, typer.Option(
        "--reference", help="Folder from `advqa reference`: also report rows inside/outside it.")] = None,
    only_reference: Annotated[bool, typer.Option(
        "--only-reference", help="Evaluate only rows whose contract is in --reference.")] = False,
    *, options: dict,
) -> None:
    """Score a model on LegalBench tasks: balanced accuracy (with a 95% bootstrap interval) per task;
    or, with --qa, closed-book on questions about reference contracts."""
    settings = resolve_settings(EvalSettings, options=options[EvalSettings],
                                table=read_config_file(config).get("eval"), table_name="eval")
    limit, seed, batch_size, dtype = settings.limit, settings.seed, settings.batch_size, settings.dtype
    if qa is not None:
        names = _document_names(documents, reference)
        results = evaluate_closed_book(model, qa, adapter=adapter, documents=names, limit=limit, seed=seed,
                                       batch_size=batch_size, dtype=dtype, baseline=baseline)
        out_console.print(format_closed_book(results))
        if out is not None:
            console.print(f"results -> {write_results(results, out)}")
        return
    if legalbench is None or tasks is None:
        raise EvaluationError("give --legalbench and --tasks (LegalBench), or --qa FILE.jsonl (closed-book)")
    documents = read_reference_documents(reference) if reference is not None else None
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as bar:
        bars: dict[str, int] = {}

        def advance(task_name: str, done: int, total: int) -> None:
            if task_name not in bars:
                bars[task_name] = bar.add_task(task_name, total=total)
            bar.update(bars[task_name], completed=done, total=total)

        results = evaluate(model, adapter=adapter, legalbench=legalbench, tasks=tasks, limit=limit,
                           prompt_style=settings.prompt_style, seed=seed, batch_size=batch_size,
                           reference_documents=documents, only_reference=only_reference,
                           calibration=settings.calibration, dtype=dtype, progress=advance)
    out_console.print(format_table(results))
    if out is not None:
        console.print(f"results -> {write_results(results, out)}")


def _document_names(documents: str | None, reference: Path | None) -> set[str] | None:
    """Contract file names from --documents (a list or a file of them) or a --reference folder."""
    if documents:
        listed = Path(documents)
        text = listed.read_text(encoding="utf-8") if listed.is_file() else documents.replace(",", "\n")
        return {Path(line.strip()).name for line in text.splitlines() if line.strip()}
    if reference is not None:
        if not Path(reference).is_dir():
            raise EvaluationError(f"{reference}: not a folder")
        return {path.name for path in Path(reference).iterdir() if path.suffix == ".txt"}
    return None


def reference_command(
    legalbench: Annotated[Path, typer.Option(
        "--legalbench", help="LegalBench folder with contracts/cuad and contracts/cuad_document_map.tsv.")],
    tasks: Annotated[str, typer.Option(
        "--tasks", help="Comma-separated cuad_* task names or patterns.")],
    out: Annotated[Path, typer.Option(
        "--out", help="Folder for the contracts and reference.json (new, or an earlier build).")],
    max_contracts: Annotated[int | None, typer.Option(
        "--max-contracts", help="At most this many contracts, covering as many tasks as it can.")] = None,
    seed: Annotated[int, typer.Option(
        "--seed", help="Seed for choosing contracts under --max-contracts.")] = 0,
) -> None:
    """Copy the CUAD contracts behind cuad_* task rows into a folder, to index as reference documents."""
    summary = build_reference_corpus(legalbench, tasks, out, max_contracts=max_contracts, seed=seed)
    console.print(f"{summary['contracts']} contracts for {len(summary['documents'])} LegalBench documents, "
                  f"covering {summary['tasks_covered']} of {len(summary['tasks'])} tasks "
                  f"and {summary['test_rows']} test rows "
                  f"-> {summary['out_dir']}")
    if summary["unmapped"]:
        console.print(f"{len(summary['unmapped'])} documents have no contract file in the map; skipped")
