"""Pull one well-formed question out of a questioner's free-text reply."""

from __future__ import annotations

import re

MIN_WORDS = 4
MAX_WORDS = 80

_LABEL = re.compile(r"^\s*(?:[-*#>\d.)\s]*)?(?:\*\*)?(?:new\s+)?(?:question|q)\s*\d*\s*(?:\*\*)?\s*[:.)-]\s*",
                    re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def extract_question(reply: str, previous: list[str] | None = None) -> tuple[str | None, str]:
    """Return (question, "") or (None, why not) for a questioner reply.

    A question is one sentence ending in "?", with MIN_WORDS..MAX_WORDS words, that is not a
    repeat of a previous one. Labels ("Question:", "1.", "**Q:**") and quotes are removed.
    """
    previous_keys = {_key(p) for p in previous or []}
    candidates = []
    for line in reply.splitlines():
        line = _LABEL.sub("", line).strip().strip('"“”\'`*').strip()
        if "?" not in line:
            continue
        # Keep the sentence that ends with the first question mark, with the sentence
        # leading into it when it is an unfinished clause ("Under Section 4, ...").
        head = line[: line.index("?") + 1]
        sentences = _SENTENCE_END.split(head)
        candidates.append(sentences[-1].strip().strip('"“”\'`*').strip())
    if not candidates:
        return None, "no question mark in the reply"
    reasons = []
    for question in candidates:
        words = len(question.split())
        if words < MIN_WORDS:
            reasons.append(f"too short ({words} words)")
        elif words > MAX_WORDS:
            reasons.append(f"too long ({words} words)")
        elif _key(question) in previous_keys:
            reasons.append("repeats an earlier question")
        else:
            return question, ""
    return None, "; ".join(reasons)


def _key(question: str) -> str:
    return re.sub(r"\W+", " ", question.lower()).strip()
