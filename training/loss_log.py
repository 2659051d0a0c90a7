"""A trainer callback that appends each logged training step to loss.jsonl."""

from __future__ import annotations

import json
from pathlib import Path

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from ..retrieval.files import append_line, read_jsonl, write_atomic


def truncate_loss_log(path: Path, last_step: int) -> None:
    """Drop logged steps after `last_step`: a resumed run repeats the steps after its checkpoint.
    A torn line (a run killed mid-write) goes too."""
    if not path.is_file():
        return
    kept = [row for row in read_loss_log(path) if row.get("step", 0) <= last_step]
    write_atomic(path, "".join(json.dumps(row) + "\n" for row in kept))


def read_loss_log(path: Path) -> list[dict]:
    """The logged steps; a torn line left by a killed run is skipped."""
    return [row for row in read_jsonl(path) if isinstance(row, dict)]


class LossLogger(TrainerCallback):
    """Writes {"step", "loss", "learning_rate", "epoch"} per logged step, as it happens."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def on_log(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
               logs: dict | None = None, **kwargs) -> None:
        if not logs or "loss" not in logs or not state.is_world_process_zero:
            return
        record = {"step": state.global_step, "loss": logs["loss"],
                  "learning_rate": logs.get("learning_rate"), "epoch": logs.get("epoch")}
        append_line(self.path, json.dumps(record), fsync=True)
