"""Split a document into overlapping, token-budgeted chunks with exact character offsets."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from .documents import Document
from .errors import RetrievalError

TOKEN = re.compile(r"\w+|[^\w\s]")
PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")
# A sentence ends at . ! ? (plus closing quotes/brackets) before whitespace, or at a line break
# that starts a list item, heading or table row; plain line wrapping is not a sentence end.
SENTENCE_END = re.compile(
    r"[.!?]+[\"'”’)\]]*(?=\s)"
    r"|\n(?=[ \t]*(?:[-*+•#|]|\d{1,3}[.)]\s|\([a-zA-Z0-9]{1,4}\)))"
)
WORD = re.compile(r"\S+")

Span = tuple[int, int]
# (start, end, token count) of a piece of the document text that fits the budget on its own.
Unit = tuple[int, int, int]


@dataclass(frozen=True)
class Chunk:
    """A passage of one document; `text == document_text[start:end]`."""

    id: str
    document: str
    index: int
    text: str
    start: int
    end: int


def count_tokens(text: str) -> int:
    """Approximate subword-token count: each run of word characters and each punctuation mark.

    Deterministic and model-free; real tokenizers usually give somewhat more tokens.
    """
    return len(TOKEN.findall(text))


def chunk_id(document: str, index: int, text: str) -> str:
    """Readable id that names one exact text: '<document>#<index>-<sha1 of text, 8 hex>'."""
    digest = hashlib.sha1(text.encode("utf-8")).hexdigest()[:8]
    return f"{document}#{index:04d}-{digest}"


def check_chunk_settings(max_tokens: int, overlap_tokens: int) -> None:
    """Raise RetrievalError unless 0 <= overlap_tokens < max_tokens."""
    if max_tokens < 1:
        raise RetrievalError(f"max_tokens must be at least 1, got {max_tokens}")
    if not 0 <= overlap_tokens < max_tokens:
        raise RetrievalError(
            f"overlap_tokens must be from 0 to {max_tokens - 1} (below max_tokens), "
            f"got {overlap_tokens}"
        )


def chunk_document(doc: Document, max_tokens: int = 200, overlap_tokens: int = 40) -> list[Chunk]:
    """Pack paragraphs into chunks of at most `max_tokens` tokens.

    Paragraphs over budget are split by sentence, sentences over budget by word. Each chunk
    starts with about `overlap_tokens` of the previous one: whole trailing sentences when
    they fit, otherwise trailing words.
    """
    check_chunk_settings(max_tokens, overlap_tokens)
    text = doc.text
    units = budgeted_units(text, max_tokens)
    if not units:
        return []
    spans = pack_units(text, units, max_tokens, overlap_tokens)
    return [
        Chunk(chunk_id(doc.id, index, text[start:end]), doc.id, index, text[start:end], start, end)
        for index, (start, end) in enumerate(spans)
    ]


def budgeted_units(text: str, max_tokens: int) -> list[Unit]:
    """Paragraphs that fit the budget, else their sentences, else those sentences' words."""
    units: list[Unit] = []
    for paragraph_start, paragraph_end in split_spans(text, 0, len(text), PARAGRAPH_BREAK):
        tokens = count_tokens(text[paragraph_start:paragraph_end])
        if tokens <= max_tokens:
            units.append((paragraph_start, paragraph_end, tokens))
            continue
        for sentence_start, sentence_end in sentence_spans(text, paragraph_start, paragraph_end):
            tokens = count_tokens(text[sentence_start:sentence_end])
            if tokens <= max_tokens:
                units.append((sentence_start, sentence_end, tokens))
            else:
                units.extend(word_units(text, sentence_start, sentence_end, max_tokens))
    return units


def word_units(text: str, start: int, end: int, max_tokens: int) -> list[Unit]:
    """Words of text[start:end]; a single word over budget is cut into windows of tokens."""
    units: list[Unit] = []
    for word in WORD.finditer(text, start, end):
        tokens = count_tokens(word.group())
        if tokens <= max_tokens:
            units.append((word.start(), word.end(), tokens))
            continue
        matches = list(TOKEN.finditer(text, word.start(), word.end()))
        for first in range(0, len(matches), max_tokens):
            window = matches[first : first + max_tokens]
            units.append((window[0].start(), window[-1].end(), len(window)))
    return units


def pack_units(text: str, units: list[Unit], max_tokens: int, overlap_tokens: int) -> list[Span]:
    """Greedily join consecutive units into (start, end) spans within the token budget."""
    # Units are separated only by whitespace, so token counts of adjacent units simply add up.
    spans = []
    start, end, tokens = units[0]
    for unit_start, unit_end, unit_tokens in units[1:]:
        if tokens + unit_tokens <= max_tokens:
            end, tokens = unit_end, tokens + unit_tokens
            continue
        spans.append((start, end))
        budget = min(overlap_tokens, max_tokens - unit_tokens)
        overlap_start = overlap_start_in(text, start, end, budget)
        start = unit_start if overlap_start is None else overlap_start
        end = unit_end
        tokens = count_tokens(text[start:end])
    spans.append((start, end))
    return spans


def overlap_start_in(text: str, start: int, end: int, budget: int) -> int | None:
    """Where the tail of text[start:end] worth repeating begins, or None for no overlap.

    Takes whole trailing sentences within `budget` tokens, else trailing words; never the
    whole span, so every chunk adds something new.
    """
    if budget <= 0:
        return None
    sentence_start = tail_start(text, sentence_spans(text, start, end), budget)
    if sentence_start is not None:
        return sentence_start
    words = [match.span() for match in WORD.finditer(text, start, end)]
    return tail_start(text, words, budget)


def tail_start(text: str, pieces: list[Span], budget: int) -> int | None:
    """Start of the longest run of trailing pieces (never all of them) within `budget` tokens."""
    chosen, used = None, 0
    for piece_start, piece_end in reversed(pieces[1:]):
        used += count_tokens(text[piece_start:piece_end])
        if used > budget:
            break
        chosen = piece_start
    return chosen


def sentence_spans(text: str, start: int, end: int) -> list[Span]:
    """Whitespace-stripped sentences of text[start:end] as absolute (start, end) offsets."""
    spans, position = [], start
    for match in SENTENCE_END.finditer(text, start, end):
        spans.append((position, match.end()))
        position = match.end()
    spans.append((position, end))
    return [span for span in (strip_span(text, *span) for span in spans) if span[0] < span[1]]


def split_spans(text: str, start: int, end: int, separator: re.Pattern[str]) -> list[Span]:
    """Non-empty, whitespace-stripped pieces of text[start:end] between `separator` matches."""
    spans, position = [], start
    for match in separator.finditer(text, start, end):
        spans.append((position, match.start()))
        position = match.end()
    spans.append((position, end))
    return [span for span in (strip_span(text, *span) for span in spans) if span[0] < span[1]]


def strip_span(text: str, start: int, end: int) -> Span:
    """Move start/end inwards past whitespace."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end
