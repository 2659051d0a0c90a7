"""Crash-safe files: whole-file rewrites that are atomic, and JSONL appends that never leave a torn line.

A process killed at any moment (kill -9, power loss after the fsync) leaves every rewritten file
either as it was or complete, and every appended file ending in a whole line once it is next
appended to or repaired.

This module sits in `retrieval`, the lowest layer of the pipeline (retrieval -> agents -> graph ->
training / report), so that every writer (the index, the tracer, the campaign, stats, the report,
training) imports it downward; it uses the standard library only.
"""

from __future__ import annotations

import json
import os
import re
import threading
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: appends are still whole writes, unlocked
    fcntl = None

_STAGING = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.(?P<thread>\d+)\.tmp$")
_TAIL_BLOCK = 1 << 16


def write_atomic(path: str | Path, data: str | bytes) -> Path:
    """Replace `path` with `data` (str is written as UTF-8): a staging file in the same folder,
    fsynced, then renamed over `path`, and the folder fsynced. Readers, other processes and a
    later run see the old file or the new one, never part of one.

    Staging files are `.NAME.PID.THREAD.tmp`; those left by a killed process are removed here.
    """
    target = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    staging = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    _remove_stale_staging(target)
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        try:
            _write_all(fd, payload)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(staging, target)
    except BaseException:
        staging.unlink(missing_ok=True)
        raise
    fsync_folder(target.parent)
    return target


def write_jsonl(path: str | Path, rows: list[dict[str, Any]]) -> Path:
    """Replace `path` with one JSON line per row, atomically (write_atomic), its folder made if missing."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    return write_atomic(target, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))


def append_line(path: str | Path, line: str | bytes, *, fsync: bool = True) -> None:
    """Append one line (a newline is added when missing) to `path` in a single write.

    Under an exclusive flock of the file, so appenders in several processes never interleave; a
    torn last line left by a killed appender is cut back to the last newline first. With `fsync`
    the line is on disk when this returns.
    """
    payload = line.encode("utf-8") if isinstance(line, str) else bytes(line)
    if not payload.endswith(b"\n"):
        payload += b"\n"
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)  # released when the descriptor is closed
        _cut_torn_tail(fd)
        _write_all(fd, payload)
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Read a JSONL file of objects; a missing file is empty, a torn line (a killed run) is skipped.

    Split on newlines only, as bytes: JSON text may hold U+2028 (str.splitlines would cut the
    line there), and a line cut mid-character is not UTF-8.
    """
    rows = []
    file = Path(path)
    if not file.exists():
        return rows
    for line in file.read_bytes().split(b"\n"):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except ValueError:  # JSONDecodeError, or UnicodeDecodeError in a torn line
                continue
    return rows


def cut_torn_tail(path: str | Path) -> int:
    """Cut a partial last line (a writer killed mid-append) back to the last newline, under the
    same flock as append_line; returns the number of bytes removed (0: the file was whole or absent)."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return 0
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        return _cut_torn_tail(fd)
    finally:
        os.close(fd)


def _cut_torn_tail(fd: int) -> int:
    size = os.fstat(fd).st_size
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return 0
    end = size
    keep = 0
    while end > 0:
        start = max(0, end - _TAIL_BLOCK)
        block = os.pread(fd, end - start, start)
        newline = block.rfind(b"\n")
        if newline >= 0:
            keep = start + newline + 1
            break
        end = start
    os.ftruncate(fd, keep)
    os.fsync(fd)
    return size - keep


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def fsync_folder(folder: Path) -> None:
    """Make a rename durable: fsync the folder holding it (where the platform allows it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows cannot open folders
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some file systems refuse fsync on folders
        pass
    finally:
        os.close(fd)


def _remove_stale_staging(target: Path) -> None:
    """Remove staging files of `target` whose writer process is gone (killed mid-write)."""
    prefix = f".{target.name}."
    try:
        names = [n for n in os.listdir(target.parent) if n.startswith(prefix) and n.endswith(".tmp")]
    except OSError:
        return
    for name in names:
        match = _STAGING.match(name)
        if match is None or match["name"] != target.name or _alive(int(match["pid"])):
            continue
        try:
            os.unlink(target.parent / name)
        except OSError:
            pass


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True  # another thread of this process may be writing it right now
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. another user's process: leave its file alone
        return True
    return True
