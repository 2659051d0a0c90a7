"""A journal of the vectors an index build has embedded, so a build killed mid-way resumes there."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: appends are still whole writes, unlocked
    fcntl = None

KEY_BYTES = 32  # a SHA-256 digest


class EmbeddingJournal:
    """Vectors embedded by an index build that has not finished, keyed by (model, dimension, text).

    Each record is a fixed-size key then the vector as float32, appended and fsynced after each
    batch, so a kill loses at most the batch in progress; a torn last record is cut on reading.
    A key names the model and dimension, so a journal left by another model matches nothing.
    """

    def __init__(self, path: str | Path, model: str, dimension: int):
        self.path = Path(path)
        self.model = model
        self.dimension = dimension
        self.record_bytes = KEY_BYTES + 4 * dimension

    def key(self, text: str) -> bytes:
        return hashlib.sha256(f"{self.model}\0{self.dimension}\0{text}".encode()).digest()

    def read(self) -> dict[bytes, np.ndarray]:
        """The journalled vectors by key (empty when there is no journal)."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        whole = len(data) - len(data) % self.record_bytes
        records = np.frombuffer(data[:whole], dtype=np.uint8).reshape(-1, self.record_bytes)
        return {bytes(row[:KEY_BYTES]): row[KEY_BYTES:].copy().view(np.float32) for row in records}

    def append(self, texts: list[str], vectors: np.ndarray) -> None:
        """Record one embedded batch durably (one write, then fsync)."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        record = b"".join(self.key(text) + vector.tobytes() for text, vector in zip(texts, vectors))
        with open(self.path, "ab") as file:
            if fcntl is not None:
                fcntl.flock(file, fcntl.LOCK_EX)
            size = os.fstat(file.fileno()).st_size
            if size % self.record_bytes:  # a writer killed mid-record: drop its fragment
                file.truncate(size - size % self.record_bytes)
            file.write(record)
            file.flush()
            os.fsync(file.fileno())
