"""How a campaign runs: how many probes, how many at once, and when two questions are duplicates."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..graph.settings import ProbeSettings
from ..settings import read_text_or_file, setting


@dataclass
class CampaignSettings:
    """How many probes, how many at once, and when two accepted questions are duplicates."""

    seeds: int | None = setting(8, "Seed passages in all, spread over documents.", env="ADVQA_SEEDS")
    seeds_per_document: int | None = setting(
        None, "Seed passages per document (wins over seeds).", env="ADVQA_SEEDS_PER_DOC",
        option="--seeds-per-doc")
    concurrency: int = setting(2, "Probes in flight at once.", env="ADVQA_CONCURRENCY")
    dedup_threshold: float = setting(
        0.92, "Cosine above which an accepted question is a duplicate of an earlier one about the same "
        "document.", env="ADVQA_DEDUP_THRESHOLD")
    guidance: str = setting(
        "", "Skills or question types to target: text or a file.", env="ADVQA_GUIDANCE",
        parse=read_text_or_file)
    seed_focus: str = setting(
        "", "Seed the passages closest to these queries (one per line: text or a file) instead of evenly "
        "spread ones.", env="ADVQA_SEED_FOCUS", parse=read_text_or_file)
    torch_threads: int | None = setting(
        None, "Torch threads while the probes run.", env="ADVQA_TORCH_THREADS",
        shown_default="1 when every role is on a server or llama.cpp, else torch's own")
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


@dataclass
class RunSettings:
    """Where a run keeps its probes and which share of the seeds this process runs ([campaign]
    table): not part of the campaign its workers must agree on (campaign.agreement)."""

    checkpointer: str | None = setting(
        None, "postgres://user@host/db to share probes between workers, or a SQLite file.",
        env="ADVQA_CHECKPOINTER", shown_default="OUT/checkpoints.sqlite")
    worker: str | None = setting(
        None, "I/N: run only this worker's share of the seeds (e.g. 2/4); workers may share OUT.",
        env="ADVQA_WORKER")
