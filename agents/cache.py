"""A disk cache of model replies keyed by model, messages and generation parameters (SQLite)."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel

from ..models import model_label
from ..settings import cache_home

_SCHEMA = """CREATE TABLE IF NOT EXISTS replies (
    key TEXT PRIMARY KEY, model TEXT, text TEXT, input_tokens INTEGER, output_tokens INTEGER,
    tokens_estimated INTEGER, seconds REAL, created REAL)"""


def default_cache_path() -> Path:
    """$ADVQA_RESPONSE_CACHE, else responses.sqlite in $ADVQA_CACHE_DIR or the user cache directory.

    Outside the run directory on purpose: a new run directory, or a run with one prompt
    changed, finds the replies of earlier runs.
    """
    explicit = os.environ.get("ADVQA_RESPONSE_CACHE")
    if explicit:
        return Path(explicit)
    return cache_home() / "responses.sqlite"


def model_identity(model: BaseChatModel) -> dict[str, Any]:
    """What makes two chat models give the same reply: label, server, weights, default parameters."""
    identity: dict[str, Any] = {"label": model_label(model), "type": type(model).__name__}
    for attribute in ("openai_api_base", "model_path"):
        value = getattr(model, attribute, None)
        if isinstance(value, str) and value:
            identity[attribute] = value
    try:
        params = model._identifying_params
    except Exception:  # a model without them is identified by its label alone
        params = {}
    # Only plain JSON values: an object's repr can carry a memory address, new each run.
    identity["params"] = {k: v for k, v in dict(params).items() if _plain(v)}
    return identity


def _plain(value: Any) -> bool:
    if value is None or isinstance(value, (str, int, float, bool)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return False


class ResponseCache:
    """Replies stored by a hash of (model identity, messages, call parameters).

    One connection behind a lock serves every thread of a process (a lookup takes
    microseconds next to a model call); WAL mode and a busy timeout let several processes
    (campaign shards) share the file.
    """

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path is not None else default_cache_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()
        self._connection = sqlite3.connect(str(self.path), timeout=30, check_same_thread=False,
                                           isolation_level=None)
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.execute("PRAGMA synchronous=NORMAL")
        self._connection.execute(_SCHEMA)

    @staticmethod
    def key(model: BaseChatModel, messages: list[dict[str, str]], params: dict[str, Any]) -> str:
        payload = {"model": model_identity(model), "messages": messages, "params": params}
        canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._connection.execute(
                "SELECT text, input_tokens, output_tokens, tokens_estimated, seconds FROM replies "
                "WHERE key = ?", (key,)).fetchone()
            if row is None:
                self.misses += 1
                return None
            self.hits += 1
        return {"text": row[0], "input_tokens": row[1], "output_tokens": row[2],
                "tokens_estimated": bool(row[3]), "seconds": row[4]}

    def put(self, key: str, *, model: str, text: str, input_tokens: int, output_tokens: int,
            tokens_estimated: bool, seconds: float) -> None:
        with self._lock:
            self._connection.execute(
                "INSERT OR REPLACE INTO replies VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (key, model, text, input_tokens, output_tokens, int(tokens_estimated), seconds,
                 time.time()))

    def __len__(self) -> int:
        with self._lock:
            return self._connection.execute("SELECT COUNT(*) FROM replies").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._connection.close()

    def __enter__(self) -> ResponseCache:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
