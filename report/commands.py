"""The `advqa report`, `advqa trace` and `advqa prompts export|diff` commands (registered in advqa/cli.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ..agents import ROLES, PromptError, export_prompts
from ..retrieval.files import write_atomic
from .audit import score_audit_sheet, write_audit_sheet
from .data import OUTCOMES, load_run
from .errors import ReportError
from .html import write_report
from .prompt_diff import print_comparison, run_prompts
from .terminal import print_trace

console = Console(stderr=True)
out_console = Console()


def report_command(
    run_dir: Annotated[Path, typer.Argument(help="Run folder (from `advqa generate`).")],
    out: Annotated[Path | None, typer.Option(help="Where to write the HTML. [default: RUN_DIR/report.html]")]
    = None,
    results: Annotated[list[Path] | None, typer.Option(
        "--results", help="Also show this results JSON (`advqa eval --out`, or the sample-efficiency "
                          "benchmark's); repeatable. Results JSON files inside RUN_DIR are found anyway.")]
    = None,
) -> None:
    """Write one self-contained HTML page showing what the agents did in a run (opens offline)."""
    path = write_report(run_dir, out, results or [])
    size = path.stat().st_size
    console.print(f"wrote {path} ({size / 1024:,.0f} KiB)")


def trace_command(
    run_dir: Annotated[Path, typer.Argument(help="Run folder (from `advqa generate`).")],
    probe: Annotated[str | None, typer.Option(help="A probe id, or part of one.")] = None,
    outcome: Annotated[str | None, typer.Option(help=" | ".join(OUTCOMES) + ".")] = None,
    document: Annotated[str | None, typer.Option(
        help="Only probes seeded in this document (part of its name).")] = None,
    passages: Annotated[bool, typer.Option("--passages", help="Also print the passages' text.")] = False,
    limit: Annotated[int | None, typer.Option(help="Print at most this many probes.")] = None,
) -> None:
    """Print probe trajectories: each round's question, both answers, the critic's verdict and passages."""
    run = load_run(run_dir)
    print_trace(run, out_console, probe=probe, outcome=outcome, document=document, show_passages=passages,
                limit=limit)


def audit_command(
    run_dir: Annotated[Path | None, typer.Argument(help="Run folder (from `advqa generate`).")] = None,
    out: Annotated[Path | None, typer.Option(help="The sheet to write (CSV). [default: RUN_DIR/audit.csv]")]
    = None,
    sample: Annotated[int | None, typer.Option(help="Audit this many accepted samples, drawn at random. "
                                                    "[default: all]")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the random draw.")] = 0,
    score: Annotated[Path | None, typer.Option(help="Score a filled sheet instead: print the precision "
                                                    "with its 95% interval.")] = None,
) -> None:
    """Write a sheet of a run's accepted samples to mark by hand (question, expert answer, the text
    of the passages it cites, student answer, an empty `correct` column), or score a marked one."""
    if score is not None:
        result = score_audit_sheet(score)
        if not result.marked:
            raise ReportError(f"{score}: no row is marked yet (fill the 'correct' column with yes or no)")
        low, high = result.interval
        out_console.print(f"precision {result.precision:.1%} ({result.correct} of {result.marked} correct; "
                          f"95% interval {low:.1%} to {high:.1%})"
                          + (f"; {result.unmarked} rows not marked" if result.unmarked else ""))
        return
    if run_dir is None:
        raise ReportError("give a run folder to audit, or --score SHEET.csv")
    target = out or Path(run_dir) / "audit.csv"
    rows = write_audit_sheet(run_dir, target, sample, seed)
    console.print(f"wrote {target} ({rows} samples): fill the 'correct' column with yes or no, then run "
                  f"advqa audit --score {target}")


prompts_app = typer.Typer(no_args_is_help=True, add_completion=False, rich_markup_mode=None,
                          help="Export the prompt files to edit, or compare the prompts of two runs.")


@prompts_app.command("export")
def prompts_export_command(
    folder: Annotated[Path, typer.Argument(help="Folder to write questioner.txt, student.txt, expert.txt, "
                                                "critic.txt into.")],
    from_run: Annotated[Path | None, typer.Option(
        "--from", help="Export the prompts this run used instead of the packaged ones.")] = None,
    force: Annotated[bool, typer.Option(help="Overwrite prompt files already in FOLDER.")] = False,
) -> None:
    """Write the prompt files to edit; use them with `advqa generate --prompts FOLDER`."""
    existing = [folder / f"{role}.txt" for role in ROLES if (folder / f"{role}.txt").exists()]
    if existing and not force:
        raise PromptError(f"{existing[0]} already exists (use --force to overwrite)")
    if from_run is None:
        written = export_prompts(folder)
    else:
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for role, prompt in run_prompts(from_run).items():
            if prompt.text is None:
                raise PromptError(f"{from_run}: the {role} prompt's text is not known ({prompt.origin})")
            target = folder / f"{role}.txt"
            write_atomic(target, prompt.text)
            written.append(target)
    console.print(f"wrote {len(written)} prompt files to {folder}; edit them, then run "
                  f"`advqa generate --prompts {folder} ...`")


@prompts_app.command("diff")
def prompts_diff_command(
    run_a: Annotated[Path, typer.Argument(help="First run folder (A).")],
    run_b: Annotated[Path, typer.Argument(help="Second run folder (B).")],
    context: Annotated[int, typer.Option(help="Lines of context around each change.")] = 3,
) -> None:
    """Show what changed between two runs: each role's prompt, the settings, and both funnels."""
    print_comparison(out_console, run_a, run_b, context)
