"""Contract text split into sentences, without cutting at the abbreviations contracts use, and
without the numbers and run-in headings that open a contract's sections."""

from __future__ import annotations

import re

from ..retrieval.documents import PAGE_MARK

# A sentence ends at . ! ? before a capital, digit, bracket or quote, and at a line break unless
# the sentence runs on over it (_runs_on).
_BREAK = re.compile(r"(?<=[.!?])\s+(?=[A-Z(0-9\"“])|\n+")
# A line that goes on with a lowercase word, not a list mark ("a. ", "ii) ").
_LOWERCASE_LINE = re.compile(r"\s*(?![a-z]{1,4}[.)]\s)[a-z]")
_PAGE_MARK = re.compile(PAGE_MARK)
# What ends a sentence, or a clause that stands as one.
END_MARKS = (".", ";", ":", "!", "?")
# Words that end in a full stop without ending a sentence: "an A.M. Best rating", "by 3:00 p.m.
# Eastern time", "Galaxy Telecom Inc. (the Company)", "Section No. 4".
ABBREVIATIONS = frozenset("""
    inc. ltd. co. corp. llc. l.l.c. plc. s.a. n.v. b.v. l.p. no. nos. art. sec. para. approx.
    mr. mrs. ms. dr. st. vs. v. e.g. i.e. etc. a.m. p.m. u.s. u.k. u.s.a.
""".split())
# "U.S.", "p.m.", "S.A."; not one letter: "as set out in Exhibit A." ends a sentence.
_INITIALS = re.compile(r"^(?:[A-Za-z]\.){2,}$")
_MARKDOWN_HEADING = re.compile(r"^#+[^\n]*$", re.M)
# A section's number before its first word: "4.2 ", "3. ", "(a) ".
NUMBERING = re.compile(r"^\s*(?:\d+(?:\.\d+)*\.?|\([a-z0-9]{1,4}\))\s*(?=[A-Z\"“(])")
# Lowercase words a heading holds ("Ownership and Privacy of Records").
_HEADING_LINKS = frozenset("a an and by for in of on or the to with &".split())
# Capitalised words that open a sentence rather than end a heading ("... Notices Unless Telnet").
_OPENERS = frozenset("""
    After All Any As At Before Both During Each Either Except For If In Neither No Notwithstanding
    On Subject Such The These This Unless Until Upon When Where Within Without
""".split())
# What a party does right after its name opens a section's sentence ("Galaxy shall ...").
PARTY_VERBS = frozenset("""
    accepts acknowledges agrees appoints are can certifies confirms covenants does grants has have
    hereby is makes may must represents reserves retains shall undertakes warrants will
""".split())
MAX_HEADING_WORDS = 8
_SECTION_NUMBER = re.compile(r"^\d+(?:\.\d+)*\.?$")


def split_sentences(text: str) -> list[str]:
    """The pieces of `text` between sentence ends (not stripped, empty ones kept out)."""
    pieces, start = [], 0
    for end in _BREAK.finditer(text):
        before = text[start:end.start()]
        if _runs_on(before, text, end.end()) if "\n" in end.group() else _abbreviated(before):
            continue
        pieces.append(before)
        start = end.end()
    pieces.append(text[start:])
    return [piece for piece in pieces if piece.strip()]


def _runs_on(before: str, text: str, after: int) -> bool:
    """Whether a sentence goes on over the line break at `after`: it has begun (a lowercase word;
    not a page mark such as "-2-" or "Page 1") and has no end mark, and the next line starts with
    a lowercase word (a paragraph break inside a clause: "... listed on the attached Commission
    Schedule\n\nin Nevada, Agency agrees not to sell ...")."""
    ended = before.rstrip().endswith(END_MARKS)
    return (any(c.islower() for c in before) and not ended
            and not _PAGE_MARK.fullmatch(before.strip().rpartition("\n")[2].strip())
            and bool(_LOWERCASE_LINE.match(text, after)))


def _abbreviated(before: str) -> bool:
    """Whether the text before a full stop's break ends in an abbreviation, not a sentence."""
    words = before.split()
    last = words[-1].lstrip("(\"“'") if words else ""
    return last.lower() in ABBREVIATIONS or bool(_INITIALS.match(last))


def contract_sentences(text: str) -> list[str]:
    """The sentences of `text`, spaces collapsed, markdown heading lines left out, each without
    the capitals heading, section number and run-in heading that open it (drop_capitals_heading,
    drop_section_heading)."""
    text = _MARKDOWN_HEADING.sub(" ", text)
    spaced = " ".join(text.split())
    sentences = []
    for piece in split_sentences(text):
        sentence = drop_capitals_heading(" ".join(piece.split()))
        numbered = NUMBERING.match(sentence)
        if numbered:
            sentence = drop_section_heading(sentence[numbered.end():], spaced)
        sentences.append(sentence)
    return sentences


def drop_capitals_heading(sentence: str) -> str:
    """A sentence without the article heading in capitals that opens it: up to a section number
    ("TERM AND TERMINATION 10.1 Term of the Agreement The initial term ..." -> "10.1 Term of ...")
    or to an opener ("ODM SUPPLY AGREEMENT THIS AGREEMENT is made ..." -> "THIS AGREEMENT is
    made ...", "TRANSFER OF INTELLECTUAL PROPERTY The Manufacturer ..." -> "The Manufacturer ...")."""
    words = sentence.split(" ")
    if not any(character.isalpha() for character in words[0]):
        return sentence  # a number or a page mark ("-8-"), not a heading
    run = 0
    while run < len(words) and words[run] == words[run].upper():
        run += 1
    if run == len(words):
        return sentence
    numbers = [j for j in range(1, run) if _SECTION_NUMBER.match(words[j]) and words[j + 1][:1].isupper()]
    if numbers:
        return " ".join(words[numbers[-1]:])
    if run < 2:
        return sentence
    if words[run] in _OPENERS:
        return " ".join(words[run:])
    openers = [j for j in range(1, run) if words[j] in ("THE", "THIS", "THESE")]
    return " ".join(words[openers[-1]:]) if openers else sentence


def drop_section_heading(body: str, text: str) -> str:
    """A numbered section's first sentence without the heading run into it: "Ownership and
    Privacy of Records Galaxy shall own the Records" -> "Galaxy shall own the Records".

    Before the sentence's first lowercase word, the sentence starts at a party's name followed
    by its verb ("Galaxy shall", "Telnet covenants"), else at the last opener ("Limitation of
    Privacy The Products and Services utilize", "Exceptions Notwithstanding the"), with the
    openers just before it ("Neither Party shall"). Where that is unsure, the body is kept whole:
    no verb or opener, a heading that is not Title-case, or two words at the cut that stand
    together elsewhere in `text` and so are a name ("Premier Nutrition Company shall").
    """
    words = body.split(" ")
    first_lower = next((i for i, word in enumerate(words)
                        if word[:1].islower() and word.lower() not in _HEADING_LINKS), None)
    if first_lower is None or first_lower < 2:
        return body
    subject = first_lower - 1
    if (words[subject][:1].isupper() and words[first_lower].strip(",;:") in PARTY_VERBS
            and words[subject - 1].lower() not in _HEADING_LINKS):
        start = subject
    else:
        start = next((j for j in range(subject, -1, -1) if words[j] in _OPENERS), 0)
        if not all(_heading_word(word) for word in words[start + 1:first_lower]):
            return body
    while start > 0 and words[start - 1] in _OPENERS:
        start -= 1
    heading = words[:start]
    if not heading or len(heading) > MAX_HEADING_WORDS or not all(_heading_word(word) for word in heading):
        return body
    if text.count(f"{words[start - 1]} {words[start]}") > 1:
        return body
    return " ".join(words[start:])


def _heading_word(word: str) -> bool:
    return word[:1].isupper() or word.lower() in _HEADING_LINKS
