"""Exporting a run's dataset to the formats other fine-tuning tools read."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ..retrieval.files import write_atomic
from .data import (
    CHAT,
    dataset_kind,
    preference_pairs,
    prompt_and_answer,
    question,
    read_dataset,
    to_hf_dataset,
)
from .errors import TrainingError


def _chat(sample: dict[str, Any]) -> dict[str, Any]:
    prompt, answer = prompt_and_answer(sample)
    return {"messages": [*prompt, answer], "meta": sample.get("meta") or {}}


def _openai(sample: dict[str, Any]) -> dict[str, Any]:
    prompt, answer = prompt_and_answer(sample)
    return {"messages": [*prompt, answer]}


def _alpaca(sample: dict[str, Any]) -> dict[str, Any]:
    prompt, answer = prompt_and_answer(sample)
    return {"instruction": question(prompt), "input": "", "output": answer["content"]}


ROW_FORMATS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "chat": _chat, "openai": _openai, "alpaca": _alpaca,
}
FORMATS = ("chat", "alpaca", "openai", "preference", "hf")


def _write_jsonl(rows: Iterable[dict[str, Any]], out: Path) -> int:
    out.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(row, ensure_ascii=False) + "\n" for row in rows]
    write_atomic(out, "".join(lines))
    return len(lines)


def _hf_row(sample: dict[str, Any]) -> dict[str, Any]:
    # meta keys differ between samples, and Arrow needs one schema: keep meta as JSON text.
    if "text" in sample:
        return {"text": sample["text"], "meta": json.dumps(sample.get("meta") or {}, ensure_ascii=False)}
    prompt, answer = prompt_and_answer(sample)
    return {"messages": [*prompt, answer], "meta": json.dumps(sample.get("meta") or {}, ensure_ascii=False)}


def export_run(run_dir: str | Path, fmt: str, out: str | Path) -> int:
    """Write the dataset of `run_dir` (a run folder or a dataset .jsonl) to `out` in format `fmt`:
    chat, alpaca, openai or preference (JSONL files), or hf (a datasets folder). Returns the row count."""
    if fmt not in FORMATS:
        raise TrainingError(f"format: '{fmt}' is not one of {', '.join(FORMATS)}")
    samples = read_dataset(run_dir)
    out = Path(out)
    if fmt == "hf":
        dataset = to_hf_dataset([_hf_row(sample) for sample in samples])
        dataset.save_to_disk(str(out))
        return len(dataset)
    if dataset_kind(samples) != CHAT:
        raise TrainingError(f"format {fmt}: needs a chat dataset (messages), {run_dir} holds plain text")
    if fmt == "preference":
        pairs = preference_pairs(samples)
        if not pairs:
            raise TrainingError(f"format preference: no sample in {run_dir} has meta.student_answer")
        return _write_jsonl(pairs, out)
    return _write_jsonl((ROW_FORMATS[fmt](sample) for sample in samples), out)
