"""A FAISS inner-product index over document chunks, built incrementally and stored on disk."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from .cards import DocumentCard, card_from_text, document_cards
from .chunking import Chunk, check_chunk_settings, chunk_document
from .documents import DEFAULT_MAX_FILE_MB, Document, FileNote, scan_documents
from .embeddings import Embedder
from .errors import RetrievalError
from .files import write_atomic
from .journal import EmbeddingJournal

logger = logging.getLogger(__name__)

INDEX_FILE = "index.faiss"
CHUNKS_FILE = "chunks.jsonl"
MANIFEST_FILE = "manifest.json"
JOURNAL_FILE = "embedding.journal"  # only while a build is in progress, or after one was killed
FORMAT_VERSION = 1
EMBED_BATCH_CHUNKS = 64  # how many chunks go to the embedder between progress reports


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk: its text, where it sits in its document, and its similarity score."""

    id: str
    document: str
    text: str
    start: int
    end: int
    score: float = 0.0


@dataclass(frozen=True)
class IndexReport:
    """What one build_index run did. Document counts compare against the index it replaced."""

    documents: int
    chunks: int
    added_documents: int
    changed_documents: int
    removed_documents: int
    unchanged_documents: int
    embedded_chunks: int  # embedded by this run
    seconds: float
    journalled_chunks: int = 0  # embedded by an earlier, interrupted run and taken from its journal
    full_rebuild_reason: str | None = None
    notes: tuple[FileNote, ...] = ()  # files skipped, or decoded with a fallback, and why


class VectorIndex:
    """Chunks of a document folder and their embeddings, searchable by cosine similarity."""

    def __init__(
        self,
        path: Path,
        manifest: dict[str, Any],
        chunks: list[Chunk],
        faiss_index: faiss.Index,
        embedder: Embedder | None = None,
    ) -> None:
        self.path = path
        self.manifest = manifest
        self.chunks = chunks
        self._faiss_index = faiss_index
        self._embedder = embedder
        self._embedder_lock = threading.Lock()
        self._positions = {chunk.id: position for position, chunk in enumerate(chunks)}
        self._by_document: dict[str, list[Chunk]] = {}
        for chunk in chunks:
            self._by_document.setdefault(chunk.document, []).append(chunk)

    def __len__(self) -> int:
        return len(self.chunks)

    def __repr__(self) -> str:
        return f"VectorIndex({str(self.path)!r}, chunks={len(self.chunks)})"

    @property
    def embedding_model(self) -> str:
        return self.manifest["embedding_model"]

    @property
    def dimension(self) -> int:
        return int(self._faiss_index.d)

    @property
    def embedder(self) -> Embedder:
        """The embedder named in the manifest, created on first use."""
        with self._embedder_lock:
            if self._embedder is None:
                self._embedder = Embedder(self.embedding_model)
            return self._embedder

    def check_embedder(self) -> None:
        """Load the manifest's embedding model and make sure it makes vectors of this index's size."""
        if self.embedder.dimension != self.dimension:
            raise RetrievalError(
                f"index {self.path} holds {self.dimension}-dimensional vectors, but its embedding model "
                f"{self.embedding_model} makes {self.embedder.dimension}-dimensional ones "
                "(was the index built with another model? re-index the documents)"
            )

    def contains(self, chunk_id: str) -> bool:
        return chunk_id in self._positions

    def get(self, chunk_id: str) -> Chunk:
        try:
            return self.chunks[self._positions[chunk_id]]
        except KeyError:
            raise RetrievalError(f"index {self.path} has no chunk {chunk_id!r}") from None

    def documents(self) -> list[str]:
        """Document ids in index order (sorted)."""
        return list(self._by_document)

    def chunks_of(self, document: str) -> list[Chunk]:
        """The chunks of one document, in order."""
        try:
            return list(self._by_document[document])
        except KeyError:
            raise RetrievalError(f"index {self.path} has no document {document!r}") from None

    def vectors(self) -> np.ndarray:
        """All chunk embeddings as a (chunks, dimension) float32 array, in index order."""
        if len(self.chunks) == 0:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return self._faiss_index.reconstruct_n(0, len(self.chunks))

    def vectors_of(self, document: str) -> np.ndarray:
        """The embeddings of one document's chunks, in chunk order."""
        positions = [self._positions[chunk.id] for chunk in self.chunks_of(document)]
        return self._faiss_index.reconstruct_batch(np.asarray(positions, dtype=np.int64))

    def card(self, document: str) -> DocumentCard:
        """The document's title and parties, as recorded when it was indexed (read from its first
        chunk for an index built before cards were recorded)."""
        entry = self.manifest["documents"].get(document, {})
        if isinstance(entry.get("title"), str) and entry["title"]:
            return DocumentCard(entry["title"], tuple(entry.get("parties") or ()))
        return card_from_text(self.chunks_of(document)[0].text, document)

    def search(self, query: str, k: int = 4, document: str | None = None) -> list[Passage]:
        """The `k` chunks most similar to `query`, best first (only `document`'s when given)."""
        return self.search_vector(self.embedder.encode([query])[0], k, document)

    def search_vector(self, vector: np.ndarray, k: int = 4, document: str | None = None) -> list[Passage]:
        """The `k` chunks with the largest inner product with a normalised `vector`, best first
        (only `document`'s when given)."""
        query = np.ascontiguousarray(vector, dtype=np.float32).reshape(1, -1)
        if query.shape[1] != self.dimension:
            raise ValueError(
                f"query vector has {query.shape[1]} dimensions, the index has {self.dimension}"
            )
        if document is not None:
            chunks = self.chunks_of(document)
            scores = self.vectors_of(document) @ query[0]
            best = np.argsort(-scores, kind="stable")[:k]
            return [passage_of(chunks[i], float(scores[i])) for i in best]
        k = min(k, len(self.chunks))
        if k <= 0:
            return []
        scores, positions = self._faiss_index.search(query, k)
        return [
            passage_of(self.chunks[position], float(score))
            for score, position in zip(scores[0], positions[0], strict=True)
            if position >= 0
        ]


def passage_of(chunk: Chunk, score: float = 0.0) -> Passage:
    return Passage(chunk.id, chunk.document, chunk.text, chunk.start, chunk.end, score)


def build_index(
    docs: str | Path,
    out: str | Path,
    *,
    embedder: Embedder | None = None,
    embedding_model: str | None = None,
    max_tokens: int = 200,
    overlap_tokens: int = 40,
    progress: Callable[[int, int], None] | None = None,
    max_file_mb: float = DEFAULT_MAX_FILE_MB,
) -> IndexReport:
    """Index the documents in `docs` into the folder `out`, reusing what an earlier run there did.

    Only new or changed documents (by SHA-256) are embedded, unless the embedding model or
    chunk settings differ from the existing index's, in which case everything is re-embedded.
    `progress(done, total)` is called as chunks are embedded. Files over `max_file_mb`, binary,
    empty or unreadable ones are skipped; the report's `notes` say which and why.
    """
    began = time.perf_counter()
    check_chunk_settings(max_tokens, overlap_tokens)
    embedder = resolve_embedder(embedder, embedding_model)
    loaded = scan_documents(docs, max_file_mb=max_file_mb)
    documents = loaded.documents
    for note in loaded.notes:
        logger.info("%s", note)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise RetrievalError(f"{out}: index output must be a folder, but it is a file")
    chunking = {"max_tokens": max_tokens, "overlap_tokens": overlap_tokens}

    previous = load_previous_index(out)
    rebuild_reason = None
    if previous is not None:
        rebuild_reason = incompatibility(previous.manifest, embedder.name, chunking)
        if rebuild_reason:
            logger.info("re-embedding every document in %s: %s", out, rebuild_reason)
    old_documents: dict[str, dict[str, Any]] = previous.manifest["documents"] if previous else {}
    reusable = previous if previous is not None and rebuild_reason is None else None

    reused: dict[str, tuple[list[Chunk], np.ndarray]] = {}
    if reusable is not None:
        reused = {
            doc.id: (reusable.chunks_of(doc.id), reusable.vectors_of(doc.id))
            for doc in documents
            if is_unchanged(doc, old_documents)
        }
    fresh_chunks = {
        doc.id: chunk_document(doc, max_tokens, overlap_tokens)
        for doc in documents
        if doc.id not in reused
    }
    to_embed = [chunk for chunks in fresh_chunks.values() for chunk in chunks]
    journal = None
    if to_embed:
        out.mkdir(parents=True, exist_ok=True)
        journal = EmbeddingJournal(out / JOURNAL_FILE, embedder.name, embedder.dimension)
    fresh_vectors, journalled = embed_chunks(embedder, to_embed, progress, journal)

    chunks: list[Chunk] = []
    vector_parts: list[np.ndarray] = []
    fresh_position = 0
    for doc in documents:
        if doc.id in reused:
            doc_chunks, doc_vectors = reused[doc.id]
        else:
            doc_chunks = fresh_chunks[doc.id]
            doc_vectors = fresh_vectors[fresh_position : fresh_position + len(doc_chunks)]
            fresh_position += len(doc_chunks)
        chunks.extend(doc_chunks)
        vector_parts.append(doc_vectors)
    vectors = np.ascontiguousarray(np.vstack(vector_parts), dtype=np.float32)
    chunk_counts = Counter(chunk.document for chunk in chunks)

    cards = document_cards(docs, documents)
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    manifest = {
        "format_version": FORMAT_VERSION,
        "embedding_model": embedder.name,
        "dimension": int(vectors.shape[1]),
        "chunking": chunking,
        "chunk_count": len(chunks),
        "documents": {
            doc.id: {
                "sha256": doc.sha256,
                "chunks": chunk_counts[doc.id],
                "source": str(doc.path.resolve()),
                **cards[doc.id].as_dict(),
            }
            for doc in documents
        },
        "created": previous.manifest.get("created", now) if previous else now,
        "updated": now,
    }
    write_index(out, manifest, chunks, vectors)
    # Only now (a kill while writing the index keeps the vectors for the next build), and also
    # when this build embedded nothing: a journal left by an earlier killed build is stale.
    (out / JOURNAL_FILE).unlink(missing_ok=True)

    current_ids = {doc.id for doc in documents}
    return IndexReport(
        documents=len(documents),
        chunks=len(chunks),
        added_documents=sum(doc.id not in old_documents for doc in documents),
        changed_documents=sum(
            doc.id in old_documents and not is_unchanged(doc, old_documents) for doc in documents
        ),
        removed_documents=len(set(old_documents) - current_ids),
        unchanged_documents=sum(is_unchanged(doc, old_documents) for doc in documents),
        embedded_chunks=len(to_embed) - journalled,
        journalled_chunks=journalled,
        seconds=time.perf_counter() - began,
        full_rebuild_reason=rebuild_reason,
        notes=tuple(loaded.notes),
    )


def resolve_embedder(embedder: Embedder | None, embedding_model: str | None) -> Embedder:
    if embedder is None:
        return Embedder(embedding_model)
    if embedding_model is not None and embedding_model != embedder.name:
        raise RetrievalError(
            f"embedding model {embedding_model} was requested, but the embedder is {embedder.name}"
        )
    return embedder


def is_unchanged(doc: Document, old_documents: dict[str, dict[str, Any]]) -> bool:
    old = old_documents.get(doc.id)
    return old is not None and old["sha256"] == doc.sha256


def incompatibility(manifest: dict[str, Any], model: str, chunking: dict[str, int]) -> str | None:
    """Why an existing index's vectors cannot be reused, or None if they can."""
    if manifest["embedding_model"] != model:
        return f"embedding model changed from {manifest['embedding_model']} to {model}"
    if manifest["chunking"] != chunking:
        old, new = settings_text(manifest["chunking"]), settings_text(chunking)
        return f"chunk settings changed from {old} to {new}"
    return None


def settings_text(values: dict[str, Any]) -> str:
    return ", ".join(f"{key}={value}" for key, value in sorted(values.items()))


def load_previous_index(out: Path) -> VectorIndex | None:
    """The index already in `out`, or None if there is none or it cannot be read."""
    if not (out / MANIFEST_FILE).exists():
        return None
    try:
        return load_index(out)
    except RetrievalError as exc:
        logger.warning("rebuilding the index from scratch: %s", exc)
        return None


def embed_chunks(
    embedder: Embedder, chunks: list[Chunk], progress: Callable[[int, int], None] | None,
    journal: EmbeddingJournal | None = None,
) -> tuple[np.ndarray, int]:
    """Embed chunk texts in batches, reporting progress; an empty list embeds nothing.

    With a journal, vectors an interrupted build already recorded there are taken from it, and
    each new batch is recorded. Returns the vectors and how many came from the journal.
    """
    if progress:
        progress(0, len(chunks))
    if not chunks:
        return np.zeros((0, 0), dtype=np.float32), 0
    known = journal.read() if journal else {}
    vectors = [known.get(journal.key(chunk.text)) if journal else None for chunk in chunks]
    missing = [i for i, vector in enumerate(vectors) if vector is None]
    journalled = len(chunks) - len(missing)
    if journalled:
        logger.info("%d of %d chunks were embedded by an interrupted build; not embedding them again",
                    journalled, len(chunks))
        if progress:
            progress(journalled, len(chunks))
    for first in range(0, len(missing), EMBED_BATCH_CHUNKS):
        batch = missing[first : first + EMBED_BATCH_CHUNKS]
        texts = [chunks[i].text for i in batch]
        encoded = embedder.encode(texts)
        if journal:
            journal.append(texts, encoded)
        for i, vector in zip(batch, encoded):
            vectors[i] = vector
        if progress:
            progress(journalled + first + len(batch), len(chunks))
    return np.vstack(vectors), journalled


def write_index(
    out: Path, manifest: dict[str, Any], chunks: list[Chunk], vectors: np.ndarray
) -> None:
    """Write the three index files, each atomically, so that a process killed at any moment
    never leaves an index that loads with mixed or partial data.

    The manifest is the commit point: it is removed before the data files are replaced and
    written again last, so a manifest only ever sits next to the data it describes. An index
    killed in between has no manifest: load_index refuses it and build_index starts afresh.
    """
    out.mkdir(parents=True, exist_ok=True)
    faiss_index = faiss.IndexFlatIP(vectors.shape[1])
    faiss_index.add(vectors)
    data = faiss.serialize_index(faiss_index).tobytes()
    text = "".join(json.dumps(asdict(chunk), ensure_ascii=False) + "\n" for chunk in chunks)
    (out / MANIFEST_FILE).unlink(missing_ok=True)
    write_atomic(out / INDEX_FILE, data)
    write_atomic(out / CHUNKS_FILE, text)
    write_atomic(out / MANIFEST_FILE, json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")


def load_index(
    path: str | Path, *, embedding_model: str | None = None, embedder: Embedder | None = None
) -> VectorIndex:
    """Open an index folder written by build_index.

    If `embedding_model` (or `embedder`) is given it must match the model the index was built
    with; `embedder` is reused for searches instead of loading the model again.
    """
    root = Path(path)
    if not root.is_dir():
        raise RetrievalError(f"{root}: no index folder there (run the indexer first)")
    manifest = read_manifest(root / MANIFEST_FILE)
    if embedder is not None:
        resolve_embedder(embedder, embedding_model)  # rejects a conflicting embedding_model
    requested = embedder.name if embedder is not None else embedding_model
    if requested is not None and requested != manifest["embedding_model"]:
        raise RetrievalError(
            f"index {root} was built with {manifest['embedding_model']}, not {requested}"
        )
    chunks = read_chunks(root / CHUNKS_FILE)
    faiss_index = read_faiss_index(root / INDEX_FILE)
    check_consistency(root, manifest, chunks, faiss_index)
    return VectorIndex(root, manifest, chunks, faiss_index, embedder)


def read_manifest(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise RetrievalError(f"{path}: index manifest is missing (run the indexer first)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RetrievalError(f"{path}: corrupted index manifest ({exc})") from exc
    problem = manifest_problem(manifest)
    if problem:
        raise RetrievalError(f"{path}: corrupted index manifest ({problem})")
    return manifest


def manifest_problem(manifest: Any) -> str | None:
    """What is wrong with a parsed manifest, or None if it has everything load_index needs."""
    if not isinstance(manifest, dict):
        return "not a JSON object"
    if manifest.get("format_version") != FORMAT_VERSION:
        return f"format_version is {manifest.get('format_version')!r}, expected {FORMAT_VERSION}"
    if not isinstance(manifest.get("embedding_model"), str):
        return "'embedding_model' is missing"
    if not isinstance(manifest.get("dimension"), int) or manifest["dimension"] < 1:
        return "'dimension' is missing or invalid"
    chunking = manifest.get("chunking")
    if not isinstance(chunking, dict) or not all(
        isinstance(chunking.get(key), int) for key in ("max_tokens", "overlap_tokens")
    ):
        return "'chunking' is missing or invalid"
    documents = manifest.get("documents")
    if not isinstance(documents, dict) or not all(
        isinstance(entry, dict)
        and isinstance(entry.get("sha256"), str)
        and isinstance(entry.get("chunks"), int)
        for entry in documents.values()
    ):
        return "'documents' is missing or invalid"
    return None


def read_chunks(path: Path) -> list[Chunk]:
    if not path.is_file():
        raise RetrievalError(f"{path}: index chunk file is missing")
    chunks = []
    line_number = 0
    try:
        with open(path, encoding="utf-8") as handle:
            for line_number, line in enumerate(handle, start=1):
                if line.strip():
                    chunks.append(chunk_from_record(json.loads(line), path, line_number))
    except json.JSONDecodeError as exc:
        raise RetrievalError(f"{path}:{line_number}: corrupted index chunk file "
                             f"(not JSON: {exc.msg})") from exc
    except UnicodeDecodeError as exc:
        raise RetrievalError(f"{path}: corrupted index chunk file "
                             f"(not UTF-8 after line {line_number})") from exc
    except OSError as exc:
        raise RetrievalError(f"{path}: cannot read the index chunk file ({exc.strerror or exc})") from exc
    return chunks


def chunk_from_record(record: Any, path: Path, line_number: int) -> Chunk:
    fields = {"id": str, "document": str, "index": int, "text": str, "start": int, "end": int}
    if not isinstance(record, dict) or not all(
        isinstance(record.get(name), kind) for name, kind in fields.items()
    ):
        raise RetrievalError(f"{path}:{line_number}: corrupted chunk record")
    return Chunk(**{name: record[name] for name in fields})


def read_faiss_index(path: Path) -> faiss.Index:
    if not path.is_file():
        raise RetrievalError(f"{path}: FAISS index file is missing")
    try:
        return faiss.read_index(str(path))
    except RuntimeError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "unreadable"
        if "read error" in reason:  # faiss's message is a C++ assertion; say what it means
            reason = "truncated or damaged file"
        raise RetrievalError(f"{path}: corrupted FAISS index ({reason})") from exc


def check_consistency(
    root: Path, manifest: dict[str, Any], chunks: list[Chunk], faiss_index: faiss.Index
) -> None:
    """Raise RetrievalError unless manifest, chunk file and FAISS index describe the same data."""
    if faiss_index.ntotal != len(chunks):
        raise RetrievalError(
            f"index {root} is inconsistent: {faiss_index.ntotal} vectors but {len(chunks)} chunks"
        )
    if faiss_index.d != manifest["dimension"]:
        raise RetrievalError(
            f"index {root} is inconsistent: vectors have {faiss_index.d} dimensions, "
            f"manifest says {manifest['dimension']}"
        )
    chunk_counts = Counter(chunk.document for chunk in chunks)
    listed_counts = {doc_id: entry["chunks"] for doc_id, entry in manifest["documents"].items()}
    if chunk_counts != Counter(listed_counts):
        raise RetrievalError(f"index {root} is inconsistent: chunk file does not match manifest")
    if len({chunk.id for chunk in chunks}) != len(chunks):
        raise RetrievalError(f"index {root} is inconsistent: duplicate chunk ids")
