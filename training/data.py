"""Reading advqa datasets (chat samples or plain-text corpora) and shaping them for trl."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..campaign.files import DATASET
from .errors import TrainingError

if TYPE_CHECKING:
    from datasets import Dataset

CHAT = "chat"
TEXT = "text"
ROLES = ("system", "user", "assistant")

log = logging.getLogger(__name__)


def _check_messages(line_ref: str, messages: Any) -> None:
    if not isinstance(messages, list):
        raise TrainingError(f"{line_ref}: 'messages' must be a list")
    for message in messages:
        if not (isinstance(message, dict) and message.get("role") in ROLES
                and isinstance(message.get("content"), str)):
            raise TrainingError(f"{line_ref}: each message needs a role ({', '.join(ROLES)}) "
                                "and text content")
    answers = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
    if not answers:
        raise TrainingError(f"{line_ref}: messages have no assistant message")
    if not messages[answers[-1]]["content"].strip():
        raise TrainingError(f"{line_ref}: the assistant message is empty")
    if not any(m["role"] == "user" and m["content"].strip() for m in messages[:answers[-1]]):
        raise TrainingError(f"{line_ref}: messages have no user message before the assistant's")


def _validate(line_ref: str, sample: Any) -> str:
    """The kind of one parsed line (chat or text), or a TrainingError naming the line."""
    if not isinstance(sample, dict):
        raise TrainingError(f"{line_ref}: expected a JSON object")
    if sample.get("meta") is not None and not isinstance(sample["meta"], dict):
        raise TrainingError(f"{line_ref}: 'meta' must be an object")
    if "messages" in sample:
        _check_messages(line_ref, sample["messages"])
        return CHAT
    if "text" in sample:
        if not isinstance(sample["text"], str) or not sample["text"].strip():
            raise TrainingError(f"{line_ref}: 'text' is empty")
        return TEXT
    raise TrainingError(f"{line_ref}: expected 'messages' (chat sample) or 'text' (plain text)")


def _parses(line: bytes) -> bool:
    try:
        json.loads(line.decode("utf-8"))
    except ValueError:  # JSONDecodeError, or UnicodeDecodeError in a line cut mid-character
        return False
    return True


def read_dataset(path: str | Path) -> list[dict[str, Any]]:
    """All samples of a dataset JSONL file, validated; every line must be of one kind (chat or text)."""
    file = Path(path)
    if file.is_dir():
        file = file / DATASET
    if not file.is_file():
        raise TrainingError(f"{file}: dataset not found")
    samples: list[dict[str, Any]] = []
    first_kind: tuple[str, int] | None = None
    raw = file.read_bytes()
    body, newline, last = raw.rpartition(b"\n")
    if last.strip() and not _parses(last):
        # A campaign killed mid-append leaves a partial last line without its newline.
        log.warning("%s: skipped a torn last line (no trailing newline, not valid JSON)", file)
        raw = body + newline
    try:
        lines = raw.decode("utf-8").split("\n")  # not splitlines(): JSON text may hold U+2028
    except UnicodeDecodeError:
        raise TrainingError(f"{file}: not UTF-8 text") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        line_ref = f"{file}:{number}"
        try:
            sample = json.loads(line)
        except json.JSONDecodeError as error:
            raise TrainingError(f"{line_ref}: not valid JSON ({error.msg})") from None
        kind = _validate(line_ref, sample)
        if first_kind is None:
            first_kind = (kind, number)
        elif kind != first_kind[0]:
            raise TrainingError(f"{line_ref}: a {kind} sample, but line {first_kind[1]} "
                                f"is a {first_kind[0]} sample; use one kind per file")
        samples.append(sample)
    if not samples:
        raise TrainingError(f"{file}: dataset is empty")
    return samples


def dataset_kind(samples: list[dict[str, Any]]) -> str:
    """CHAT or TEXT: the kind of the samples (read_dataset guarantees they share it)."""
    return CHAT if "messages" in samples[0] else TEXT


def prompt_and_answer(sample: dict[str, Any]) -> tuple[list[dict[str, str]], dict[str, str]]:
    """A chat sample's last assistant message, and the messages before it (the prompt)."""
    messages = [{"role": m["role"], "content": m["content"]} for m in sample["messages"]]
    last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
    return messages[:last], messages[last]


def question(prompt: list[dict[str, str]]) -> str:
    """The last user message of a prompt."""
    return next(m["content"] for m in reversed(prompt) if m["role"] == "user")


def student_answer(sample: dict[str, Any]) -> str | None:
    answer = (sample.get("meta") or {}).get("student_answer")
    return answer if isinstance(answer, str) and answer.strip() else None


def prompt_completions(samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Chat samples in trl's conversational prompt-completion form, so SFT loss covers the answer only."""
    rows = []
    for sample in samples:
        prompt, answer = prompt_and_answer(sample)
        rows.append({"prompt": prompt, "completion": [answer]})
    return rows


def preference_pairs(samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Conversational preference pairs: the expert's answer chosen over the student's.
    Samples without a student answer are skipped."""
    pairs = []
    for sample in samples:
        rejected = student_answer(sample)
        if rejected is None:
            continue
        prompt, answer = prompt_and_answer(sample)
        pairs.append({"prompt": prompt, "chosen": [answer],
                      "rejected": [{"role": "assistant", "content": rejected}]})
    return pairs


def texts(samples: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Plain-text samples as trl language-modeling rows."""
    return [{"text": sample["text"]} for sample in samples]


def to_hf_dataset(rows: list[dict[str, Any]]) -> Dataset:
    """A `datasets.Dataset` from rows that share their keys."""
    from datasets import Dataset

    return Dataset.from_list(rows)


def tokens_per_pass(samples: list[dict[str, Any]], tokenizer: Any, method: str = "sft",
                    max_length: int | None = None) -> int:
    """The tokens one pass over the samples feeds the student, as its trainer builds them: a chat
    sample in the tokenizer's chat template (DPO: the prompt with each of its two answers), a text
    sample with its end-of-text token; each cut at `max_length`. What matching training compute
    across corpora counts."""
    def length(ids: Any) -> int:
        ids = ids["input_ids"] if hasattr(ids, "keys") else ids  # a BatchEncoding, or a list of ids
        return len(ids) if max_length is None else min(len(ids), max_length)

    if dataset_kind(samples) == TEXT:
        return sum(length(tokenizer(row["text"])["input_ids"]) + 1 for row in texts(samples))
    if method == "dpo":
        conversations = [pair["prompt"] + pair[side] for pair in preference_pairs(samples)
                         for side in ("chosen", "rejected")]
    else:
        conversations = [row["prompt"] + row["completion"] for row in prompt_completions(samples)]
    return sum(length(tokenizer.apply_chat_template(messages, tokenize=True)) for messages in conversations)
