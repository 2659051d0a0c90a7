"""Hold a local model's replies to JSON schemas, row by row in one batched generate (llguidance)."""

from __future__ import annotations

import json
import threading
from typing import Any

import numpy as np

from .errors import ModelError


def schema_key(schema: dict[str, Any] | None) -> str | None:
    """A schema as a string (the grammar cache key); None for no schema."""
    return None if schema is None else json.dumps(schema)  # property order is the order of generation


class SchemaGrammars:
    """A tokenizer's grammars for JSON schemas, compiled once each.

    JSON is written compact (no free whitespace): a small model otherwise fills its budget with
    newlines and spaces.
    """

    def __init__(self, tokenizer):
        try:
            import llguidance
            import llguidance.hf
        except ImportError:
            raise ModelError("structured replies from local models need llguidance: pip install llguidance") from None
        self._llguidance = llguidance
        self.tokenizer = llguidance.hf.from_tokenizer(tokenizer)
        self._grammars: dict[str, str] = {}
        self._lock = threading.Lock()

    def matcher(self, key: str):
        """A fresh matcher for the schema `key` (from schema_key)."""
        with self._lock:
            grammar = self._grammars.get(key)
            if grammar is None:
                grammar = self._llguidance.LLMatcher.grammar_from_json_schema(
                    key, defaults={"whitespace_flexible": False})
                self._grammars[key] = grammar
        matcher = self._llguidance.LLMatcher(self.tokenizer, grammar, log_level=0)
        if matcher.is_error():
            raise ModelError(f"cannot compile the reply schema into a grammar: {matcher.get_error()}")
        return matcher


class GrammarLogits:
    """A logits processor: rows with a matcher may only take tokens their grammar allows, and
    end (EOS) once it is complete; rows without one are left alone."""

    def __init__(self, matchers: list[Any], prompt_width: int, eos_id: int):
        self.matchers = matchers
        self.prompt_width = prompt_width
        self.eos_id = eos_id
        self.done = [m is None for m in matchers]

    def __call__(self, input_ids, scores):
        import torch

        generated = input_ids.shape[1] - self.prompt_width
        for row, matcher in enumerate(self.matchers):
            if self.done[row]:
                continue
            if generated > 0:
                matcher.consume_token(int(input_ids[row, -1]))
            if matcher.is_stopped() or matcher.is_error():
                self.done[row] = True  # ends here: the grammar is complete (or broken, and decoding says so)
                scores[row, :] = -float("inf")
                scores[row, self.eos_id] = 0.0
                continue
            bits = np.unpackbits(np.frombuffer(matcher.compute_bitmask(), dtype=np.uint8), bitorder="little")
            allowed = torch.zeros(scores.shape[1], dtype=torch.bool)
            width = min(len(bits), scores.shape[1])
            allowed[:width] = torch.from_numpy(bits[:width].astype(bool))
            scores[row].masked_fill_(~allowed, -float("inf"))
        return scores
