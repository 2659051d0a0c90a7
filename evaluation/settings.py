"""How `advqa eval` scores a model: prompt style, calibration, batch, precision, sampling."""

from __future__ import annotations

from dataclasses import dataclass

from advqa.settings import setting


@dataclass
class EvalSettings:
    """Scoring settings of `advqa eval` (the [eval] table of a config file); the scorers check the
    values (evaluation/scoring.py, models/local_chat.py)."""

    limit: int | None = setting(None, "Test rows per task, stratified by answer.", env="ADVQA_EVAL_LIMIT",
                                shown_default="all")
    prompt_style: str = setting("few-shot", "few-shot (LegalBench's prompt) | zero-shot (chat template).",
                                env="ADVQA_EVAL_PROMPT_STYLE")
    calibration: str = setting("none", "none | batch (local models: remove each label's mean score in a "
                               "task).", env="ADVQA_EVAL_CALIBRATION")
    batch_size: int = setting(8, "Sequences per forward pass (local models).", env="ADVQA_EVAL_BATCH_SIZE")
    seed: int = setting(0, "Seed for --limit sampling and the bootstrap.", env="ADVQA_EVAL_SEED")
    dtype: str = setting("float32", "float32 | bfloat16 | auto (bfloat16 where the CPU has it; faster).",
                         env="ADVQA_EVAL_DTYPE")
