"""Predict a row's label: local models by answer log-likelihood, API models by generation and parsing."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..models import DEFAULT_MODEL_SPEC
from ..models.likelihood import score_choices
from .errors import EvaluationError
from .legalbench import Task, first_line
from .prompting import PROMPT_STYLES, few_shot_prompt, zero_shot_messages

INVALID = "invalid"
Progress = Callable[[int, int], None]


CALIBRATIONS = ("none", "batch")


def check_prompt_style(prompt_style: str) -> None:
    if prompt_style not in PROMPT_STYLES:
        raise EvaluationError(f"unknown prompt style '{prompt_style}' (use {' or '.join(PROMPT_STYLES)})")


def choice_logprob(model, tokenizer, prompt: str, choice: str, *, add_special_tokens: bool = True) -> float:
    """log P(choice | prompt): the choice tokens' log-probabilities under the model, summed."""
    return score_choices(model, tokenizer, [prompt], [[choice]], add_special_tokens=add_special_tokens)[0][0]


def load_scoring_model(model_spec: str, adapter: Path | str | None = None, dtype: str = "float32"):
    """Tokenizer and causal LM for a `bundled:` or `hf:` spec, with a peft (LoRA) adapter on top."""
    adapter = Path(adapter) if adapter is not None else None
    if adapter is not None and not (adapter / "adapter_config.json").is_file():
        raise EvaluationError(f"{adapter}: not an adapter folder (no adapter_config.json)")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from advqa.models import checkpoint_path
    from advqa.models.local_chat import resolve_dtype

    checkpoint = checkpoint_path(model_spec)
    # A tokenizer saved with the adapter is the one it was trained with (its chat template too).
    tokenizer_source = adapter if adapter and (adapter / "tokenizer_config.json").is_file() else checkpoint
    try:
        tokenizer = AutoTokenizer.from_pretrained(tokenizer_source)
        model = AutoModelForCausalLM.from_pretrained(checkpoint, dtype=resolve_dtype(dtype))
    except (OSError, ValueError) as error:
        raise EvaluationError(f"{checkpoint}: cannot load the model: {first_line(error)}") from None
    if adapter is not None:
        model = _with_adapter(model, adapter)
    model.eval()
    return model, tokenizer


def _with_adapter(model, adapter: Path):
    try:
        from peft import PeftModel
    except ImportError:
        raise EvaluationError("--adapter needs peft: pip install peft") from None
    try:
        return PeftModel.from_pretrained(model, str(adapter))
    except (OSError, ValueError, RuntimeError, KeyError) as error:
        raise EvaluationError(f"{adapter}: cannot load the adapter: {first_line(error)}") from None


class LoglikScorer:
    """Scores every label as a continuation of the row's prompt and predicts the most likely one.

    few-shot: LegalBench's prompt, the label after a space ("Label: Yes").
    zero-shot: the chat template with the generation prompt, the label as the reply's start.
    """

    kind = "loglik"

    def __init__(self, model_spec: str = DEFAULT_MODEL_SPEC, adapter: Path | str | None = None,
                 batch_size: int = 8, dtype: str = "float32"):
        started = time.perf_counter()
        self.model, self.tokenizer = load_scoring_model(model_spec, adapter, dtype)
        self.load_seconds = time.perf_counter() - started
        self.batch_size = batch_size

    def prompts(self, task: Task, rows: list[dict[str, str]],
                prompt_style: str) -> tuple[list[str], list[str]]:
        """The prompt texts and the choice texts that follow them, for this style."""
        check_prompt_style(prompt_style)
        if prompt_style == "few-shot":
            return [few_shot_prompt(task, row) for row in rows], [f" {label}" for label in task.labels]
        if not getattr(self.tokenizer, "chat_template", None):
            raise EvaluationError("this model has no chat template: use --prompt-style few-shot")
        return [self.tokenizer.apply_chat_template(zero_shot_messages(task, row), add_generation_prompt=True,
                                                   tokenize=False) for row in rows], list(task.labels)

    def score(self, task: Task, rows: list[dict[str, str]], prompt_style: str = "few-shot",
              progress: Progress | None = None) -> list[list[float]]:
        prompts, choices = self.prompts(task, rows, prompt_style)
        return score_choices(self.model, self.tokenizer, prompts, [choices] * len(prompts),
                             add_special_tokens=prompt_style == "few-shot", batch_size=self.batch_size,
                             progress=progress)

    def predict(self, task: Task, rows: list[dict[str, str]], prompt_style: str = "few-shot",
                progress: Progress | None = None, calibration: str = "none") -> list[str]:
        return choose_labels(self.score(task, rows, prompt_style, progress), task.labels, calibration)


def check_calibration(calibration: str) -> None:
    if calibration not in CALIBRATIONS:
        raise EvaluationError(f"unknown calibration '{calibration}' (choose {' or '.join(CALIBRATIONS)})")


def choose_labels(scores: list[list[float]], labels: list[str], calibration: str = "none") -> list[str]:
    """The best-scoring label per row. "batch" calibration (Zhou et al. 2024, Batch Calibration)
    first subtracts each label's mean score over the rows, removing the model's prior for a label
    that no row's content supports; it needs the whole batch of rows, as an evaluation has."""
    check_calibration(calibration)
    if calibration == "batch" and scores:
        means = [sum(row[j] for row in scores) / len(scores) for j in range(len(labels))]
        scores = [[value - mean for value, mean in zip(row, means)] for row in scores]
    return [labels[max(range(len(row)), key=row.__getitem__)] for row in scores]


def parse_label(reply: str, labels: list[str]) -> str:
    """The first label word in a reply, case-insensitively ("Yes.", "no, because"); else INVALID."""
    alternatives = "|".join(re.escape(label) for label in sorted(labels, key=len, reverse=True))
    match = re.search(rf"(?<!\w)({alternatives})(?!\w)", reply, re.IGNORECASE)
    if not match:
        return INVALID
    return next(label for label in labels if label.lower() == match.group(1).lower())


class GenerationScorer:
    """Asks a chat model (API or local) for each row's label and parses its reply."""

    kind = "generation"

    def __init__(self, chat_model: Any, max_concurrency: int = 4):
        self.chat_model = chat_model
        self.max_concurrency = max_concurrency
        self.load_seconds = 0.0
        self.replies: list[str] = []

    def predict(self, task: Task, rows: list[dict[str, str]], prompt_style: str = "few-shot",
                progress: Progress | None = None) -> list[str]:
        check_prompt_style(prompt_style)
        if prompt_style == "few-shot":
            inputs = [[("user", few_shot_prompt(task, row))] for row in rows]
        else:
            inputs = [[(m["role"], m["content"]) for m in zero_shot_messages(task, row)] for row in rows]
        try:
            replies = self.chat_model.batch(inputs, config={"max_concurrency": self.max_concurrency})
        except Exception as error:  # noqa: BLE001 - providers raise many types; report one line
            raise EvaluationError(f"{task.name}: the model call failed: {first_line(error)}") from None
        self.replies = [_text(reply) for reply in replies]
        if progress:
            progress(len(rows), len(rows))
        return [parse_label(reply, task.labels) for reply in self.replies]


def _text(message: Any) -> str:
    content = getattr(message, "content", message)
    if isinstance(content, list):  # content blocks
        return " ".join(block.get("text", "") if isinstance(block, dict) else str(block) for block in content)
    return str(content)
