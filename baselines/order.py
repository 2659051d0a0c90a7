"""Interleave per-document sequences, so a budget that runs out early still reaches every document."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def round_robin(sequences: Iterable[Iterable[T]]) -> Iterator[T]:
    """First item of each sequence, then the second of each, ...; exhausted ones drop out."""
    iterators = [iter(sequence) for sequence in sequences]
    while iterators:
        alive = []
        for iterator in iterators:
            item = next(iterator, _END)
            if item is not _END:
                alive.append(iterator)
                yield item  # type: ignore[misc]
        iterators = alive


_END = object()
