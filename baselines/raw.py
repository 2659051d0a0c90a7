"""The `raw` baseline: the documents' own text, chunked, round-robin over documents and spread over
each, up to the budget."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from ..retrieval import Chunk, Document, chunk_document, count_tokens
from .generation import Item
from .order import round_robin, spread_order
from .tokens import TokenCounter

CHUNK_TOKENS = 256
SMALLEST_CHUNK_TOKENS = 16


def raw_items(documents: Sequence[Document], counter: TokenCounter, budget: int,
              headers: dict[str, str] | None = None) -> Iterator[Item]:
    """Chunks of every document, round-robin over documents and spread over each (its first,
    middle, quarters, ...), until `budget` tokens are used; each opens with its document's header
    (`headers`, by document id), counted in the budget.

    Chunks are about 256 student tokens, without overlap (repeated text would be trained
    on twice); when the budget allows fewer than 256 tokens a document, chunks shrink to
    an equal share so the first round still reaches every document. The chunk that would
    pass the budget is cut at a token boundary to fit exactly, so the total is the budget
    unless the documents run out first (each document is emitted at most once).
    """
    share = max(SMALLEST_CHUNK_TOKENS, min(CHUNK_TOKENS, budget // max(1, len(documents))))
    used = 0
    for chunk in round_robin(spread_order(chunks_of(document, counter, share)) for document in documents):
        text = (headers or {}).get(chunk.document, "") + chunk.text
        tokens = counter.count(text)
        truncated = tokens > budget - used
        if truncated:
            text = counter.truncate(text, budget - used)
            tokens = counter.count(text)
        if tokens:
            used += tokens
            yield Item(text, {"kind": "raw", "document": chunk.document, "source_chunks": [chunk.id],
                              "style": None, "tokens": tokens, "truncated": truncated})
        if used >= budget:
            return


def chunks_of(document: Document, counter: TokenCounter, student_tokens: int) -> list[Chunk]:
    """Chunks of about `student_tokens` tokens of the student's tokenizer, without overlap."""
    # chunk_document budgets in regex tokens; scale by this document's own ratio to the student's.
    ratio = counter.count(document.text) / max(1, count_tokens(document.text))
    return chunk_document(document, max_tokens=max(1, int(student_tokens / max(ratio, 1e-6))),
                          overlap_tokens=0)
