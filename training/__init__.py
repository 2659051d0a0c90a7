"""LoRA fine-tuning of the student on an advqa dataset (SFT or DPO), and dataset export."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .config import TrainConfig, load_train_config
from .data import preference_pairs, prompt_completions, read_dataset, to_hf_dataset
from .errors import TrainingError
from .export import FORMATS, export_run
from .train import train

if TYPE_CHECKING:
    from .modeling import load_adapted_model
    from .trainers import build_trainer

# torch, transformers, peft and trl take seconds to import: load them on first use only.
_LAZY = {"build_trainer": ".trainers", "load_adapted_model": ".modeling"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "FORMATS", "TrainConfig", "TrainingError", "build_trainer", "export_run", "load_adapted_model",
    "load_train_config", "preference_pairs", "prompt_completions", "read_dataset",
    "to_hf_dataset", "train",
]
