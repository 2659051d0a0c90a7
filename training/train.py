"""One LoRA fine-tuning run: dataset in, adapter, tokenizer, config, loss log and checkpoints out."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from ..retrieval.files import write_atomic
from .config import TrainConfig
from .data import read_dataset
from .errors import TrainingError

CONFIG_FILE = "train_config.json"
LOSS_FILE = "loss.jsonl"
CHECKPOINTS_DIR = "checkpoints"
MERGED_DIR = "merged"
# Settings that shape the adapter and its optimizer state: a checkpoint cannot resume under others.
RESUME_KEYS = ("model", "method", "lora_r", "lora_alpha", "target_modules")


def _run_record(config: TrainConfig, model_spec: str, dataset_path: Path, samples: int) -> dict[str, Any]:
    return {"model": model_spec, "dataset": str(dataset_path.resolve()), "samples": samples,
            **config.to_dict()}


def _check_resumable(out_dir: Path, record: dict[str, Any]) -> None:
    previous_file = out_dir / CONFIG_FILE
    if not previous_file.is_file():
        return
    previous = json.loads(previous_file.read_text(encoding="utf-8"))
    for key in RESUME_KEYS:
        if previous.get(key) != record[key]:
            raise TrainingError(f"{out_dir}: holds checkpoints of a run with {key}={previous.get(key)!r}, "
                                f"not {record[key]!r}; use another --out to start a new run")


def is_main_process() -> bool:
    """False in every process but the first under torchrun / `accelerate launch` (RANK > 0)."""
    return int(os.environ.get("RANK", "0")) == 0


def _checkpoint_step(checkpoint: str | None) -> int:
    if checkpoint is None:
        return 0
    state = json.loads((Path(checkpoint) / "trainer_state.json").read_text(encoding="utf-8"))
    return int(state["global_step"])


def train(dataset_path: str | Path, model_spec: str, out_dir: str | Path, config: TrainConfig | None = None,
          *, merge: bool = False) -> dict[str, Any]:
    """Fine-tune a LoRA adapter on `model_spec` and save it in `out_dir`; re-running with the same
    `out_dir` resumes from its last checkpoint. Returns a summary of the run."""
    # torch, transformers, peft and trl take seconds to import: `import advqa.training` stays light.
    from transformers.trainer_utils import get_last_checkpoint

    from .loss_log import LossLogger, read_loss_log, truncate_loss_log
    from .trainers import build_trainer

    started = time.perf_counter()
    config = config or TrainConfig()
    dataset_path, out_dir = Path(dataset_path), Path(out_dir)
    samples = read_dataset(dataset_path)
    record = _run_record(config, model_spec, dataset_path, len(samples))

    checkpoints_dir = out_dir / CHECKPOINTS_DIR
    last_checkpoint = get_last_checkpoint(str(checkpoints_dir)) if checkpoints_dir.is_dir() else None
    if last_checkpoint:
        _check_resumable(out_dir, record)
    out_dir.mkdir(parents=True, exist_ok=True)
    loss_file = out_dir / LOSS_FILE
    # Read now: training goes on to delete the checkpoint it resumed from (save_total_limit).
    resumed_from = _checkpoint_step(last_checkpoint)
    main = is_main_process()
    if main:  # under a multi-process launcher every process runs this function; one writes the files
        write_atomic(out_dir / CONFIG_FILE, json.dumps(record, indent=2) + "\n")
        truncate_loss_log(loss_file, resumed_from)

    trainer = build_trainer(samples, model_spec, checkpoints_dir, config, callbacks=[LossLogger(loss_file)])
    trainer.train(resume_from_checkpoint=last_checkpoint)
    trainer.save_model(str(out_dir))  # main process only: adapter_model.safetensors, config, tokenizer
    trainable = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    if merge and main:
        merged = trainer.model.merge_and_unload()
        merged.save_pretrained(out_dir / MERGED_DIR)
        trainer.processing_class.save_pretrained(out_dir / MERGED_DIR)

    losses = read_loss_log(loss_file)
    return {
        "out_dir": str(out_dir),
        "processes": int(os.environ.get("WORLD_SIZE", "1")),
        "main_process": main,
        "method": config.method,
        "samples": len(samples),
        "train_rows": len(trainer.train_dataset),
        "steps": trainer.state.global_step,
        "resumed_from_step": resumed_from,
        "final_loss": losses[-1]["loss"] if losses else None,
        "trainable_parameters": trainable,
        "seconds": round(time.perf_counter() - started, 2),
    }
