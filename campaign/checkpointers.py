"""Where probe checkpoints live: the run's SQLite file, or a Postgres database shared by workers."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite import SqliteSaver

from ..errors import AdvqaError
from ..graph.state import ProbeState, RoundRecord
from ..retrieval import Passage
from ..retrieval.cards import DocumentCard

Checkpointer = str | Path | BaseCheckpointSaver
POSTGRES_SCHEMES = ("postgres", "postgresql")
# Any fixed number: workers starting together take turns creating the tables.
_SETUP_LOCK = 0x61647671


class CheckpointerError(AdvqaError):
    """A checkpointer cannot be opened; the message names it (password hidden) and says why."""


def is_postgres(target: Checkpointer) -> bool:
    return isinstance(target, str) and urlsplit(target).scheme in POSTGRES_SCHEMES


def describe(target: Checkpointer) -> str:
    """The checkpointer as it may be written to config.toml: a URL's password is hidden."""
    if isinstance(target, BaseCheckpointSaver):
        return type(target).__name__
    if not is_postgres(target):
        return str(target)
    parts = urlsplit(target)
    netloc = parts.netloc
    if parts.password is not None:
        netloc = netloc.replace(f":{parts.password}@", ":***@", 1)
    query = urlencode([(k, "***" if k == "password" else v) for k, v in parse_qsl(parts.query)])
    # Built by hand: urlunsplit drops the "//" of a URL without a host (postgresql:///db).
    return f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")


def serializer() -> JsonPlusSerializer:
    """Knows advqa's state types, so checkpoints load without unregistered-type warnings."""
    return JsonPlusSerializer(allowed_msgpack_modules=[ProbeState, RoundRecord, Passage, DocumentCard])


@contextmanager
def open_checkpointer(target: Checkpointer) -> Iterator[BaseCheckpointSaver]:
    """Open `target`, set it up and close it afterwards: a postgres:// or postgresql:// URL, a
    SQLite file path, or a ready checkpointer (used as it is and left open)."""
    if isinstance(target, BaseCheckpointSaver):
        yield target
    elif is_postgres(target):
        with _postgres(target) as saver:
            yield saver
    else:
        # Several worker processes may share the file: wait for each other's writes.
        connection = sqlite3.connect(str(target), check_same_thread=False, timeout=60)
        try:
            saver = SqliteSaver(connection, serde=serializer())
            saver.setup()  # WAL mode
            # In WAL mode, NORMAL syncs at checkpoints rather than at every commit: a crash of the
            # process loses nothing, a power cut at most the last steps (those probes run again).
            connection.execute("PRAGMA synchronous=NORMAL")
            yield saver
        finally:
            connection.close()


@contextmanager
def _postgres(url: str) -> Iterator[BaseCheckpointSaver]:
    try:
        from langgraph.checkpoint.postgres import PostgresSaver
        from psycopg import Connection, Error
        from psycopg.rows import dict_row
    except ImportError:
        raise CheckpointerError("a Postgres checkpointer needs the postgres extra: "
                                "pip install 'advqa[postgres]'") from None
    try:
        # The settings PostgresSaver.from_conn_string uses, plus advqa's serializer.
        connection = Connection.connect(url, autocommit=True, prepare_threshold=0, row_factory=dict_row)
    except Error as error:
        reason = " ".join(str(error).replace(url, describe(url)).split())
        password = urlsplit(url).password
        if password:
            reason = reason.replace(password, "***")  # psycopg may quote the connection string
        raise CheckpointerError(f"cannot connect to {describe(url)}: {reason[:300]}") from None
    with connection:
        saver = PostgresSaver(connection, serde=serializer())
        # setup() is not safe to run twice at once (it records migrations under a primary key).
        # Poll rather than block: a blocked statement holds a snapshot that the other worker's
        # CREATE INDEX CONCURRENTLY would wait for, a deadlock.
        while not connection.execute("SELECT pg_try_advisory_lock(%s) AS locked",
                                     (_SETUP_LOCK,)).fetchone()["locked"]:
            time.sleep(0.1)
        try:
            saver.setup()
        finally:
            connection.execute("SELECT pg_advisory_unlock(%s)", (_SETUP_LOCK,))
        yield saver
