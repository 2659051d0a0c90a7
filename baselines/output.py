"""Where a baseline's files go, and writing its JSONL and stats."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TextIO

from ..retrieval.files import write_atomic
from .generation import Item


def stats_path(out: Path) -> Path:
    """corpus.jsonl -> corpus.stats.json"""
    return out.with_suffix(".stats.json")


def traces_path(out: Path) -> Path:
    """corpus.jsonl -> corpus.traces.jsonl"""
    return out.with_suffix(".traces.jsonl")


def write_item(handle: TextIO, item: Item) -> None:
    handle.write(json.dumps(item.to_json(), ensure_ascii=False) + "\n")
    handle.flush()


def write_stats(out: Path, stats: dict[str, Any]) -> Path:
    return write_atomic(stats_path(out), json.dumps(stats, indent=2, ensure_ascii=False) + "\n")


def read_items(out: str | Path) -> list[dict[str, Any]]:
    """The lines of a baseline JSONL, as dicts."""
    lines = Path(out).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]
