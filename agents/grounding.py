"""Decide by code whether the expert's answer is grounded, fact by fact, in the passages it cites."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..retrieval import Passage
from .facts import defined_terms, extract_facts, missing_facts, term_missing
from .injection import injection_hits
from .passages import passage_label
from .questions import content_words, specific_words

# A sentence of an answer is supported when its cosine similarity (all-MiniLM-L6-v2) with a
# sentence of a cited passage reaches this bar (and its words are the passages' words, below).
# Measured on the example contracts: reworded passage sentences score 0.69 or more (5th
# percentile), generic legal answers against their own nearest passages mostly 0.37-0.56.
SIMILARITY_BAR = 0.65
SHORT_SENTENCE_WORDS = 6  # shorter sentences ("thirty (30) days") are checked by their words alone
WORD_SUPPORT = 0.75  # share of a sentence's specific words that the cited passages must hold
QUESTION_TERMS = 0.5  # share of the question's key words the answer and its evidence must cover
_CITATION = re.compile(r"\b(?:P|passage\s*)(\d{1,3})\b", re.IGNORECASE)
_ABSTAIN = re.compile(r"not\s+answerable|cannot\s+be\s+answered|no\s+(?:information|answer)\b", re.IGNORECASE)
_VERDICT_WORD = re.compile(r"^\W*(?:yes|no)\W*$", re.IGNORECASE)

# Why a grounding check rejects an answer (counted per run in stats.json).
ABSTAINED = "abstained"
NO_CLAIM = "no_claim"
NO_CITATION = "no_citation"
OTHER_DOCUMENT = "other_document"
QUOTE_NOT_FOUND = "quote_not_found"
FACT_NOT_IN_PASSAGE = "fact_not_in_passage"
TERM_NOT_IN_PASSAGE = "term_not_in_passage"
SENTENCE_UNSUPPORTED = "sentence_unsupported"
OFF_TOPIC = "off_topic"


@dataclass
class Grounding:
    """The verdict of the grounding check and the evidence for it."""

    grounded: bool
    method: str  # "facts" when grounded, else the first rejection reason
    passage_ids: list[str] = field(default_factory=list)  # the passages that support the answer
    score: float = 0.0  # the weakest answer sentence's best similarity with a cited sentence
    fabricated: list[str] = field(default_factory=list)  # citations naming no given passage
    unsupported: list[str] = field(default_factory=list)  # cited passages that hold none of it
    reasons: list[str] = field(default_factory=list)  # every rejection reason found
    missing_facts: list[str] = field(default_factory=list)  # facts the cited passages lack
    missing_terms: list[str] = field(default_factory=list)  # defined terms they lack
    unsupported_sentences: list[str] = field(default_factory=list)
    evidence: str = ""  # the cited passage sentence closest to the answer


def cited_labels(answer: str, count: int, cited: Sequence[str] = ()) -> tuple[list[int], list[str]]:
    """Positions of the passages an answer cites (its [P1] labels and the ids in `cited`), and the
    citations naming no given passage."""
    valid, fabricated = [], []
    labels = [m.group(0) for m in _CITATION.finditer(answer)] + list(cited)
    for label in labels:
        match = _CITATION.fullmatch(label.strip()) or _CITATION.search(label)
        number = int(match.group(1)) if match else 0
        if 1 <= number <= count:
            if number - 1 not in valid:
                valid.append(number - 1)
        elif label not in fabricated:
            fabricated.append(label)
    return valid, fabricated


def check_grounding(answer: str, passages: Sequence[Passage], embedder, bar: float = SIMILARITY_BAR,
                    question: str = "", *, cited: Sequence[str] = (),
                    quotes: Sequence[tuple[str, str]] = (), document: str | None = None,
                    question_body: str | None = None) -> Grounding:
    """Check the expert's answer fact by fact against the passages it cites.

    Grounded when every check holds: it is an answer (not "not answerable", and more than a bare
    yes or no); it cites a given passage, all of the probe's `document`; its `quotes` (label,
    text) are the passages' words; every number, amount, percentage, date, duration and defined
    term in it occurs in the cited passages (or the question); each of its sentences is supported
    by a cited passage sentence; and, with its evidence, it covers the question's key words
    (`question_body`: the question without the document's name, which every question has).
    """
    if _ABSTAIN.search(answer):
        return _rejected([ABSTAINED])
    claim = _CITATION.sub(" ", answer)
    if not specific_words(claim) or _VERDICT_WORD.match(claim):
        return _rejected([NO_CLAIM])
    valid, fabricated = cited_labels(answer, len(passages), cited)
    if not valid:
        return _rejected([NO_CITATION], fabricated=fabricated)
    reasons: list[str] = []
    if document is not None and any(passages[i].document != document for i in valid):
        reasons.append(OTHER_DOCUMENT)
    # A passage that reads like instructions to a model (agents/injection.py) supports nothing:
    # text planted in a document must not ground the answer it asks for.
    usable = [not injection_hits(p.text) and (document is None or p.document == document) for p in passages]
    support = _supporting(claim, passages, valid, usable, question)
    unsupported = [passage_label(i) for i in valid if i not in support]
    if not support:
        return _rejected(reasons + [FACT_NOT_IN_PASSAGE], fabricated=fabricated, unsupported=unsupported)
    source = " ".join(passages[i].text for i in support)
    if any(not _quoted_in(text, label, passages, support) for label, text in quotes):
        reasons.append(QUOTE_NOT_FOUND)
    missing = missing_facts(extract_facts(claim), extract_facts(source + " " + question))
    if missing:
        reasons.append(FACT_NOT_IN_PASSAGE)
    terms = sorted(t for t in defined_terms(claim) if term_missing(t, source + " " + question))
    if terms:
        reasons.append(TERM_NOT_IN_PASSAGE)
    weakest, evidence, unsupported_sentences = _sentence_support(claim, source, question, embedder, bar)
    if unsupported_sentences:
        reasons.append(SENTENCE_UNSUPPORTED)
    body = question_body if question_body is not None else question
    key = content_words(body)
    covered = content_words(claim + " " + evidence)
    if key and len(key & covered) < max(1, QUESTION_TERMS * len(key)):
        reasons.append(OFF_TOPIC)
    return Grounding(
        grounded=not reasons, method=reasons[0] if reasons else "facts",
        passage_ids=[passages[i].id for i in support], score=round(weakest, 4), fabricated=fabricated,
        unsupported=unsupported, reasons=reasons, missing_facts=[str(f) for f in missing],
        missing_terms=terms, unsupported_sentences=unsupported_sentences, evidence=evidence)


def _rejected(reasons: list[str], **details) -> Grounding:
    return Grounding(False, reasons[0], reasons=reasons, **details)


def _supporting(claim: str, passages: Sequence[Passage], cited: list[int], usable: Sequence[bool],
                question: str) -> list[int]:
    """The cited usable passages that share words with the claim. When they lack some of its
    facts and one other given passage holds them all, that passage instead: a small model often
    cites the wrong label (which is then recorded as unsupported)."""
    words = specific_words(claim) - specific_words(question)
    facts = extract_facts(claim) - extract_facts(question)
    holding = [i for i in cited if usable[i] and (words & specific_words(passages[i].text) or not words)]
    if holding and not missing_facts(facts, extract_facts(" ".join(passages[i].text for i in holding))):
        return holding
    for i, passage in enumerate(passages):
        if usable[i] and i not in cited and words & specific_words(passage.text) \
                and not missing_facts(facts, extract_facts(passage.text)):
            return [i]
    return holding


def _quoted_in(quote: str, label: str, passages: Sequence[Passage], support: list[int]) -> bool:
    """Whether a quote's words occur, in order, in its passage or another supporting one."""
    wanted = _words(quote.rstrip(". …"))
    if not wanted:
        return True
    positions = set(support)
    valid, _ = cited_labels(label, len(passages))
    positions.update(valid)
    return any(wanted in _words(passages[i].text) for i in positions)


def _words(text: str) -> str:
    return " " + " ".join(re.findall(r"[\w%$€£]+", text.lower())) + " "


def _sentence_support(claim: str, source: str, question: str, embedder,
                      bar: float) -> tuple[float, str, list[str]]:
    """(weakest best similarity, the evidence sentence, the answer sentences not supported).

    A sentence is supported when most of its specific words are in the cited passages (or the
    question) and, unless it is short, a cited passage sentence is similar to it."""
    answer_sentences = sentences_of(claim) or [claim.strip()]
    # A short answer sentence is compared with the passages' clauses too: a long passage sentence
    # that says it is not much like it as a whole.
    passage_sentences = sentences_of(source) or [source]
    passage_sentences += [c.strip() for s in passage_sentences for c in re.split(r"[,:]\s+", s)
                          if len(c.split()) >= 3 and c.strip() != s]
    vectors = embedder.encode(answer_sentences + passage_sentences)
    similarity = vectors[: len(answer_sentences)] @ vectors[len(answer_sentences):].T
    best = similarity.max(axis=1)
    known = specific_words(source) | specific_words(question)
    unsupported = []
    for sentence, score in zip(answer_sentences, best):
        words = specific_words(sentence)
        held = len(words & known) / len(words) if words else 1.0
        short = len(sentence.split()) <= SHORT_SENTENCE_WORDS
        if held < WORD_SUPPORT or (not short and score < bar):
            unsupported.append(sentence)
    best_unit = int(np.argmax(similarity.max(axis=0)))
    evidence = next((s for s in sentences_of(source) if passage_sentences[best_unit] in s),
                    passage_sentences[best_unit])
    return float(best.min()), evidence, unsupported


def sentences_of(text: str) -> list[str]:
    """Sentences (or lines) of three words or more."""
    return [s.strip() for s in re.split(r"(?<=[.!?;])\s+|\n+", text) if len(s.split()) >= 3]


def labels_for(passages: Sequence[Passage]) -> dict[str, str]:
    """P1.. label -> passage id, as recorded in traces."""
    return {passage_label(i): p.id for i, p in enumerate(passages)}
