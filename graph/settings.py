"""Settings of one probe: acceptance threshold, rounds, retrieval depth, scorer."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..agents.divergence import SCORERS
from ..agents.grounding import SIMILARITY_BAR

# Reply budgets per role: a question is short; answers and verdicts need a few sentences.
MAX_TOKENS = {"questioner": 80, "student": 160, "expert": 192, "critic": 160}


@dataclass
class ProbeSettings:
    """How a probe runs and when it stops."""

    threshold: float = 0.5  # accept when divergence >= threshold and the answer is grounded
    max_rounds: int = 3  # rounds before a probe ends as exhausted
    k: int = 4  # passages the expert sees (the seed passage always among them)
    question_attempts: int = 3  # questioner tries per round before the probe fails
    scorer: str = "combined"  # combined | judge | embedding | verdict | facts
    grounding_bar: float = SIMILARITY_BAR  # similarity bar for answers that cite nothing
    embedding_model: str | None = None  # for scorers when the retriever has no embedder
    seed: int = 0  # base seed for retries that sample
    max_tokens: dict[str, int] = field(default_factory=lambda: dict(MAX_TOKENS))  # reply budget per role

    def __post_init__(self) -> None:
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold must be between 0 and 1, not {self.threshold}")
        if self.max_rounds < 1:
            raise ValueError(f"max_rounds must be at least 1, not {self.max_rounds}")
        if self.k < 1:
            raise ValueError(f"k must be at least 1, not {self.k}")
        if self.question_attempts < 1:
            raise ValueError(f"question_attempts must be at least 1, not {self.question_attempts}")
        if self.scorer not in SCORERS:
            raise ValueError(f"unknown scorer '{self.scorer}' (choose from {', '.join(SCORERS)})")
        unknown = set(self.max_tokens) - set(MAX_TOKENS)
        if unknown:
            raise ValueError(f"max_tokens names an unknown role: {sorted(unknown)[0]}")
        self.max_tokens = {**MAX_TOKENS, **self.max_tokens}
        if not 0.0 < self.grounding_bar <= 1.0:
            raise ValueError(f"grounding_bar must be in (0, 1], not {self.grounding_bar}")
