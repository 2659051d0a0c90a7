"""Plan a campaign's seed passages: spread over every document, or closest to focus queries."""

from __future__ import annotations

import numpy as np

from ..retrieval import Chunk, VectorIndex


def plan_seeds(index: VectorIndex, seeds: int | None = None,
               seeds_per_document: int | None = None, focus: list[str] | None = None) -> list[Chunk]:
    """Pick seed chunks spread over every document: `seeds` shared round-robin over documents
    (or `seeds_per_document` each). Within a document the chunks are evenly spaced, or, with
    `focus` queries, the chunks closest to them (taking each query's best in turn)."""
    documents = index.documents()
    if seeds_per_document is not None:
        quota = {d: seeds_per_document for d in documents}
    else:
        base, extra = divmod(seeds or 0, max(len(documents), 1))
        quota = {d: base + (1 if i < extra else 0) for i, d in enumerate(documents)}
    queries = [q.strip() for q in focus or [] if q.strip()]
    query_vectors = index.embedder.encode(queries) if queries else None
    planned: list[list[Chunk]] = []
    for document in documents:
        chunks = index.chunks_of(document)
        count = min(quota[document], len(chunks))
        if query_vectors is not None and count:
            positions = _closest_positions(index.vectors_of(document) @ query_vectors.T, count)
        else:
            positions = sorted({int((j + 0.5) * len(chunks) / count) for j in range(count)}) if count else []
        planned.append([chunks[p] for p in positions])
    # Interleave documents so that a partial run still covers many of them.
    order = []
    for depth in range(max((len(p) for p in planned), default=0)):
        order.extend(p[depth] for p in planned if depth < len(p))
    return order


def _closest_positions(similarity: np.ndarray, count: int) -> list[int]:
    """`count` chunk positions from a (chunks, queries) similarity matrix: each query in turn takes
    its most similar chunk not yet taken, so every query gets seeds; returned in chunk order."""
    rankings = [list(np.argsort(-similarity[:, q], kind="stable")) for q in range(similarity.shape[1])]
    taken: list[int] = []
    while len(taken) < count:
        for ranking in rankings:
            best = next(int(p) for p in ranking if int(p) not in taken)
            taken.append(best)
            if len(taken) == count:
                break
    return sorted(taken)
