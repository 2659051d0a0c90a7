"""Find evaluation results (`advqa eval --out`) and sample-efficiency benchmark results JSON files."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..campaign.files import STATS
from .errors import ReportError

MAX_RESULT_BYTES = 50 * 1024 * 1024  # larger JSON files in a run folder are not results


@dataclass
class ResultFile:
    path: Path
    kind: str  # "evaluation" (keys tasks, macro) or "benchmark" (keys machine, settings, methods)
    data: dict[str, Any]


def kind_of(data: Any) -> str | None:
    """Which kind of results a parsed JSON value is, or None."""
    if not isinstance(data, dict):
        return None
    if {"machine", "settings", "methods"} <= set(data) and isinstance(data["methods"], dict):
        return "benchmark"
    if isinstance(data.get("tasks"), dict) and isinstance(data.get("macro"), dict):
        return "evaluation"
    return None


def _read(path: Path) -> Any:
    try:
        if path.stat().st_size > MAX_RESULT_BYTES:
            return None
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None


def find_results(run: Path, extra: list[Path]) -> list[ResultFile]:
    """Results JSON files in the run folder (and its sub-folders, one level down), then `extra`.

    Files in the run folder that are not results are skipped; an `extra` file that is not one is
    an error.
    """
    found: list[ResultFile] = []
    seen: set[Path] = set()
    candidates = sorted(run.glob("*.json")) + sorted(run.glob("*/*.json"))
    for path in candidates:
        if path.name == STATS or path.parent.name == "index":
            continue
        data = _read(path)
        kind = kind_of(data)
        if kind:
            found.append(ResultFile(path, kind, data))
            seen.add(path.resolve())
    for path in extra:
        path = Path(path)
        if path.resolve() in seen:
            continue
        if not path.is_file():
            raise ReportError(f"{path}: results file not found")
        data = _read(path)
        kind = kind_of(data)
        if kind is None:
            raise ReportError(f"{path}: not an evaluation results file (keys 'tasks' and 'macro') "
                              "nor a benchmark results file (keys 'machine', 'settings', 'methods')")
        found.append(ResultFile(path, kind, data))
        seen.add(path.resolve())
    return found
