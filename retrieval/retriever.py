"""LangChain adapters: an index as a BaseRetriever, and any LangChain Document as a Passage."""

from __future__ import annotations

import hashlib
from typing import Any, TypeVar

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document as LangChainDocument
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from .index import Passage, VectorIndex

Number = TypeVar("Number", int, float)


class IndexRetriever(BaseRetriever):
    """Returns the `k` chunks of a VectorIndex most similar to the query; `invoke(query,
    document=ID)` searches that document's chunks only."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    index: VectorIndex
    k: int = 4

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, document: str | None = None
    ) -> list[LangChainDocument]:
        return [
            LangChainDocument(
                page_content=passage.text,
                id=passage.id,
                metadata={
                    "id": passage.id,
                    "document": passage.document,
                    "start": passage.start,
                    "end": passage.end,
                    "score": passage.score,
                },
            )
            for passage in self.index.search(query, self.k, document)
        ]


def passage_from_document(doc: LangChainDocument) -> Passage:
    """Convert a Document from any LangChain retriever, filling what its metadata lacks."""
    text = doc.page_content
    metadata = doc.metadata or {}
    passage_id = metadata.get("id") or doc.id
    if not passage_id:
        digest = hashlib.sha1(text.encode("utf-8")).hexdigest()[:8]
        passage_id = f"{metadata.get('source') or 'doc'}#{digest}"
    return Passage(
        id=str(passage_id),
        document=str(metadata.get("document") or metadata.get("source") or ""),
        text=text,
        start=as_number(metadata.get("start"), int, 0),
        end=as_number(metadata.get("end"), int, len(text)),
        score=as_number(metadata.get("score"), float, 0.0),
    )


def as_number(value: Any, kind: type[Number], default: Number) -> Number:
    """`kind(value)`, or `default` when the value is missing or not a number."""
    if value is None or isinstance(value, bool):
        return default
    try:
        return kind(value)
    except (TypeError, ValueError):
        return default
