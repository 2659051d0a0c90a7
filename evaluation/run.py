"""Evaluate a model on LegalBench tasks: per-task and macro metrics, a table, a JSON file."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.table import Table

from ..models import DEFAULT_MODEL_SPEC
from ..retrieval.files import write_atomic
from .errors import EvaluationError
from .legalbench import Task, list_tasks, load_task, load_task_from_hub, sample_rows, split_patterns
from .metrics import accuracy, balanced_accuracy, bootstrap_interval, label_shares
from .scoring import (
    INVALID,
    GenerationScorer,
    LoglikScorer,
    check_calibration,
    check_prompt_style,
    choose_labels,
)

LOCAL_KINDS = ("bundled", "hf")
# Called as progress(task_name, rows_done, rows_total) while a task is scored.
TaskProgress = Callable[[str, int, int], None]


def evaluate(model_spec: Any = DEFAULT_MODEL_SPEC, *, adapter: Path | str | None = None,
             legalbench: Path | str | None, tasks: list[str] | str, limit: int | None = None,
             prompt_style: str = "few-shot", seed: int = 0, batch_size: int = 8,
             reference_documents: set[str] | None = None, only_reference: bool = False,
             calibration: str = "none", dtype: str = "float32",
             progress: TaskProgress | None = None) -> dict[str, Any]:
    """Score `model_spec` on the LegalBench tasks matching `tasks` and return the results.

    `legalbench` is a local folder (tasks/<task>/...) or None for the Hugging Face hub (then
    `tasks` are exact names). `bundled:` and `hf:` models are scored by answer log-likelihood
    (`adapter`: a peft adapter folder on top); any other spec or a ready LangChain chat model
    by generation. `limit` keeps that many test rows per task, stratified by answer.
    With `reference_documents`, each task with a `document_name` column also reports rows
    whose document is / is not among them ("in_reference" / "outside_reference"); with
    `only_reference` too, only those rows are evaluated. `calibration="batch"` (local models)
    removes each label's mean log-likelihood over a task's rows before choosing; the
    uncalibrated metrics are kept under "uncalibrated".
    """
    check_prompt_style(prompt_style)
    check_calibration(calibration)
    if only_reference and reference_documents is None:
        raise EvaluationError("evaluating only reference rows needs the reference corpus (--reference)")
    loaded = _load_tasks(legalbench, tasks)
    scorer = _scorer(model_spec, adapter, batch_size, dtype)
    if calibration != "none" and scorer.kind != "loglik":
        raise EvaluationError("calibration needs log-likelihood scoring (a bundled: or hf: model)")
    results: dict[str, Any] = {
        "settings": {
            "model": model_spec if isinstance(model_spec, str) else _chat_label(model_spec),
            "adapter": str(adapter) if adapter else None, "prompt_style": prompt_style, "limit": limit,
            "seed": seed, "batch_size": batch_size, "scorer": scorer.kind,
            "dtype": dtype if scorer.kind == "loglik" else None,
            "legalbench": str(legalbench) if legalbench is not None else "hub:nguha/legalbench",
            "reference_documents": len(reference_documents) if reference_documents is not None else None,
            "only_reference": only_reference, "calibration": calibration,
            "load_seconds": round(scorer.load_seconds, 2),
        },
        "tasks": {},
    }
    for task in loaded:
        rows = _reference_rows(task, reference_documents) if only_reference else task.rows
        rows = sample_rows(rows, limit, seed)

        def report(done: int, total: int, name: str = task.name) -> None:
            if progress:
                progress(name, done, total)

        started = time.perf_counter()
        uncalibrated = None
        if scorer.kind == "loglik":
            scores = scorer.score(task, rows, prompt_style, progress=report)
            predictions = choose_labels(scores, task.labels, calibration)
            if calibration != "none":
                uncalibrated = choose_labels(scores, task.labels)
        else:
            predictions = scorer.predict(task, rows, prompt_style, progress=report)
        seconds = time.perf_counter() - started
        result = task_result(task, rows, predictions, seconds, seed, reference_documents)
        if uncalibrated is not None:
            gold = [row["answer"] for row in rows]
            result["uncalibrated"] = summarize(gold, uncalibrated, task.labels, seed)
        results["tasks"][task.name] = result
    results["macro"] = macro_average(results["tasks"])
    return results


def _reference_rows(task: Task, reference_documents: set[str]) -> list[dict[str, str]]:
    if "document_name" not in task.columns:
        raise EvaluationError(f"{task.name}: rows name no document (no document_name column), "
                              f"so they cannot be limited to the reference corpus")
    rows = [row for row in task.rows if row["document_name"] in reference_documents]
    if not rows:
        raise EvaluationError(f"{task.name}: no test row comes from a contract in the reference corpus")
    return rows


def _load_tasks(legalbench: Path | str | None, tasks: list[str] | str) -> list[Task]:
    patterns = split_patterns(tasks) if isinstance(tasks, str) else list(tasks)
    if legalbench is None:
        wildcards = [p for p in patterns if any(c in p for c in "*?[")]
        if wildcards:
            raise EvaluationError(f"task patterns ({', '.join(wildcards)}) need a local LegalBench "
                                  f"folder; name hub tasks exactly")
        return [load_task_from_hub(name) for name in patterns]
    return [load_task(legalbench, name) for name in list_tasks(legalbench, patterns)]


def _scorer(model_spec: Any, adapter: Path | str | None, batch_size: int, dtype: str):
    if isinstance(model_spec, str) and model_spec.partition(":")[0] in LOCAL_KINDS:
        return LoglikScorer(model_spec, adapter=adapter, batch_size=batch_size, dtype=dtype)
    if adapter:
        raise EvaluationError(f"--adapter needs a local model (bundled: or hf:), not '{model_spec}'")
    from advqa.models import load_chat_model

    # A blank reply is scored as an invalid answer, not retried until the task fails.
    return GenerationScorer(load_chat_model(model_spec, retry_empty=False))


def _chat_label(chat_model: Any) -> str:
    from advqa.models import model_label

    return model_label(chat_model)


def summarize(gold: list[str], pred: list[str], labels: list[str], seed: int = 0) -> dict[str, Any]:
    """n, balanced accuracy with its 95% bootstrap interval, accuracy, prediction shares."""
    if not gold:
        return {"n": 0, "balanced_accuracy": None, "accuracy": None, "ci95": None, "label_shares": {},
                "share_invalid": None}
    low, high = bootstrap_interval(gold, pred, labels, seed=seed)
    return {
        "n": len(gold),
        "balanced_accuracy": balanced_accuracy(gold, pred, labels),
        "accuracy": accuracy(gold, pred),
        "ci95": [low, high],
        "label_shares": label_shares(pred),
        "share_invalid": sum(p == INVALID for p in pred) / len(pred),
    }


def task_result(task: Task, rows: list[dict[str, str]], predictions: list[str], seconds: float, seed: int,
                reference_documents: set[str] | None) -> dict[str, Any]:
    gold = [row["answer"] for row in rows]
    result = {**summarize(gold, predictions, task.labels, seed), "seconds": round(seconds, 2)}
    if reference_documents is not None and "document_name" in task.columns:
        inside = [row["document_name"] in reference_documents for row in rows]
        for key, wanted in (("in_reference", True), ("outside_reference", False)):
            kept = [i for i, flag in enumerate(inside) if flag == wanted]
            result[key] = summarize([gold[i] for i in kept], [predictions[i] for i in kept], task.labels,
                                    seed)
    result["predictions"] = [{"index": row.get("index"), "answer": answer, "prediction": prediction}
                             for row, answer, prediction in zip(rows, gold, predictions)]
    return result


def macro_average(task_results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Unweighted means over tasks (LegalBench's way of averaging), and the same per reference split."""
    macro: dict[str, Any] = {"tasks": len(task_results)}
    for metric in ("balanced_accuracy", "accuracy", "share_invalid"):
        macro[metric] = _mean([r[metric] for r in task_results.values()])
    if all("uncalibrated" in r for r in task_results.values()) and task_results:
        macro["uncalibrated"] = {"balanced_accuracy": _mean([r["uncalibrated"]["balanced_accuracy"]
                                                             for r in task_results.values()])}
    for split in ("in_reference", "outside_reference"):
        parts = [r[split] for r in task_results.values() if split in r]
        if parts:
            macro[split] = {"n": sum(p["n"] for p in parts),
                            "balanced_accuracy": _mean([p["balanced_accuracy"] for p in parts])}
    return macro


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None and not math.isnan(v)]
    return sum(present) / len(present) if present else None


def format_table(results: dict[str, Any]) -> Table:
    """A rich table: one row per task, then the macro average."""
    settings = results["settings"]
    title = f"{settings['model']}" + (f" + {settings['adapter']}" if settings.get("adapter") else "")
    table = Table(title=f"LegalBench: {title} ({settings['prompt_style']})")
    with_reference = any("in_reference" in r for r in results["tasks"].values())
    table.add_column("task", no_wrap=True)
    for header in ("n", "bal. acc. [95% CI]", "acc.", "predicted", "invalid"):
        table.add_column(header, justify="left" if header == "predicted" else "right")
    if with_reference:
        table.add_column("in reference (n)", justify="right")
        table.add_column("outside (n)", justify="right")
    table.add_column("seconds", justify="right")
    for name, result in results["tasks"].items():
        cells = [name, str(result["n"]), _with_interval(result), _number(result["accuracy"]),
                 ", ".join(f"{label} {share:.0%}" for label, share in result["label_shares"].items()),
                 _number(result["share_invalid"])]
        if with_reference:
            cells += [_split(result.get("in_reference")), _split(result.get("outside_reference"))]
        table.add_row(*cells, f"{result['seconds']:.1f}")
    macro = results["macro"]
    cells = ["macro", "", _number(macro["balanced_accuracy"]), _number(macro["accuracy"]), "",
             _number(macro["share_invalid"])]
    if with_reference:
        cells += [_split(macro.get("in_reference")), _split(macro.get("outside_reference"))]
    table.add_row(*cells, "", style="bold")
    return table


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _with_interval(result: dict[str, Any]) -> str:
    if result["balanced_accuracy"] is None:
        return "-"
    low, high = result["ci95"]
    return f"{result['balanced_accuracy']:.3f} [{low:.2f}, {high:.2f}]"


def _split(part: dict[str, Any] | None) -> str:
    return "-" if part is None else f"{_number(part['balanced_accuracy'])} ({part['n']})"


def write_results(results: dict[str, Any], path: Path | str) -> Path:
    """Write the results as JSON (parent folders created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_atomic(path, json.dumps(results, indent=2, ensure_ascii=False) + "\n")
