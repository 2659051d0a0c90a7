"""Baseline training corpora at matched token budgets: raw documents, paraphrases, EntiGraph."""

from .build import KINDS, build_baseline
from .errors import BaselineError
from .output import read_items, stats_path, traces_path
from .tokens import TokenCounter

__all__ = ["KINDS", "BaselineError", "TokenCounter", "build_baseline", "read_items", "stats_path",
           "traces_path"]
