"""Log-likelihoods of answer choices after a prompt, batched, for local causal language models."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

from .errors import ModelError

# Below this many shared prompt tokens a key/value cache saves less than copying it costs.
MIN_SHARED_PREFIX = 16
Progress = Callable[[int, int], None]


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
                raise ModelError(f"empty prompt or answer choice '{choice}' after tokenization")
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


def mean_logprobs(model, tokenizer, prompt: str, choices: list[str], *,
                  add_special_tokens: bool = False) -> list[float]:
    """Each choice's log-probability after `prompt`, per token (the length-normalised score)."""
    sums = score_choices(model, tokenizer, [prompt], [choices], add_special_tokens=add_special_tokens)[0]
    counts = [len(encode_choice(tokenizer, prompt, c, add_special_tokens)[1]) for c in choices]
    return [total / max(count, 1) for total, count in zip(sums, counts)]

