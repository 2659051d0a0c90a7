"""Orders that let a budget which runs out early still reach every document, and all of each one:
documents interleaved, and a document's passages in an order whose every prefix is spread over it."""

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


def spread_order(items: list[T]) -> list[T]:
    """`items` reordered so that each prefix is spread evenly over the list: the first, the middle,
    the quarters, the eighths, ... (positions by the base-2 radical inverse), then any left."""
    order: list[int] = []
    seen: set[int] = set()
    count = len(items)
    step = 0
    while len(order) < count and step < 4 * count:
        position = int(_radical_inverse(step) * count)
        if position not in seen:
            seen.add(position)
            order.append(position)
        step += 1
    order += [i for i in range(count) if i not in seen]
    return [items[i] for i in order]


def _radical_inverse(n: int) -> float:
    """n's binary digits mirrored after the point: 0, 1/2, 1/4, 3/4, 1/8, 5/8, ..."""
    value, weight = 0.0, 0.5
    while n:
        value += weight * (n & 1)
        n >>= 1
        weight /= 2
    return value


_END = object()
