"""Drop accepted questions that are near-duplicates of earlier ones about the same document."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..agents.questions import strip_document
from ..retrieval.files import read_jsonl, write_jsonl
from .files import DATASET, DUPLICATES


def deduplicate(run: Path, order: list[str], embedder, threshold: float) -> list[dict]:
    """Drop accepted questions closer than `threshold` (cosine) to an earlier one about the same
    document. Questions are compared without their "In the <contract>: " opening, which would make
    any two about one contract look alike; questions about different contracts teach different facts.

    Works over dataset.jsonl and earlier duplicates together, in seed order, so running it
    again gives the same split. Dropped samples go to duplicates.jsonl. Call it under the
    run's lock when other workers may be appending.
    """
    samples = read_jsonl(run / DATASET) + read_jsonl(run / DUPLICATES)
    if not samples:
        return []
    rank = {probe_id: i for i, probe_id in enumerate(order)}
    samples.sort(key=lambda s: (rank.get(s["meta"]["probe_id"], len(rank)), s["meta"]["probe_id"]))
    vectors = embedder.encode([strip_document(s["messages"][0]["content"]) for s in samples])
    kept, dropped = [], []
    kept_vectors: dict[str, list[np.ndarray]] = {}
    for sample, vector in zip(samples, vectors):
        earlier = kept_vectors.setdefault(sample["meta"].get("document", ""), [])
        if earlier and float(np.max(np.stack(earlier) @ vector)) >= threshold:
            dropped.append(sample)
        else:
            kept.append(sample)
            earlier.append(vector)
    write_jsonl(run / DATASET, kept)
    if dropped or (run / DUPLICATES).exists():
        write_jsonl(run / DUPLICATES, dropped)
    return dropped
