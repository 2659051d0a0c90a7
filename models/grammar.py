"""Hold a local model's replies to JSON schemas, row by row in one batched generate (llguidance)."""

from __future__ import annotations

import json
import re
import threading
from typing import Any

import numpy as np

from .errors import ModelError

# Escapes a reply may use inside a JSON string: only those of a quote and a backslash, so that a
# string of n characters takes at most 2n (schema_reply_tokens).
ALLOWED_ESCAPES = '"\\'
MAX_REPLY_TOKENS = 1024


def schema_reply_tokens(schema: dict[str, Any]) -> int:
    """An upper bound on the tokens of a reply that follows `schema`: a token is one character at
    least, and a string of n characters (maxLength or its longest enum value) is at most 2n in
    JSON. Capped at MAX_REPLY_TOKENS (a schema with an unbounded string)."""
    return min(_json_chars(schema, schema.get("$defs", {})), MAX_REPLY_TOKENS)


def _json_chars(node: dict[str, Any], defs: dict[str, Any]) -> int:
    if "$ref" in node:
        return _json_chars(defs[node["$ref"].split("/")[-1]], defs)
    if "enum" in node:
        return max(2 * len(json.dumps(value)) for value in node["enum"])
    kind = node.get("type")
    if kind == "object":
        properties = node.get("properties", {}).items()
        return 2 + sum(len(name) + 4 + _json_chars(child, defs) for name, child in properties)
    if kind == "array":
        return 2 + node.get("maxItems", 4) * (1 + _json_chars(node.get("items", {}), defs))
    if kind == "string":
        return 2 + 2 * node.get("maxLength", _pattern_chars(node.get("pattern")))
    if kind in ("number", "integer"):
        return 24
    if kind == "boolean":
        return 5
    return MAX_REPLY_TOKENS


def _pattern_chars(pattern: str | None) -> int:
    """A rough bound on a pattern's length: its literal text plus its largest repeat counts."""
    if not pattern:
        return MAX_REPLY_TOKENS
    repeats = sum(int(n) for n in re.findall(r"\{\d+,(\d+)\}", pattern))
    return len(pattern) + repeats


def schema_key(schema: dict[str, Any] | None) -> str | None:
    """A schema as a string (the grammar cache key); None for no schema."""
    return None if schema is None else json.dumps(schema)  # property order is the order of generation


class SchemaGrammars:
    """A tokenizer's grammars for JSON schemas, compiled once each.

    JSON is written compact (no free whitespace): a small model otherwise fills its budget with
    newlines and spaces.
    """

    def __init__(self, tokenizer, vocab_size: int | None = None):
        try:
            import llguidance
            import llguidance.hf
        except ImportError:
            raise ModelError("structured replies from local models need llguidance: "
                             "pip install llguidance") from None
        self._llguidance = llguidance
        self.tokenizer = llguidance.hf.from_tokenizer(tokenizer, n_vocab=vocab_size)
        self.executor = llguidance.LLExecutor()
        self._grammars: dict[str, str] = {}
        self._lock = threading.Lock()

    def matcher(self, key: str):
        """A fresh matcher for the schema `key` (from schema_key)."""
        with self._lock:
            grammar = self._grammars.get(key)
            if grammar is None:
                grammar = self._llguidance.LLMatcher.grammar_from_json_schema(
                    key, defaults={"whitespace_flexible": False, "json_allowed_escapes": ALLOWED_ESCAPES})
                self._grammars[key] = grammar
        matcher = self._llguidance.LLMatcher(self.tokenizer, grammar, log_level=0)
        if matcher.is_error():
            raise ModelError(f"cannot compile the reply schema into a grammar: {matcher.get_error()}")
        return matcher


class GrammarLogits:
    """A logits processor: rows with a matcher may only take tokens their grammar allows, and
    end (EOS) once it is complete; rows without one are left alone. One per `generate` call."""

    def __init__(self, matchers: list[Any], prompt_width: int, executor):
        self.matchers = matchers
        self.prompt_width = prompt_width
        self.executor = executor
        self.rows = [(m, i) for i, m in enumerate(matchers) if m is not None]
        self.bitmask = None

    def __call__(self, input_ids, scores):
        import llguidance.numpy as llnp
        import torch

        if not self.rows:
            return scores
        if input_ids.shape[1] > self.prompt_width:  # feed each row the token chosen last step
            for matcher, row in self.rows:
                if not matcher.is_stopped():
                    matcher.consume_token(int(input_ids[row, -1]))
        if self.bitmask is None:
            self.bitmask = llnp.allocate_token_bitmask(len(self.matchers), scores.shape[1])
        # A finished (or broken) matcher allows EOS alone, so its row ends.
        llnp.fill_next_token_bitmask_par(self.executor, self.rows, self.bitmask)
        indices = [row for _, row in self.rows]
        allowed = np.unpackbits(self.bitmask[indices].view(np.uint8), axis=1, bitorder="little")
        allowed = torch.from_numpy(allowed[:, : scores.shape[1]].astype(bool))
        scores[indices] = scores[indices].masked_fill(~allowed, -float("inf"))
        return scores


def forced_prefix(matcher) -> list[int]:
    """The tokens a reply must open with (`{"answer":"...` when the schema leaves one way to
    begin), consumed by the matcher: they go into the prompt, computed in one pass, rather than
    being generated one step each."""
    tokens = list(matcher.compute_ff_tokens())
    if tokens and not matcher.consume_tokens(tokens):
        return []
    return tokens


class ForcedEnd:
    """A stopping criterion: a row whose grammar leaves its reply one way to end (the rest of an
    enum value once it is told apart, the closing `"}`) stops there, and `tails[row]` holds the
    tokens of that forced rest, added without running the model. `lengths[row]` is how many
    tokens the row had generated when it stopped."""

    def __init__(self, matchers: list[Any], prompt_width: int):
        self.matchers = matchers
        self.prompt_width = prompt_width
        self.tails: dict[int, list[int]] = {}
        self.lengths: dict[int, int] = {}

    def __call__(self, input_ids, scores, **kwargs):
        import torch

        done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        for row, matcher in enumerate(self.matchers):
            if matcher is None:
                continue
            if row in self.tails:
                done[row] = True
                continue
            # The matcher has not yet seen the token chosen this step (GrammarLogits feeds it next
            # step): try it on a copy.
            probe = matcher.deep_copy()
            if not probe.consume_token(int(input_ids[row, -1])) or probe.is_stopped():
                continue  # an error, or the reply already ends: generate ends it as usual
            forced = list(probe.compute_ff_tokens())
            if forced and probe.consume_tokens(forced) and probe.is_stopped():
                self.tails[row] = forced
                self.lengths[row] = input_ids.shape[1] - self.prompt_width
                done[row] = True
        return done
