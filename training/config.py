"""Training settings: defaults, environment, a `[train]` table in a TOML file, and options over them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from advqa.settings import setting

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

    method: str = setting("sft", "sft (on the expert answers) or dpo (expert over student answers).",
                          env="ADVQA_TRAIN_METHOD")
    lora_r: int = setting(16, "LoRA rank.", env="ADVQA_TRAIN_LORA_R")
    lora_alpha: int = setting(32, "LoRA scaling numerator (scale = alpha / r).", env="ADVQA_TRAIN_LORA_ALPHA")
    lora_dropout: float = setting(0.05, "LoRA dropout.", env="ADVQA_TRAIN_LORA_DROPOUT")
    # Every linear layer of Llama-style models (SmolLM2, Llama, Qwen, Mistral): attention and MLP.
    # The attention projections alone, at 2e-4 for 2 epochs, learned no fact (fact_recipe.json).
    target_modules: list[str] = setting(help="Module names LoRA adapts (a list in [train]).", option=False,
                                        default_factory=lambda: list(ALL_LINEAR))
    learning_rate: float | None = setting(None, "Peak learning rate.", env="ADVQA_TRAIN_LEARNING_RATE",
                                          shown_default="1e-3 for sft, 2e-5 for dpo")
    # A fact is stored after several passes, not one or two.
    epochs: float = setting(10.0, "Passes over the dataset.", env="ADVQA_TRAIN_EPOCHS")
    max_steps: int = setting(-1, "Stop after N optimizer steps (overrides epochs; -1: by epochs).",
                             env="ADVQA_TRAIN_MAX_STEPS")
    batch_size: int = setting(4, "Samples per step, per device.", env="ADVQA_TRAIN_BATCH_SIZE")
    group_by_length: bool = setting(
        True, "SFT: batch samples of similar length together (less padding, so faster).",
        env="ADVQA_TRAIN_GROUP_BY_LENGTH")
    grad_accum: int = setting(1, "Gradient accumulation steps.", env="ADVQA_TRAIN_GRAD_ACCUM")
    max_length: int = setting(512, "Tokens per sample (prompt and answer); longer ones are cut.",
                              env="ADVQA_TRAIN_MAX_LENGTH")
    seed: int = setting(0, "Training seed.", env="ADVQA_TRAIN_SEED")
    logging_steps: int = setting(1, "Log the loss every N steps.", env="ADVQA_TRAIN_LOGGING_STEPS")
    save_steps: int = setting(50, "Checkpoint every N optimizer steps (and at the end).",
                              env="ADVQA_TRAIN_SAVE_STEPS")
    save_total_limit: int = setting(2, "Checkpoints kept under OUT/checkpoints.",
                                    env="ADVQA_TRAIN_SAVE_LIMIT")
    dpo_beta: float = setting(0.1, "DPO: how far the policy may move from the base model.",
                              env="ADVQA_TRAIN_DPO_BETA")
    bf16: bool | None = setting(None, "bfloat16 mixed precision.", env="ADVQA_TRAIN_BF16",
                                shown_default="on a GPU with bf16")
    gradient_checkpointing: bool = setting(
        False, "Recompute activations in the backward pass: less memory, slower.",
        env="ADVQA_TRAIN_GRADIENT_CHECKPOINTING")

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
        if not self.target_modules or not all(isinstance(m, str) for m in self.target_modules):
            raise TrainingError("target_modules: give a list of module names, e.g. [\"q_proj\"]")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_train_config(config_file: str | Path | None = None, *, sources: dict[str, str] | None = None,
                      **options: Any) -> TrainConfig:
    """Resolve settings: an explicit option (not None) > the config file's [train] table >
    environment > the default. `sources` receives where each came from."""
    from advqa.settings import ConfigError, read_toml, resolve_settings

    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise TrainingError(f"unknown training setting '{unknown[0]}'")
    try:
        table = None
        if config_file is not None:
            table = read_toml(config_file).get("train")
            if not isinstance(table, dict):
                raise TrainingError(f"{config_file}: no [train] table")
        return resolve_settings(TrainConfig, options=options, table=table, table_name="train",
                                sources=sources)
    except ConfigError as error:
        raise TrainingError(str(error)) from None
