"""Training settings: defaults, a `[train]` table in a TOML file, and explicit options over both."""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

from .errors import TrainingError

METHODS = ("sft", "dpo")
ALL_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
DEFAULT_LEARNING_RATES = {"sft": 1e-3, "dpo": 2e-5}


@dataclass
class TrainConfig:
    """LoRA fine-tuning settings. The defaults store facts (benchmarks/fact_recipe.py): a contract's
    closed-book answer key is memorised, and facts stated in other words answer its value
    questions. On a 2-core CPU the bundled 135M model takes about 2-6 s per SFT step of 4 samples,
    so 120 samples x 10 epochs (300 steps) take 10-30 minutes."""

    method: str = "sft"                  # "sft" (expert answers) or "dpo" (expert over student answers)
    lora_r: int = 16                     # LoRA rank
    lora_alpha: int = 32                 # LoRA scaling numerator (scale = alpha / r)
    lora_dropout: float = 0.05
    # Every linear layer of Llama-style models (SmolLM2, Llama, Qwen, Mistral): attention and MLP.
    # The attention projections alone, at 2e-4 for 2 epochs, learned no fact (fact_recipe.json).
    target_modules: list[str] = field(default_factory=lambda: list(ALL_LINEAR))
    learning_rate: float | None = None   # None: 1e-3 for SFT, 2e-5 for DPO
    epochs: float = 10.0                 # a fact is stored after several passes, not one or two
    max_steps: int = -1                  # > 0 overrides epochs
    batch_size: int = 4                  # per device
    grad_accum: int = 1                  # gradient accumulation steps
    max_length: int = 512                # tokens per sequence (prompt + answer); longer ones are cut
    seed: int = 0
    logging_steps: int = 1
    save_steps: int = 50                 # checkpoint every N optimizer steps (and at the end)
    save_total_limit: int = 2            # checkpoints kept under out_dir/checkpoints
    dpo_beta: float = 0.1                # DPO: how far the policy may move from the base model
    bf16: bool | None = None             # bfloat16 mixed precision; None: on a GPU that supports it
    gradient_checkpointing: bool = False  # recompute activations in the backward pass: less memory, slower

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise TrainingError(f"method: '{self.method}' is not one of {', '.join(METHODS)}")
        if self.learning_rate is None:
            self.learning_rate = DEFAULT_LEARNING_RATES[self.method]
        positive = ("lora_r", "lora_alpha", "batch_size", "grad_accum", "max_length", "logging_steps",
                    "save_steps", "save_total_limit", "epochs", "learning_rate", "dpo_beta")
        for name in positive:
            if getattr(self, name) <= 0:
                raise TrainingError(f"{name}: must be greater than 0, got {getattr(self, name)}")
        if self.max_steps == 0 or self.max_steps < -1:
            raise TrainingError(f"max_steps: must be a positive number of steps or -1, got {self.max_steps}")
        if not 0 <= self.lora_dropout < 1:
            raise TrainingError(f"lora_dropout: must be in [0, 1), got {self.lora_dropout}")
        if not self.target_modules:
            raise TrainingError("target_modules: give at least one module name, e.g. q_proj")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_TYPES: dict[str, tuple[type, ...]] = {
    "method": (str,), "target_modules": (list,), "learning_rate": (int, float), "epochs": (int, float),
    "lora_dropout": (int, float), "dpo_beta": (int, float), "bf16": (bool,),
    "gradient_checkpointing": (bool,),
}


def _check_type(name: str, value: Any, source: str) -> Any:
    expected = _TYPES.get(name, (int,))
    if (isinstance(value, bool) and bool not in expected) or not isinstance(value, expected):
        kind = " or ".join(t.__name__ for t in expected)
        raise TrainingError(f"{source}: {name} must be {kind}, got {value!r}")
    if name == "target_modules" and not all(isinstance(item, str) for item in value):
        raise TrainingError(f"{source}: target_modules must be a list of module names, got {value!r}")
    return float(value) if float in expected else value


def read_train_table(path: str | Path) -> dict[str, Any]:
    """The `[train]` table of a TOML file, with unknown keys and wrong types rejected."""
    file = Path(path)
    if not file.is_file():
        raise TrainingError(f"{file}: config file not found")
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise TrainingError(f"{file}: not valid TOML ({error})") from None
    table = data.get("train")
    if not isinstance(table, dict):
        raise TrainingError(f"{file}: no [train] table")
    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(table) - known)
    if unknown:
        raise TrainingError(f"{file}: unknown setting '{unknown[0]}' in [train] "
                            f"(known: {', '.join(sorted(known))})")
    return {name: _check_type(name, value, f"{file} [train]") for name, value in table.items()}


def load_train_config(config_file: str | Path | None = None, **options: Any) -> TrainConfig:
    """Resolve settings: an explicit option (not None) > the config file's [train] table > the default."""
    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise TrainingError(f"unknown training setting '{unknown[0]}'")
    values = read_train_table(config_file) if config_file is not None else {}
    values.update({name: value for name, value in options.items() if value is not None})
    return TrainConfig(**values)
