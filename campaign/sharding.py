"""Split a campaign's seeds between workers: a stable hash of each seed's id picks its worker."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

_SPEC = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")


def shard_of(seed_id: str, count: int) -> int:
    """The worker (1-based, of `count`) that runs the probe of `seed_id`.

    It depends on the id alone, not on the planned order: workers that planned differently
    (another --seeds, a re-indexed document) still never run the same probe, and extending a
    campaign leaves every seed with its worker. Python's hash() is salted per process, so not it.
    """
    digest = hashlib.sha256(seed_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


@dataclass(frozen=True)
class Worker:
    """Worker `index` of `count` (1-based): it runs the probes whose seed hashes to it."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if self.count < 1 or not 1 <= self.index <= self.count:
            raise ValueError(f"worker {self.index}/{self.count}: I/N needs 1 <= I <= N")

    @classmethod
    def parse(cls, spec: str) -> Worker:
        """`I/N`, e.g. `2/4` (1-based)."""
        match = _SPEC.fullmatch(str(spec))
        if not match:
            raise ValueError(f"worker '{spec}' is not I/N (e.g. 2/4: the second of four workers)")
        return cls(int(match.group(1)), int(match.group(2)))

    def owns(self, seed_id: str) -> bool:
        return shard_of(seed_id, self.count) == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"
