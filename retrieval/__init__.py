"""Document loading, chunking, embedding and FAISS retrieval for grounding generated questions."""

from .chunking import Chunk, chunk_document, count_tokens
from .documents import Document, load_documents
from .embeddings import DEFAULT_EMBEDDING_MODEL, Embedder
from .errors import RetrievalError
from .index import IndexReport, Passage, VectorIndex, build_index, load_index
from .retriever import IndexRetriever, passage_from_document

__all__ = [
    "DEFAULT_EMBEDDING_MODEL",
    "Chunk",
    "Document",
    "Embedder",
    "IndexReport",
    "IndexRetriever",
    "Passage",
    "RetrievalError",
    "VectorIndex",
    "build_index",
    "chunk_document",
    "count_tokens",
    "load_documents",
    "load_index",
    "passage_from_document",
]
