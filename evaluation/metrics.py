"""Balanced accuracy (LegalBench's metric), accuracy, prediction shares and a bootstrap interval."""

from __future__ import annotations

from collections import Counter

import numpy as np


def balanced_accuracy(gold: list[str], pred: list[str], labels: list[str]) -> float:
    """Mean recall over the labels that occur in `gold`; a prediction outside `labels` (e.g.
    "invalid") is simply wrong. NaN when there are no rows."""
    classes = [label for label in labels if label in set(gold)]
    unknown = set(gold) - set(labels)
    if unknown:
        raise ValueError(f"gold labels {sorted(unknown)} are not among {labels}")
    if not classes:
        return float("nan")
    recalls = []
    for label in classes:
        rows = [p for g, p in zip(gold, pred) if g == label]
        recalls.append(sum(p == label for p in rows) / len(rows))
    return sum(recalls) / len(recalls)


def accuracy(gold: list[str], pred: list[str]) -> float:
    """Share of rows predicted right; NaN when there are no rows."""
    if not gold:
        return float("nan")
    return sum(g == p for g, p in zip(gold, pred)) / len(gold)


def label_shares(pred: list[str]) -> dict[str, float]:
    """Share of the predictions that are each label (and "invalid"), sorted by label."""
    counts = Counter(pred)
    return {label: counts[label] / len(pred) for label in sorted(counts)}


def bootstrap_interval(gold: list[str], pred: list[str], labels: list[str], n: int = 1000, seed: int = 0,
                       level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of balanced accuracy, resampling rows with replacement."""
    if not gold:
        return float("nan"), float("nan")
    classes = {label: index for index, label in enumerate(labels)}
    gold_ids = np.array([classes[g] for g in gold])
    correct = np.array([g == p for g, p in zip(gold, pred)])
    draws = np.random.default_rng(seed).integers(0, len(gold), size=(n, len(gold)))
    drawn_gold, drawn_correct = gold_ids[draws], correct[draws]
    recalls = []
    for index in range(len(labels)):
        in_class = drawn_gold == index
        totals = in_class.sum(axis=1)
        hits = (in_class & drawn_correct).sum(axis=1)
        recalls.append(np.where(totals > 0, hits / np.maximum(totals, 1), np.nan))
    # A class missing from a resample does not count in that resample's mean, as in the point estimate.
    estimates = np.nanmean(np.vstack(recalls), axis=0)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(estimates, [tail, 100 - tail])
    return float(low), float(high)
