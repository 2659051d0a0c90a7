"""A run directory written by several worker processes: one lock, and a dataset appended once per probe."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

from ..retrieval.files import append_line, cut_torn_tail

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: threads of one process are still serialised
    fcntl = None

LOCK_FILE = ".lock"


class RunLock:
    """Serialises writers of one run directory across threads and processes (flock on RUN/.lock).

    Re-entrant within a thread. On a network file system it is only as good as its flock.
    """

    def __init__(self, run: Path):
        self.path = Path(run) / LOCK_FILE
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._handle = None

    def __enter__(self) -> RunLock:
        self._thread_lock.acquire()
        if self._depth == 0:
            try:
                self._handle = open(self.path, "a")  # held until __exit__
                if fcntl is not None:
                    fcntl.flock(self._handle, fcntl.LOCK_EX)
            except BaseException:
                self._thread_lock.release()
                raise
        self._depth += 1
        return self

    def __exit__(self, *exc: object) -> None:
        self._depth -= 1
        if self._depth == 0:
            self._handle.close()  # closing releases the flock
            self._handle = None
        self._thread_lock.release()


class SharedDataset:
    """dataset.jsonl when other processes may append to it (or rewrite it, deduplicating) too.

    It remembers how far it has read; under the run lock it first reads what others appended
    (or everything again when the file was replaced), so each probe's sample is written once,
    and the questions accepted so far per document include the other workers' ones.

    A partial last line (a writer killed mid-append) is cut off when found, on opening and
    before each append: that probe's final state is in the checkpointer, so its sample is
    appended again whole by the campaign that finds it finished.
    """

    def __init__(self, path: Path, duplicates: Path, lock: RunLock):
        self.path = Path(path)
        self.duplicates = Path(duplicates)
        self.lock = lock
        self.probe_ids: set[str] = set()
        self._questions: dict[str, list[str]] = {}
        self._file: tuple[int, int] | None = None
        self._offset = 0
        with self.lock:
            self._catch_up(force=True)

    def questions(self, document: str) -> list[str]:
        """Questions accepted so far for `document`, by every worker."""
        with self.lock:
            self._catch_up()
            return list(self._questions.get(document, []))

    def append(self, sample: dict[str, Any]) -> bool:
        """Append `sample` unless its probe is already in the dataset or its duplicates."""
        line = (json.dumps(sample, ensure_ascii=False) + "\n").encode("utf-8")
        with self.lock:
            self._catch_up()
            if sample["meta"]["probe_id"] in self.probe_ids:
                return False
            append_line(self.path, line, fsync=True)  # flushed and on disk before the lock is let go
            self._catch_up()
        return True

    def _catch_up(self, force: bool = False) -> None:
        try:
            status = os.stat(self.path)
        except FileNotFoundError:
            status = None
        file = (status.st_dev, status.st_ino) if status else None
        if force or file != self._file or (status and status.st_size < self._offset):
            # New or replaced (deduplicated) file: read it all, with the duplicates file.
            self._file, self._offset = file, 0
            self._questions = {}
            self.probe_ids = {row["meta"]["probe_id"] for row in _rows(self.duplicates)}
        if status is None or status.st_size == self._offset:
            return
        with self.path.open("rb") as handle:
            handle.seek(self._offset)
            data = handle.read()
        end = data.rfind(b"\n") + 1
        if end < len(data):
            # A torn last line: its writer died holding the lock (every appender holds it), so
            # nothing follows it; cut it so that the next append starts on a line of its own.
            cut_torn_tail(self.path)
        self._offset += end
        for raw in data[:end].splitlines():
            row = _parse(raw)
            if row is not None:
                self.probe_ids.add(row["meta"]["probe_id"])
                self._questions.setdefault(row["meta"]["document"], []).append(
                    row["messages"][0]["content"])


def _rows(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [row for row in map(_parse, path.read_bytes().splitlines()) if row is not None]


def _parse(raw: bytes) -> dict[str, Any] | None:
    try:
        row = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None  # a torn line of a killed run
    return row if isinstance(row, dict) and "meta" in row else None
