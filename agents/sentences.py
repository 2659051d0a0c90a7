"""Contract text split into sentences, without cutting at the abbreviations contracts use."""

from __future__ import annotations

import re

# A sentence ends at . ! ? before a capital, digit, bracket or quote; a line break always ends one.
_BREAK = re.compile(r"(?<=[.!?])\s+(?=[A-Z(0-9\"“])|\n+")
# Words that end in a full stop without ending a sentence: "an A.M. Best rating", "by 3:00 p.m.
# Eastern time", "Galaxy Telecom Inc. (the Company)", "Section No. 4".
ABBREVIATIONS = frozenset("""
    inc. ltd. co. corp. llc. l.l.c. plc. s.a. n.v. b.v. l.p. no. nos. art. sec. para. approx.
    mr. mrs. ms. dr. st. vs. v. e.g. i.e. etc. a.m. p.m. u.s. u.k. u.s.a.
""".split())
# "U.S.", "p.m.", "S.A."; not one letter: "as set out in Exhibit A." ends a sentence.
_INITIALS = re.compile(r"^(?:[A-Za-z]\.){2,}$")


def split_sentences(text: str) -> list[str]:
    """The pieces of `text` between sentence ends (not stripped, empty ones kept out)."""
    pieces, start = [], 0
    for end in _BREAK.finditer(text):
        if "\n" not in end.group() and _abbreviated(text[start:end.start()]):
            continue
        pieces.append(text[start:end.start()])
        start = end.end()
    pieces.append(text[start:])
    return [piece for piece in pieces if piece.strip()]


def _abbreviated(before: str) -> bool:
    """Whether the text before a full stop's break ends in an abbreviation, not a sentence."""
    words = before.split()
    last = words[-1].lstrip("(\"“'") if words else ""
    return last.lower() in ABBREVIATIONS or bool(_INITIALS.match(last))
