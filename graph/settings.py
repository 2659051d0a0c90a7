"""Settings of one probe (threshold, rounds, retrieval depth, scorer), and the few that Studio sets."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..agents.divergence import SCORERS
from ..agents.grounding import SIMILARITY_BAR
from ..agents.schemas import FORMS

# Reply budgets per role. The JSON replies' budgets cover their schemas' longest strings
# (agents/schemas.py), so that a reply held to its grammar is never cut short; the student
# answers in a sentence or two.
MAX_TOKENS = {"questioner": 160, "student": 64, "expert": 224, "critic": 192}


@dataclass
class ProbeSettings:
    """How a probe runs and when it stops."""

    threshold: float = 0.5  # accept when divergence >= threshold and the answer is grounded
    max_rounds: int = 3  # rounds before a probe ends as exhausted
    k: int = 4  # passages the expert sees (the seed passage always among them)
    question_attempts: int = 3  # questioner tries per round before the probe fails
    scorer: str = "combined"  # combined | judge | embedding | verdict | facts | failure
    grounding_bar: float = SIMILARITY_BAR  # similarity bar for answers that cite nothing
    embedding_model: str | None = None  # for scorers when the retriever has no embedder
    seed: int = 0  # base seed for retries that sample
    form: str = "auto"  # auto | extractive | free: how questions and answers are written (agents/schemas.py)
    answer_candidates: int = 3  # extractive form: the passage sentences the expert chooses among
    critic_veto: bool = False  # a critic that says the expert's answer is not the intended one rejects
    failure_samples: int = 3  # sampled student answers that certify its failure (non-local students)
    max_tokens: dict[str, int] = field(default_factory=lambda: dict(MAX_TOKENS))  # reply budget per role

    def __post_init__(self) -> None:
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold must be between 0 and 1, not {self.threshold}")
        if self.max_rounds < 1:
            raise ValueError(f"max_rounds must be at least 1, not {self.max_rounds}")
        if self.k < 1:
            raise ValueError(f"k must be at least 1, not {self.k}")
        if self.form not in FORMS:
            raise ValueError(f"form must be one of {', '.join(FORMS)}, not {self.form!r}")
        if self.answer_candidates < 1:
            raise ValueError(f"answer_candidates must be at least 1, not {self.answer_candidates}")
        if self.failure_samples < 1:
            raise ValueError(f"failure_samples must be at least 1, not {self.failure_samples}")
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


@dataclass(frozen=True)
class StudioSettings:
    """What LangGraph Studio's configuration panel sets for a run (graph/studio.py); an empty field
    falls back to the environment, else the default."""

    questioner: str = ""  # model spec, e.g. openai:gpt-4o-mini or bundled:smollm2-135m
    student: str = ""  # model spec of the model to adapt
    expert: str = ""  # model spec
    critic: str = ""  # model spec
    threshold: float | None = None  # accept when divergence >= threshold (ADVQA_THRESHOLD)
    max_rounds: int | None = None  # rounds before a probe ends as exhausted (ADVQA_MAX_ROUNDS)
    k: int | None = None  # passages the expert sees (ADVQA_K)
    scorer: str = ""  # combined | judge | embedding | verdict | facts | failure (ADVQA_SCORER)
