"""Pull one well-formed question out of a questioner's free-text reply."""

from __future__ import annotations

import re

MIN_WORDS = 4
MAX_WORDS = 80

_LABEL = re.compile(r"^\s*(?:[-*#>\d.)\s]*)?(?:\*\*)?(?:new\s+)?(?:question|q)\s*\d*\s*(?:\*\*)?\s*[:.)-]\s*",
                    re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


# Words too common in contracts to show that a question is about one particular passage.
GENERIC_WORDS = frozenset("""
    about above after agreement agreements answer apply applies based before being between
    clause clauses contract contracts could does document documents each from have into
    mean means other parties party provide provides provision provisions purpose question
    regarding scope section sections should such term terms than that their them there these
    this those under what when where which while whom whose will with within would
""".split())


def content_words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]{4,}", text.lower()) if w not in GENERIC_WORDS}


def specific_words(text: str) -> set[str]:
    """Content words and numbers ("40,000", "30") of a text."""
    numbers = {n.replace(",", "").rstrip(".") for n in re.findall(r"\d[\d,.]*", text)}
    return content_words(text) | numbers


def extract_question(reply: str, previous: list[str] | None = None,
                     passage: str | None = None) -> tuple[str | None, str]:
    """Return (question, "") or (None, why not) for a questioner reply.

    A question is one sentence ending in "?", with MIN_WORDS..MAX_WORDS words, that is not a
    repeat of a previous one and, when `passage` is given, shares at least one specific word
    with it. Labels ("Question:", "1.", "**Q:**") and quotes are removed.
    """
    previous_keys = {_key(p) for p in previous or []}
    passage_words = content_words(passage) if passage is not None else None
    candidates = []
    for line in reply.splitlines():
        line = _LABEL.sub("", line).strip().strip('"“”\'`*').strip()
        if "?" not in line:
            continue
        # Keep the sentence that ends with the first question mark, with the sentence
        # leading into it when it is an unfinished clause ("Under Section 4, ...").
        head = line[: line.index("?") + 1]
        # "What is the answer to this question: <the real question>?"
        head = re.split(r"question(?:\s+is)?\s*:", head, flags=re.IGNORECASE)[-1].strip(' "“”')
        # 'The answer would be: "What is ...?' - the question sits inside an unclosed quote.
        if len(re.findall(r'["“”]', head)) % 2 == 1:
            head = re.split(r'["“”]', head)[-1]
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
        elif passage_words is not None and not content_words(question) & passage_words:
            reasons.append("shares no specific word with the passage")
        else:
            return question, ""
    return None, "; ".join(reasons)


def _key(question: str) -> str:
    return re.sub(r"\W+", " ", question.lower()).strip()
