"""Count and cut text in the student's tokens, so a baseline's budget is its training tokens."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from ..models import DEFAULT_MODEL_SPEC, ModelError, checkpoint_path
from .errors import BaselineError

REGEX_TOKEN = re.compile(r"\w+|[^\w\s]")
LOCAL_KINDS = ("bundled", "hf")


class TokenCounter:
    """Counts tokens with the student's tokenizer (AutoTokenizer from `checkpoint_path(spec)`;
    default: the bundled SmolLM2-135M), without special tokens.

    Specs that name no local checkpoint (`openai:...`, `anthropic:...`, or `regex`) have no
    tokenizer here: they fall back to a word-and-punctuation regex count, which runs about
    15-20% below a subword tokenizer on contract text (more on numbers, which SmolLM2
    splits digit by digit).
    """

    def __init__(self, tokenizer_spec: str | None = None) -> None:
        spec = (tokenizer_spec or DEFAULT_MODEL_SPEC).strip()
        self.spec = spec
        local = spec.partition(":")[0] in LOCAL_KINDS
        self._backend = _load_backend(spec) if local else None
        self.label = spec if local else "regex"

    def count(self, text: str) -> int:
        return len(self._token_ends(text))

    def truncate(self, text: str, limit: int) -> str:
        """The longest prefix of `text`, cut at a token boundary, that counts at most `limit`."""
        if limit <= 0:
            return ""
        ends = self._token_ends(text)
        if len(ends) <= limit:
            return text
        # Re-tokenising a prefix can merge differently at the cut, so check and step back.
        for keep in range(limit, 0, -1):
            prefix = text[: ends[keep - 1]].rstrip()
            if self.count(prefix) <= limit:
                return prefix
        return ""

    def _token_ends(self, text: str) -> list[int]:
        """End offset of each token in `text`."""
        if self._backend is None:
            return [match.end() for match in REGEX_TOKEN.finditer(text)]
        return [end for _, end in self._backend.encode(text, add_special_tokens=False).offsets]


@lru_cache(maxsize=8)
def _load_backend(spec: str) -> Any:
    """The fast (Rust) tokenizer of a local checkpoint; loaded once per spec per process."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(checkpoint_path(spec))
    except ModelError as error:
        raise BaselineError(f"tokenizer '{spec}': {error}") from None
    except (OSError, ValueError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise BaselineError(f"tokenizer '{spec}': cannot load it ({reason})") from None
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise BaselineError(f"tokenizer '{spec}': no fast tokenizer (token offsets are needed)")
    return backend
