"""How a campaign runs: how many probes, how many at once, and when two questions are duplicates."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..graph.settings import ProbeSettings


@dataclass
class CampaignSettings:
    """How many probes, how many at once, and when two accepted questions are duplicates."""

    seeds: int | None = 8  # total seed passages, spread over every document
    seeds_per_document: int | None = None  # or this many per document (wins over `seeds`)
    concurrency: int = 2  # probes in flight at once
    dedup_threshold: float = 0.92  # drop an accepted question this close (cosine) to an earlier one
    guidance: str = ""  # skills or question types to target, passed to the questioner
    seed_focus: str = ""  # one query per line: seed the passages closest to them, not evenly spread ones
    # torch threads while the probes run; None: 1 when no role runs on torch here (campaign/threads.py)
    torch_threads: int | None = None
    probe: ProbeSettings = field(default_factory=ProbeSettings)

    def __post_init__(self) -> None:
        if self.seeds_per_document is not None and self.seeds_per_document < 1:
            raise ValueError("seeds per document must be at least 1")
        if self.seeds_per_document is None and (self.seeds is None or self.seeds < 1):
            raise ValueError("seeds must be at least 1")
        if self.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if not 0.0 < self.dedup_threshold <= 1.0:
            raise ValueError("dedup threshold must be in (0, 1]")
        if self.torch_threads is not None and self.torch_threads < 1:
            raise ValueError("torch threads must be at least 1")
