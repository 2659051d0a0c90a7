"""Settings of one probe (threshold, rounds, retrieval depth, scorer), and the few that Studio sets."""

from __future__ import annotations

from dataclasses import dataclass

from ..agents.divergence import SCORERS
from ..agents.grounding import SIMILARITY_BAR
from ..agents.schemas import FORMS
from ..settings import setting

# Reply budgets per role. The JSON replies' budgets cover their schemas' longest strings
# (agents/schemas.py), so that a reply held to its grammar is never cut short; the student
# answers in a sentence or two.
MAX_TOKENS = {"questioner": 160, "student": 64, "expert": 224, "critic": 192}


@dataclass
class ProbeSettings:
    """How a probe runs and when it stops."""

    threshold: float = setting(
        0.5, "Divergence to accept a question (and the answer must be grounded).", env="ADVQA_THRESHOLD")
    max_rounds: int = setting(3, "Rounds per probe.", env="ADVQA_MAX_ROUNDS")
    k: int = setting(4, "Passages the expert sees (the seed passage always among them).", env="ADVQA_K")
    question_attempts: int = setting(
        3, "Questioner tries per round before the probe fails.", env="ADVQA_QUESTION_ATTEMPTS")
    scorer: str = setting(
        "combined", "How divergence is scored: combined | judge | embedding | verdict | facts | failure.",
        env="ADVQA_SCORER")
    grounding_bar: float = setting(
        SIMILARITY_BAR, "Similarity bar for answers that cite no passage.", env="ADVQA_GROUNDING_BAR")
    embedding_model: str | None = setting(
        None, "Embedding model for scorers when the retriever has none.", env="ADVQA_EMBEDDING_MODEL",
        shown_default="the bundled all-MiniLM-L6-v2")
    seed: int = setting(0, "Base seed for retries that sample.", env="ADVQA_SEED", option="--sampling-seed")
    form: str = setting(
        "auto", "How questions and answers are written: extractive (a seed sentence with a question phrase "
        "for its answer; the expert answers with a passage sentence), free (the models write them), auto "
        "(extractive for the bundled models).", env="ADVQA_FORM")
    answer_candidates: int = setting(
        1, "Extractive form: the passage sentences, closest to the question first, the expert chooses "
        "among (1: the closest, with no model call; the bundled expert chose worse than that ranking).",
        env="ADVQA_ANSWER_CANDIDATES")
    critic_veto: bool = setting(
        False, "A critic that judges the expert's answer inconsistent with the intended one rejects the "
        "round on its own.", env="ADVQA_CRITIC_VETO")
    failure_samples: int = setting(
        3, "Sampled student answers that certify its failure (students not run locally).",
        env="ADVQA_FAILURE_SAMPLES")
    max_tokens: dict[str, int] = setting(
        help="Reply budget per role (a [probe.max_tokens] table).", option=False,
        default_factory=lambda: dict(MAX_TOKENS))

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
