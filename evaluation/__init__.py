"""LegalBench evaluation: load tasks, score local or API models, metrics, reference corpora."""

from .errors import EvaluationError
from .legalbench import Task, list_tasks, load_task, load_task_from_hub, sample_rows
from .metrics import accuracy, balanced_accuracy, bootstrap_interval, label_shares
from .prompting import few_shot_prompt, zero_shot_messages
from .reference import build_reference_corpus, read_reference_documents
from .run import evaluate, format_table, write_results
from .scoring import (
                      INVALID,
                      GenerationScorer,
                      LoglikScorer,
                      choice_logprob,
                      choose_labels,
                      parse_label,
                      score_choices,
)

__all__ = [
    "INVALID", "EvaluationError", "GenerationScorer", "LoglikScorer", "Task", "accuracy",
    "balanced_accuracy", "bootstrap_interval", "build_reference_corpus", "choice_logprob", "choose_labels",
    "evaluate",
    "few_shot_prompt", "format_table", "label_shares", "list_tasks", "load_task", "load_task_from_hub",
    "parse_label", "read_reference_documents", "sample_rows", "score_choices", "write_results",
    "zero_shot_messages",
]
