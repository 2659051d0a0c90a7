"""Flag passages whose text reads like instructions to a model (prompt injection), for the trace."""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..retrieval import Passage
from .passages import passage_label

# Phrases that address a model rather than a contract's reader. A hit only flags the passage in
# the trace: passages are data either way, and routing never depends on what they say.
PATTERNS = {
    "ignore instructions": re.compile(
        r"\b(?:ignore|disregard|forget|override)\s+(?:all\s+(?:of\s+)?(?:the\s+|your\s+)?"
        r"(?:previous\s+|prior\s+|above\s+|earlier\s+)?|(?:the\s+|your\s+|any\s+)?"
        r"(?:previous|prior|above|earlier|preceding|system)\s+)"
        r"(?:instructions?|prompts?|rules|directions|guidelines)\b", re.IGNORECASE),
    # "the system prompt" alone occurs in contracts (a payment system's prompt), "act as an
    # expert" too (an expert, not an arbitrator): these patterns stay narrower.
    "system prompt": re.compile(r"\b(?:your|new|reveal\s+(?:the|your)|print\s+(?:the|your))\s+system\s+"
                                r"prompt\b|\bsystem\s+prompt\s*:", re.IGNORECASE),
    "you are now": re.compile(
        r"\b(?:you\s+are\s+now|pretend\s+to\s+be|from\s+now\s+on\s+you\s+are)\s+(?:an?\s+|the\s+)?"
        r"(?:ai|assistant|language\s+model|model|critic|expert|judge|grader|chatbot)\b", re.IGNORECASE),
    "new instructions": re.compile(r"\b(?:new|updated|real)\s+instructions?\s*:", re.IGNORECASE),
    "verdict directive": re.compile(
        r"\b(?:output|set|give|report|return|assign|rate|answer\s+with|reply\s+with)\s+"
        r"(?:an?\s+|the\s+)?(?:divergence|grounded)\b", re.IGNORECASE),
    "verdict line": re.compile(r"^\W*(?:divergence|grounded)\s*[:=]", re.IGNORECASE | re.MULTILINE),
    "role tag": re.compile(r"<\|[^|>]{1,30}\|>|</?s>|\[/?INST\]|<</?SYS>>", re.IGNORECASE),
    "fake delimiter": re.compile(r"<\s*/?\s*passage\b", re.IGNORECASE),
    "citation label": re.compile(r"\[\s*P\d{1,3}\s*\]"),
}
MAX_MATCH_CHARS = 80


def injection_hits(text: str) -> list[tuple[str, str]]:
    """(pattern name, matched text) for every pattern found in `text`, first match of each."""
    hits = []
    for name, pattern in PATTERNS.items():
        match = pattern.search(text)
        if match:
            hits.append((name, " ".join(match.group(0).split())[:MAX_MATCH_CHARS]))
    return hits


def suspicious_passages(passages: Sequence[Passage]) -> list[dict[str, str]]:
    """One entry per pattern hit: the passage id, its label as shown to the model, the pattern,
    and the text that matched."""
    return [{"passage": passage.id, "label": passage_label(position), "pattern": name, "match": found}
            for position, passage in enumerate(passages)
            for name, found in injection_hits(passage.text)]
