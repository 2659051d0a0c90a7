"""Trace events: one JSON object per node run or model call, appended to traces.jsonl."""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any, Protocol


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
    """Appends events to a JSONL file, one line each, flushed as written (thread-safe)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self.recorded: Counter[str] = Counter()  # events written by this tracer, by kind

    def record(self, event: dict[str, Any]) -> None:
        line = json.dumps({"time": time.time(), **event}, ensure_ascii=False, default=str) + "\n"
        with self._lock:
            # One write() on an O_APPEND descriptor: lines of worker processes sharing the file
            # never interleave (a buffered file may split a long line into several writes).
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line.encode("utf-8"))
            finally:
                os.close(fd)
            self.recorded[event.get("kind", "")] += 1


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Read a JSONL file of objects; a missing file is empty, a torn line (a killed run) is skipped."""
    rows = []
    file = Path(path)
    if not file.exists():
        return rows
    for line in file.read_text(encoding="utf-8").splitlines():
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return rows


def read_traces(path: str | Path) -> list[dict[str, Any]]:
    """The events of a traces.jsonl."""
    return read_jsonl(path)
