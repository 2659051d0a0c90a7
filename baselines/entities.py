"""Entities of a document: parse the generator's list robustly, or find them in the text by code."""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache

MAX_ENTITY_WORDS = 6
_BULLET = re.compile(r"^\s*(?:[-*•+>]|\d{1,3}[.)]|\(?[a-zA-Z0-9]{1,3}\))\s+")
_MARKUP = re.compile(r"[*_`#]+")
_LABEL = re.compile(r"^([A-Za-z][\w ]{0,30}):\s*(.*)$")
_PARENTHETICAL = re.compile(r"\s*\([^)]*\)\s*$")
# Function words, and the categories the extraction prompt names (a small model echoes them).
_NOT_NAMES = frozenset(
    "a an and the or of to in on for by with as at from none entity entities party parties term "
    "terms defined obligation obligations right rights amount amounts date dates period periods"
    .split())
# Words that mark a clause fragment ("divided by the total minutes"), not a name ("Limitation of
# Liability", "Right to Audit", "Cap on Fees" keep of/and/to/on/for).
_FRAGMENT_WORDS = frozenset(
    "the a an by in that which who shall will may must not no is are was were be been being if or "
    "has have had do does did "
    "with from at as this these those its their his her any each all such than then when where"
    .split())
_NAME_LINKS = frozenset("of and to on for &".split())
_LEADING_ARTICLE = re.compile(r"^(?:the|a|an)\s+", re.IGNORECASE)
_EDGE_QUOTES = "\"'“”‘’«» "
_EDGE_PUNCTUATION = ".,;:!?" + _EDGE_QUOTES

_QUOTED_TERM = re.compile(r"[\"“]([A-Z][^\"“”\n]{1,60})[\"”]")
_CAPITALISED_RUN = re.compile(
    r"\b[A-Z][A-Za-z&'’-]+(?:[ \t]+(?:(?:of|and|&)[ \t]+)?[A-Z][A-Za-z&'’-]+)+")
_LEADING_FUNCTION_WORD = re.compile(
    r"^(?:The|This|That|These|Each|Any|All|Such|A|An|If|In|Under|Upon|No|Where|When|Neither|Either)\s+")


def parse_entity_list(reply: str) -> list[str]:
    """Entity names from a model's reply: one a line (or one comma-separated line), with bullets,
    numbering, markup and trailing parentheticals removed, headings ("Entities:") skipped, both
    sides of "Name: description" and both a comma list and its items kept as candidates (the
    document filter decides), deduplicated."""
    lines = [_MARKUP.sub("", _BULLET.sub("", line)).strip() for line in reply.splitlines()]
    lines = [line for line in lines if line and not line.endswith(":")]
    candidates = [piece for line in lines for part in _label_parts(line) for piece in _pieces(part)]
    names = []
    for candidate in candidates:
        name = _PARENTHETICAL.sub("", candidate).strip(_EDGE_PUNCTUATION)
        name = _LEADING_ARTICLE.sub("", re.sub(r"\s+", " ", name))
        if is_name(name):
            names.append(name)
    return dedupe(names)


def is_name(name: str) -> bool:
    """A name, not a clause number ("4.1") or a fragment of a sentence: two letters or more, at
    most MAX_ENTITY_WORDS words, no fragment words, and beyond three words at most one lowercase
    word besides of/and/to/on/for ("Federal Republic of Estmark", not "courts of Calloway have
    exclusive jurisdiction")."""
    words = name.split()
    folded = {word.casefold() for word in words}
    lowercase = [word for word in words if word.islower() and word not in _NAME_LINKS]
    return (sum(char.isalpha() for char in name) >= 2 and 0 < len(words) <= MAX_ENTITY_WORDS
            and name.casefold() not in _NOT_NAMES and not _FRAGMENT_WORDS & folded
            and (len(words) <= 3 or len(lowercase) <= 1))


def _label_parts(line: str) -> list[str]:
    """'Lessor: the party leasing' -> both sides; a line without a short label -> itself."""
    match = _LABEL.match(line)
    if match and len(match.group(1).split()) <= 3:
        return [match.group(1), match.group(2)]
    return [line]


def _pieces(part: str) -> list[str]:
    """'A, B and C' -> itself, then A, B, C ("Acme, Inc." may be one name, so keep the whole too)."""
    pieces = [re.sub(r"^(?:and|or)\s+", "", piece.strip()) for piece in re.split(r"[,;]", part)]
    return [part, *pieces] if len(pieces) > 1 else [part]


def dedupe(names: list[str]) -> list[str]:
    seen: set[str] = set()
    unique = []
    for name in names:
        key = name.casefold()
        if key not in seen:
            seen.add(key)
            unique.append(name)
    return unique


def mentions(text: str, entity: str) -> bool:
    """Whether `text` names `entity`: case-insensitive, whole words, any whitespace between words."""
    return _entity_pattern(entity).search(text) is not None


@lru_cache(maxsize=4096)
def _entity_pattern(entity: str) -> re.Pattern[str]:
    body = r"\s+".join(re.escape(word) for word in entity.split())
    start = r"\b" if entity[:1].isalnum() else ""
    end = r"\b" if entity[-1:].isalnum() else ""
    return re.compile(start + body + end, re.IGNORECASE)


def entities_in_document(names: list[str], text: str) -> list[str]:
    """The names that occur in `text`, spelled as the text first spells them, deduplicated; a
    single word the text writes in lowercase ("process") is a common word, not an entity."""
    found = []
    for name in names:
        match = _entity_pattern(name).search(text)
        if match:
            spelled = re.sub(r"\s+", " ", match.group(0))
            if " " in spelled or not spelled.islower():
                found.append(spelled)
    return dedupe(found)


def code_entities(text: str, limit: int) -> list[str]:
    """Entities found without a model: terms defined in quotes ("Licensed Software"), then
    capitalised multi-word terms (Confidential Information, Effective Date) by frequency."""
    defined = [match.group(1).strip(_EDGE_PUNCTUATION) for match in _QUOTED_TERM.finditer(text)]
    defined = [term for term in defined if is_name(term)]
    runs = Counter()
    for match in _CAPITALISED_RUN.finditer(text):
        term = _LEADING_FUNCTION_WORD.sub("", match.group(0)).strip(_EDGE_PUNCTUATION)
        if len(term.split()) >= 2:
            runs[term] += 1
    by_frequency = sorted(runs, key=lambda term: -runs[term])  # stable: ties keep text order
    return dedupe(defined + by_frequency)[:limit]
