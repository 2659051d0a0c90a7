"""Predict a row's label: local models by answer log-likelihood, API models by generation and parsing."""

from __future__ import annotations

import copy
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import EvaluationError
from .legalbench import Task, first_line
from .prompting import PROMPT_STYLES, few_shot_prompt, zero_shot_messages

INVALID = "invalid"
# Below this many shared prompt tokens a key/value cache saves less than copying it costs.
MIN_SHARED_PREFIX = 16
Progress = Callable[[int, int], None]


CALIBRATIONS = ("none", "batch")


def check_prompt_style(prompt_style: str) -> None:
    if prompt_style not in PROMPT_STYLES:
        raise EvaluationError(f"unknown prompt style '{prompt_style}' (use {' or '.join(PROMPT_STYLES)})")


@dataclass
class _Item:
    """One (prompt, choice) pair: the choice tokens are predicted at `positions` of `input_ids`."""

    prompt_index: int
    choice_index: int
    input_ids: tuple[int, ...]
    positions: list[int]
    targets: list[int]


def encode_choice(tokenizer, prompt: str, choice: str,
                  add_special_tokens: bool) -> tuple[list[int], list[int]]:
    """Token ids of the prompt and of the choice as it continues the prompt.

    The choice's tokens are read off the tokenization of prompt+choice, so they are the tokens
    the model would see in running text; when the prompt's own tokens change at the seam, the
    choice is encoded on its own instead.
    """
    context = tokenizer(prompt, add_special_tokens=add_special_tokens)["input_ids"]
    whole = tokenizer(prompt + choice, add_special_tokens=add_special_tokens)["input_ids"]
    if whole[:len(context)] == context and len(whole) > len(context):
        return context, whole[len(context):]
    return context, tokenizer(choice, add_special_tokens=False)["input_ids"]


def _items(tokenizer, prompts: list[str], choices: list[list[str]], add_special_tokens: bool,
           max_length: int | None) -> list[_Item]:
    items = []
    for prompt_index, (prompt, options) in enumerate(zip(prompts, choices)):
        for choice_index, choice in enumerate(options):
            context, targets = encode_choice(tokenizer, prompt, choice, add_special_tokens)
            if not context or not targets:
                raise EvaluationError(f"empty prompt or answer choice '{choice}' after tokenization")
            input_ids = context + targets[:-1]
            start = len(context) - 1
            if max_length and len(input_ids) > max_length:
                # Keep the end of an over-long prompt: the row and the answer cue are there.
                cut = len(input_ids) - max_length
                input_ids, start = input_ids[cut:], start - cut
            items.append(_Item(prompt_index, choice_index, tuple(input_ids),
                                list(range(start, start + len(targets))), targets))
    return items


def score_choices(model, tokenizer, prompts: list[str], choices: list[list[str]], *,
                  add_special_tokens: bool = True, batch_size: int = 8,
                  progress: Progress | None = None) -> list[list[float]]:
    """Summed log-probability of each choice's tokens after its prompt, `scores[prompt][choice]`.

    Pairs that feed the model the same tokens (single-token choices after one prompt) share one
    sequence. The tokens every sequence starts with (a task's few-shot examples) run through the
    model once and their key/value cache is reused by every batch. The rest runs longest first,
    `batch_size` sequences at a time, right-padded with an attention mask, and only the positions
    that predict choice tokens are projected to logits.
    """
    import torch

    max_length = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    items = _items(tokenizer, prompts, choices, add_special_tokens, max_length)
    scores = [[0.0] * len(options) for options in choices]
    if not items:
        return scores
    sequences: dict[tuple[int, ...], list[_Item]] = {}
    for item in items:
        sequences.setdefault(item.input_ids, []).append(item)
    ordered = sorted(sequences, key=len, reverse=True)
    shared = shared_prefix_length(ordered, min(item.positions[0] for item in items))
    device = next(model.parameters()).device
    prefix_cache = _prefix_cache(model, ordered[0][:shared], device) if shared else None
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id or 0
    for first in range(0, len(ordered), batch_size):
        batch = ordered[first:first + batch_size]
        width = len(batch[0]) - shared
        ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), shared + width), dtype=torch.long)
        mask[:, :shared] = 1
        count = max(len(sequences[s][0].positions) for s in batch)
        positions = torch.zeros((len(batch), count), dtype=torch.long)
        for row, sequence in enumerate(batch):
            ids[row, :len(sequence) - shared] = torch.tensor(sequence[shared:])
            mask[row, shared:len(sequence)] = 1
            wanted = [p - shared for p in sequences[sequence][0].positions]
            positions[row] = torch.tensor(wanted + [wanted[-1]] * (count - len(wanted)))
        cache = None
        if prefix_cache is not None:
            cache = copy.deepcopy(prefix_cache)
            cache.batch_repeat_interleave(len(batch))
        logits = _position_logits(model, ids.to(device), mask.to(device), positions.to(device), cache)
        logprobs = logits.float().log_softmax(-1).cpu()
        for row, sequence in enumerate(batch):
            for item in sequences[sequence]:
                picked = logprobs[row, torch.arange(len(item.targets)), torch.tensor(item.targets)]
                scores[item.prompt_index][item.choice_index] = float(picked.sum())
        if progress:
            progress(min(first + batch_size, len(ordered)), len(ordered))
    return scores


def shared_prefix_length(sequences: list[tuple[int, ...]], limit: int) -> int:
    """How many leading tokens all sequences share, at most `limit`; 0 when too few to be worth a cache."""
    first = sequences[0]
    length = min(limit, *(len(sequence) for sequence in sequences))
    for sequence in sequences[1:]:
        length = next((i for i in range(length) if sequence[i] != first[i]), length)
    return length if length >= MIN_SHARED_PREFIX else 0


def _prefix_cache(model, prefix: tuple[int, ...], device):
    import torch

    with torch.inference_mode():
        ids = torch.tensor([prefix], device=device)
        return model(input_ids=ids, attention_mask=torch.ones_like(ids), use_cache=True,
                     logits_to_keep=1).past_key_values


def _position_logits(model, ids, mask, positions, cache=None):
    """Logits at `positions` (batch x k) only, through transformers' `logits_to_keep`."""
    import torch

    options = {"past_key_values": cache, "use_cache": cache is not None}
    with torch.inference_mode():
        try:
            return model(input_ids=ids, attention_mask=mask, logits_to_keep=positions, **options).logits
        except TypeError:  # a model without logits_to_keep: project every position, then pick
            logits = model(input_ids=ids, attention_mask=mask, **options).logits
            return logits[torch.arange(ids.shape[0]).unsqueeze(1), positions]


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

    def __init__(self, model_spec: str = "bundled:smollm2-135m", adapter: Path | str | None = None,
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
