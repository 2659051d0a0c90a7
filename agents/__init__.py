"""The four roles (questioner, student, expert, critic), their prompts, parsers and scorers."""

from .cache import ResponseCache, default_cache_path
from .calls import CallContext, CallResult, invoke_model
from .critic import Verdict, fallback_feedback, judge_answers
from .divergence import (
    SCORERS,
    combine,
    embedding_divergence,
    facts_divergence,
    leading_verdict,
    verdict_divergence,
)
from .errors import PromptError
from .expert import ExpertAnswer, answer_as_expert
from .grounding import SIMILARITY_BAR, Grounding, check_grounding, cited_labels
from .prompts import PROMPTS_DIR, ROLES, PromptSet, export_prompts, load_prompts
from .questioner import QuestionAttempt, ask_question
from .questions import Focus, check_question, question_focuses
from .roundtrip import Agreement, compare_answers
from .schemas import QUESTION_TYPES, CriticReply, ExpertReply, QuestionReply
from .student import answer_as_student
from .tracing import JsonlTracer, ListTracer, NullTracer, Tracer

__all__ = [
    "PROMPTS_DIR", "QUESTION_TYPES", "ROLES", "SCORERS", "SIMILARITY_BAR", "Agreement", "CallContext",
    "CallResult", "CriticReply", "ExpertAnswer", "ExpertReply", "Focus", "Grounding", "JsonlTracer",
    "ListTracer", "NullTracer", "PromptError", "PromptSet", "QuestionAttempt", "QuestionReply",
    "ResponseCache", "Tracer", "Verdict", "answer_as_expert", "answer_as_student", "ask_question",
    "check_grounding", "check_question", "cited_labels", "combine", "compare_answers",
    "default_cache_path", "embedding_divergence", "export_prompts", "facts_divergence",
    "fallback_feedback", "invoke_model", "judge_answers", "leading_verdict", "load_prompts",
    "question_focuses", "verdict_divergence",
]
