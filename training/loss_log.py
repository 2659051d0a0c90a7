"""A trainer callback that appends each logged training step to loss.jsonl."""

from __future__ import annotations

import json
from pathlib import Path

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments


def truncate_loss_log(path: Path, last_step: int) -> None:
    """Drop logged steps after `last_step`: a resumed run repeats the steps after its checkpoint."""
    if not path.is_file():
        return
    kept = [line for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip() and json.loads(line).get("step", 0) <= last_step]
    path.write_text("".join(line + "\n" for line in kept), encoding="utf-8")


def read_loss_log(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


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
        with self.path.open("a", encoding="utf-8") as file:
            file.write(json.dumps(record) + "\n")
