"""The four roles (questioner, student, expert, critic), their prompts, parsers and scorers."""

from .cache import ResponseCache, default_cache_path
from .calls import CallContext, CallResult, invoke_model
from .critic import CriticResult, fallback_feedback, judge_answers
from .divergence import (
    SCORERS,
    combine,
    embedding_divergence,
    facts_divergence,
    leading_verdict,
    verdict_divergence,
)
from .errors import PromptError
from .expert import answer_as_expert
from .grounding import SIMILARITY_BAR, Grounding, check_grounding, cited_labels
from .prompts import PROMPTS_DIR, ROLES, PromptSet, export_prompts, load_prompts
from .questioner import QuestionAttempt, ask_question
from .questions import extract_question
from .student import answer_as_student
from .tracing import JsonlTracer, ListTracer, NullTracer, Tracer, read_traces
from .verdicts import Verdict, parse_score, parse_verdict

__all__ = [
    "PROMPTS_DIR", "ROLES", "SCORERS", "SIMILARITY_BAR", "CallContext", "CallResult",
    "CriticResult", "Grounding", "JsonlTracer", "ListTracer", "NullTracer", "PromptError",
    "PromptSet", "QuestionAttempt", "ResponseCache", "Tracer", "Verdict", "answer_as_expert",
    "answer_as_student", "ask_question", "check_grounding", "cited_labels", "combine",
    "default_cache_path", "embedding_divergence", "export_prompts", "extract_question",
    "facts_divergence", "fallback_feedback", "invoke_model", "judge_answers", "leading_verdict",
    "load_prompts", "parse_score", "parse_verdict", "read_traces", "verdict_divergence",
]
