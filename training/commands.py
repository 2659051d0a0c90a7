"""The `advqa train` and `advqa export` commands (registered in advqa/cli.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from advqa.models import DEFAULT_MODEL_SPEC
from advqa.settings import settings_options

from .config import TrainConfig, load_train_config
from .errors import TrainingError
from .export import FORMATS, export_run
from .train import train

console = Console(stderr=True)
out_console = Console()


@settings_options(TrainConfig)
def train_command(
    dataset: Annotated[Path, typer.Option(help="A run's dataset.jsonl (chat) or a text corpus JSONL.")],
    out: Annotated[Path, typer.Option(help="Output folder for the adapter (re-use it to resume).")],
    model: Annotated[str, typer.Option(help="Base model: bundled:<name> or hf:<folder or hub id>.")]
    = DEFAULT_MODEL_SPEC,
    config: Annotated[Path | None, typer.Option(help="TOML file whose 'train' table holds settings.")] = None,
    merge: Annotated[bool, typer.Option(help="Also write the merged full model to OUT/merged.")] = False,
    *, options: dict,
) -> None:
    """Fine-tune a LoRA adapter on a dataset: SFT on the expert answers, or DPO over the student's."""
    train_config = load_train_config(config, **options[TrainConfig])
    summary = train(dataset, model, out, train_config, merge=merge)
    if not summary["main_process"]:
        return  # under a multi-process launcher, the first process reports
    table = Table(title=f"{summary['method']} run", show_header=False)
    for key in ("samples", "train_rows", "steps", "resumed_from_step", "final_loss",
                "trainable_parameters", "seconds", "out_dir"):
        value = summary[key]
        table.add_row(key.replace("_", " "), f"{value:.4f}" if isinstance(value, float) else str(value))
    out_console.print(table)


def export_command(
    run_dir: Annotated[Path, typer.Argument(help="Run folder (with dataset.jsonl) or a .jsonl dataset.")],
    format: Annotated[str, typer.Option(help=f"One of: {', '.join(FORMATS)}.")],
    out: Annotated[Path, typer.Option(help="Output .jsonl file (a folder for hf).")],
) -> None:
    """Export a run's dataset for other fine-tuning tools."""
    if format not in FORMATS:
        raise TrainingError(f"--format: '{format}' is not one of {', '.join(FORMATS)}")
    rows = export_run(run_dir, format, out)
    console.print(f"wrote {rows} rows ({format}) to {out}")
