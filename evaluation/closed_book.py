"""Closed-book questions about reference contracts (../shared/cuad_qa): what a model knows of them."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import EvaluationError
from .metrics import accuracy, balanced_accuracy, bootstrap_interval

KINDS = ("choice", "yes_no")
INVALID = -1  # an API model's reply that names no choice


@dataclass(frozen=True)
class QARow:
    """One closed-book question: the contract it is about, its choices and the right one."""

    id: str
    document: str
    category: str
    kind: str  # "choice" (four values) or "yes_no"
    question: str
    choices: tuple[str, ...]
    answer: int


def read_qa(path: Path, documents: set[str] | None = None, limit: int | None = None,
            seed: int = 0) -> list[QARow]:
    """Rows of a cuad_qa JSONL file; with `documents`, only those whose contract file name (or
    path) is among them; with `limit`, that many drawn at random (`seed`), in file order."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise EvaluationError(f"{path}: cannot read the questions ({error})") from None
    rows = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            row = QARow(str(data["id"]), str(data["document"]), str(data.get("category", "")),
                        str(data["kind"]), str(data["question"]), tuple(str(c) for c in data["choices"]),
                        int(data["answer"]))
        except (ValueError, KeyError, TypeError) as error:
            raise EvaluationError(f"{path}:{number}: not a question row ({error})") from None
        if row.kind not in KINDS or not 0 <= row.answer < len(row.choices):
            raise EvaluationError(f"{path}:{number}: kind must be one of {KINDS} and answer a choice index")
        if documents is None or row.document in documents or Path(row.document).name in documents:
            rows.append(row)
    if documents is not None and not rows:
        raise EvaluationError(f"{path}: no question is about {', '.join(sorted(documents)[:3])}"
                              + (" ..." if len(documents) > 3 else ""))
    if limit is not None and limit < len(rows):
        keep = set(np.random.default_rng(seed).choice(len(rows), size=limit, replace=False).tolist())
        rows = [row for index, row in enumerate(rows) if index in keep]
    return rows


def predict_by_likelihood(model, tokenizer, rows: list[QARow], batch_size: int = 8,
                          progress: Callable[[int, int], None] | None = None) -> list[int]:
    """Each row's choice with the highest log-likelihood per token as the assistant's reply to its
    question in the model's chat template. Per token, because the choices differ in length (a date
    against another date, "Yes" against "No"): a summed score favours the shortest."""
    from ..models.likelihood import encode_choice, score_choices

    prompts = [tokenizer.apply_chat_template([{"role": "user", "content": row.question}],
                                             add_generation_prompt=True, tokenize=False) for row in rows]
    choices = [list(row.choices) for row in rows]
    sums = score_choices(model, tokenizer, prompts, choices, add_special_tokens=False,
                         batch_size=batch_size, progress=progress)
    predictions = []
    for prompt, options, totals in zip(prompts, choices, sums):
        counts = [len(encode_choice(tokenizer, prompt, option, False)[1]) for option in options]
        means = [total / max(count, 1) for total, count in zip(totals, counts)]
        predictions.append(int(np.argmax(means)))
    return predictions


def match_choice(reply: str, choices: tuple[str, ...]) -> int:
    """The choice an API model's reply names: the one it starts with, else the only one it
    contains (INVALID when none or several)."""
    text = " ".join(reply.lower().split())
    for index, choice in enumerate(choices):
        if re.match(rf"\W*{re.escape(choice.lower())}\b", text):
            return index
    found = [i for i, c in enumerate(choices) if re.search(rf"\b{re.escape(c.lower())}\b", text)]
    return found[0] if len(found) == 1 else INVALID


def predict_by_generation(chat_model, rows: list[QARow]) -> list[int]:
    """An API model answers each question with its choices listed; the reply is matched to one."""
    predictions = []
    for row in rows:
        listed = "\n".join(f"- {choice}" for choice in row.choices)
        reply = chat_model.invoke(f"{row.question}\nAnswer with one of:\n{listed}")
        predictions.append(match_choice(str(reply.content), row.choices))
    return predictions


def score_rows(rows: list[QARow], predictions: list[int], seed: int = 0) -> dict[str, Any]:
    """Accuracy on `choice` rows and balanced accuracy on `yes_no` rows, each with a 95% bootstrap
    interval and n, overall and per category; and every row's prediction (for --baseline)."""
    def summary(selected: list[tuple[QARow, int]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for kind in KINDS:
            of_kind = [(row, p) for row, p in selected if row.kind == kind]
            if not of_kind:
                continue
            gold = [row.choices[row.answer] for row, _ in of_kind]
            pred = [row.choices[p] if p != INVALID else "invalid" for row, p in of_kind]
            if kind == "yes_no":
                labels = ["Yes", "No"]
                value = balanced_accuracy(gold, pred, labels)
                low, high = bootstrap_interval(gold, pred, labels, seed=seed)
                name = "yes_no_balanced_accuracy"
            else:
                # Accuracy is the balanced accuracy of one class: "right" against everything else.
                right = ["right" if g == p else "wrong" for g, p in zip(gold, pred)]
                value = accuracy(gold, pred)
                low, high = bootstrap_interval(["right"] * len(right), right, ["right", "wrong"], seed=seed)
                name = "choice_accuracy"
            out[name] = round(value, 4)
            out[f"{kind}_ci"] = [round(low, 4), round(high, 4)]
            out[f"{kind}_n"] = len(of_kind)
        return out

    pairs = list(zip(rows, predictions))
    categories = sorted({row.category for row in rows})
    return {
        "overall": summary(pairs),
        "categories": {c: summary([(r, p) for r, p in pairs if r.category == c]) for c in categories},
        "documents": sorted({row.document for row in rows}),
        "predictions": {row.id: {"predicted": p, "answer": row.answer} for row, p in pairs},
    }


def score_over_seeds(rows: list[QARow], predictions_by_seed: list[list[int]], draws: int = 1000,
                     seed: int = 0) -> dict[str, Any]:
    """Several training seeds' predictions on the same rows: the mean over seeds of choice accuracy
    and yes/no balanced accuracy, their spread (lowest and highest seed) and a 95% bootstrap
    interval of the mean (rows resampled, each draw shared by every seed), with n per kind."""
    predictions = np.asarray(predictions_by_seed)
    answers = np.asarray([row.answer for row in rows])
    out: dict[str, Any] = {"seeds": len(predictions_by_seed), "n": {}, "ci": {}, "spread": {}}
    rng = np.random.default_rng(seed)
    for kind, name in (("choice", "choice_accuracy"), ("yes_no", "yes_no_balanced_accuracy")):
        columns = np.asarray([row.kind == kind for row in rows])
        if not columns.any():
            continue
        gold, right = answers[columns], predictions[:, columns] == answers[columns]
        balanced = kind == "yes_no"
        scores = _seed_scores(gold, right, balanced)
        means = sorted(float(_seed_scores(gold[index], right[:, index], balanced).mean())
                       for index in (rng.integers(0, len(gold), len(gold)) for _ in range(draws)))
        out[name] = round(float(scores.mean()), 4)
        out["spread"][kind] = [round(float(scores.min()), 4), round(float(scores.max()), 4)]
        out["ci"][kind] = [round(means[int(0.025 * draws)], 4), round(means[int(0.975 * draws) - 1], 4)]
        out["n"][kind] = int(columns.sum())
    return out


def _seed_scores(gold: np.ndarray, right: np.ndarray, balanced: bool) -> np.ndarray:
    """Each seed's accuracy (`right`: seeds x rows), or balanced accuracy: the mean over the answers
    present of the share of their rows predicted right."""
    if not balanced:
        return right.mean(axis=1)
    return np.mean([right[:, gold == label].mean(axis=1) for label in np.unique(gold)], axis=0)


def learned_and_forgotten(results: dict[str, Any], baseline: dict[str, Any]) -> dict[str, int]:
    """Against a baseline run on the same rows: rows the baseline got wrong that are now right
    (learned), rows it got right that are now wrong (forgotten), and how many were wrong before."""
    before, after = baseline.get("predictions", {}), results.get("predictions", {})
    shared = sorted(set(before) & set(after))
    if not shared:
        raise EvaluationError("the baseline has no row in common with this evaluation")
    wrong_before = [i for i in shared if before[i]["predicted"] != before[i]["answer"]]
    right_before = [i for i in shared if before[i]["predicted"] == before[i]["answer"]]
    return {
        "rows_compared": len(shared),
        "baseline_wrong": len(wrong_before),
        "learned": sum(after[i]["predicted"] == after[i]["answer"] for i in wrong_before),
        "forgotten": sum(after[i]["predicted"] != after[i]["answer"] for i in right_before),
    }


def format_closed_book(results: dict[str, Any]) -> str:
    """A plain table: overall and per category, n, the score and its interval."""
    lines = [f"{'category':<42} {'kind':<7} {'n':>4}  score   95% interval"]

    def add(name: str, summary: dict[str, Any]) -> None:
        for kind, key in (("choice", "choice_accuracy"), ("yes_no", "yes_no_balanced_accuracy")):
            if key in summary:
                low, high = summary[f"{kind}_ci"]
                lines.append(f"{name[:42]:<42} {kind:<7} {summary[f'{kind}_n']:>4}  {summary[key]:.3f}"
                             f"   {low:.3f}-{high:.3f}")

    for category, summary in results["categories"].items():
        add(category, summary)
    add("overall", results["overall"])
    if "learned" in results:
        change = results["learned"]
        lines.append(f"against the baseline: {change['learned']} of {change['baseline_wrong']} wrong rows "
                     f"learned, {change['forgotten']} forgotten ({change['rows_compared']} rows)")
    return "\n".join(lines)


def evaluate_closed_book(model_spec: str, qa: Path, *, adapter: Path | None = None,
                         documents: set[str] | None = None, limit: int | None = None, seed: int = 0,
                         batch_size: int = 8, dtype: str = "float32",
                         baseline: Path | None = None) -> dict[str, Any]:
    """Score a model closed-book on the questions of `qa` (about `documents` only, when given): a
    local model (`bundled:`/`hf:`, with a LoRA `adapter`) by choice likelihood, any other by
    generation. With `baseline` (an earlier result on the same rows), count learned and forgotten."""
    rows = read_qa(qa, documents, limit, seed)
    if model_spec.partition(":")[0] in ("bundled", "hf"):
        from .scoring import load_scoring_model

        model, tokenizer = load_scoring_model(model_spec, adapter, dtype)
        predictions = predict_by_likelihood(model, tokenizer, rows, batch_size)
        method = "likelihood per token"
    else:
        if adapter is not None:
            raise EvaluationError("--adapter needs a local model (bundled: or hf:)")
        from ..models import load_chat_model

        predictions = predict_by_generation(load_chat_model(model_spec), rows)
        method = "generation"
    results = {"model": model_spec, "adapter": str(adapter) if adapter else None, "qa": str(qa),
               "method": method, **score_rows(rows, predictions, seed)}
    if baseline is not None:
        try:
            earlier = json.loads(Path(baseline).read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise EvaluationError(f"{baseline}: cannot read the baseline results ({error})") from None
        results["learned"] = learned_and_forgotten(results, earlier)
    return results
