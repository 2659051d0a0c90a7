"""Trace events: one JSON object per node run or model call, appended to traces.jsonl."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any, Protocol

from ..retrieval.files import append_line, cut_torn_tail


class Tracer(Protocol):
    def record(self, event: dict[str, Any]) -> None: ...


class NullTracer:
    """Discards events (a probe graph used on its own, without a run directory)."""

    def record(self, event: dict[str, Any]) -> None:
        return None


class ListTracer:
    """Keeps events in memory; handy in tests and notebooks."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def record(self, event: dict[str, Any]) -> None:
        with self._lock:
            self.events.append({"time": time.time(), **event})


class JsonlTracer:
    """Appends events to a JSONL file, one line each, written as they come (thread-safe).

    A torn last line left by a killed run is cut off on opening (and before any append).
    Lines are not fsynced one by one: a killed process loses nothing it wrote, and a trace is
    not worth an fsync per event (the dataset's lines are fsynced).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self.recorded: Counter[str] = Counter()  # events written by this tracer, by kind
        cut_torn_tail(self.path)

    def record(self, event: dict[str, Any]) -> None:
        line = json.dumps({"time": time.time(), **event}, ensure_ascii=False, default=str) + "\n"
        with self._lock:
            # One write() under a flock of the file: lines of worker processes sharing it never
            # interleave (a buffered file may split a long line into several writes).
            append_line(self.path, line, fsync=False)
            self.recorded[event.get("kind", "")] += 1

