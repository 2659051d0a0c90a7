"""Facts in contract text (numbers, amounts, percentages, dates, durations, defined terms),
normalised so that "thirty percent (30%)" and "30%" compare equal."""

from __future__ import annotations

import re
from dataclasses import dataclass

_UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
         "eighty": 80, "ninety": 90}
_SCALES = {"hundred": 100, "thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000}
_NUMBER_WORDS = {**_UNITS, **_TENS, **_SCALES}
_MONTHS = {m: i + 1 for i, m in enumerate(
    "january february march april may june july august september october november december".split())}
_MONTH = r"(January|February|March|April|May|June|July|August|September|October|November|December)"
_DURATION_UNITS = {"day": "day", "days": "day", "business day": "business day",
                   "business days": "business day", "working day": "business day",
                   "working days": "business day", "week": "week", "weeks": "week",
                   "month": "month", "months": "month", "year": "year", "years": "year",
                   "hour": "hour", "hours": "hour", "calendar day": "day", "calendar days": "day"}

_DATE_PATTERNS = [
    # 15 December 2025, 15th December, 2025, the 15th day of December, 2025
    (re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)?\s+(?:day\s+of\s+)?" + _MONTH + r",?\s+(\d{4})\b", re.I),
     lambda m: (int(m.group(3)), _MONTHS[m.group(2).lower()], int(m.group(1)))),
    # December 15, 2025
    (re.compile(_MONTH + r"\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})\b", re.I),
     lambda m: (int(m.group(3)), _MONTHS[m.group(1).lower()], int(m.group(2)))),
    # 2025-12-15
    (re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b"),
     lambda m: (int(m.group(1)), int(m.group(2)), int(m.group(3)))),
    # 12/20/18, 12/20/2018 (US order, as in CUAD)
    (re.compile(r"\b(\d{1,2})/(\d{1,2})/(\d{2}|\d{4})\b"),
     lambda m: (_full_year(int(m.group(3))), int(m.group(1)), int(m.group(2)))),
    # December 2025
    (re.compile(_MONTH + r",?\s+(\d{4})\b", re.I),
     lambda m: (int(m.group(2)), _MONTHS[m.group(1).lower()], 0)),
]
_WORD_NUMBER = re.compile(
    r"\b(?:" + "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True)) + r")"
    r"(?:(?:[\s-]+|\s+and\s+)(?:" + "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True)) + r"))*\b",
    re.I)
_DIGITS = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?(?![\w])")
_SCALE_AFTER = re.compile(r"^\s*(million|billion|thousand)\b", re.I)
_PERCENT_AFTER = re.compile(r"^\s*\)?\s*(%|percent\b|per\s+cent\b)", re.I)
_UNIT_AFTER = re.compile(
    r"^\s*(?:\(\s*[\d,.]+\s*\)\s*)?(business days?|working days?|calendar days?|days?|weeks?|months?|"
    r"years?|hours?)\b", re.I)
_QUOTED = re.compile(r"[\"“]([^\"”]{2,60})[\"”]")
_CAPITALISED = re.compile(r"\b[A-Z][\w&'-]*(?:\s+(?:of|and|for|the|&)?\s*[A-Z][\w&'-]*)*")
# Capitalised words that only open or close a term ("The Buyer", "Under Section") ...
_EDGE_WORDS = frozenset("""
    a an the this that these those if in on of for to and or but no not yes it its is are be was
    under upon with within without after before during each any all both either neither when
    where which who what how may must shall will can does do i
""".split()) | frozenset(_MONTHS)
# ... and terms that say nothing on their own.
_TRIVIAL_TERMS = frozenset("""
    answer question section clause article schedule paragraph agreement contract party parties p
""".split())


@dataclass(frozen=True, order=True)
class Fact:
    """One normalised fact: `kind` is number, percent, duration or date; `value` its canonical text
    ("40000", "30", "30 day", "2025-12-15")."""

    kind: str
    value: str

    def __str__(self) -> str:
        return {"percent": f"{self.value}%", "date": self.value}.get(self.kind, self.value)

    @property
    def number(self) -> str:
        """The bare number of a number, percent or duration ("30" for 30 days)."""
        return self.value.split()[0]


def _full_year(year: int) -> int:
    return year + (2000 if year < 50 else 1900) if year < 100 else year


def canonical_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.4f}".rstrip("0").rstrip(".")


def word_number(text: str) -> int | None:
    """"one hundred and eighty-six thousand" -> 186000; None when the words are not a number."""
    total = current = 0
    seen = False
    for word in re.split(r"[\s-]+", text.lower()):
        if word in ("", "and"):
            continue
        if word in _UNITS or word in _TENS:
            current += _UNITS.get(word, 0) + _TENS.get(word, 0)
        elif word == "hundred":
            current = (current or 1) * 100
        elif word in _SCALES:
            total += (current or 1) * _SCALES[word]
            current = 0
        else:
            return None
        seen = True
    return total + current if seen else None


def extract_facts(text: str) -> set[Fact]:
    """The numbers, amounts, percentages, durations and dates of a text, normalised.

    A number written in words and again in digits ("forty thousand (40,000)") is one fact; a
    number followed by a time unit is a duration ("thirty (30) days" -> 30 day); one followed by
    "%" or "percent" a percentage; "$5 million" the number 5000000. Dates in the usual contract
    forms become ISO dates (a month and year alone: "2025-12").
    """
    return _drop_restatements({fact for _, _, fact in fact_mentions(text)})


def fact_mentions(text: str) -> list[tuple[int, int, Fact]]:
    """Where each fact is written in `text`: (start, end, fact), in text order; a number's span
    takes its scale, percent sign or time unit with it."""
    mentions: list[tuple[int, int, Fact]] = []
    spans: list[tuple[int, int]] = []
    for pattern, parts in _DATE_PATTERNS:
        for match in pattern.finditer(text):
            if any(s <= match.start() < e for s, e in spans):
                continue
            try:
                year, month, day = parts(match)
            except (KeyError, ValueError):
                continue
            if not 1 <= month <= 12 or not 0 <= day <= 31:
                continue
            date = f"{year:04d}-{month:02d}" + (f"-{day:02d}" if day else "")
            mentions.append((match.start(), match.end(), Fact("date", date)))
            spans.append((match.start(), match.end()))
    masked = _mask(text, spans)
    numbers: list[tuple[int, int, float]] = []
    for match in _WORD_NUMBER.finditer(masked):
        if match.group(0).lower() in _SCALES and re.search(r"\d\s*$", masked[: match.start()]):
            continue  # the "million" of "1.5 million", read with its digits
        value = word_number(match.group(0))
        if value is not None:
            numbers.append((match.start(), match.end(), float(value)))
    for match in _DIGITS.finditer(masked):
        whole = match.group(1).replace(",", "")
        value = float(whole + ("." + match.group(2) if match.group(2) else ""))
        numbers.append((match.start(), match.end(), value))
    for start, end, value in numbers:
        rest = masked[end:]
        if scale := _SCALE_AFTER.match(rest):
            value *= _SCALES[scale.group(1).lower()]
            end += scale.end()
            rest = rest[scale.end():]
        number = canonical_number(value)
        if percent := _PERCENT_AFTER.match(rest):
            mentions.append((start, end + percent.end(), Fact("percent", number)))
        elif unit := _UNIT_AFTER.match(rest):
            name = _DURATION_UNITS[" ".join(unit.group(1).lower().split())]
            mentions.append((start, end + unit.end(), Fact("duration", f"{number} {name}")))
        else:
            mentions.append((start, end, Fact("number", number)))
    return sorted(mentions, key=lambda m: (m[0], m[1]))


def _mask(text: str, spans: list[tuple[int, int]]) -> str:
    chars = list(text)
    for start, end in spans:
        chars[start:end] = " " * (end - start)
    return "".join(chars)


def _drop_restatements(facts: set[Fact]) -> set[Fact]:
    """"thirty (30) days" gives 30 (the words, before their unit) and 30 day: keep the duration.
    Likewise a bare number equal to a percentage's."""
    qualified = {f.number for f in facts if f.kind in ("duration", "percent")}
    return {f for f in facts if f.kind != "number" or f.value not in qualified}


def facts_match(expected: Fact, found: set[Fact]) -> bool:
    """Whether `found` holds `expected`: the same kind and value, or the same number where one
    side gives no unit (an answer "30" for "30 days"); durations in other units do not match."""
    if expected in found:
        return True
    for fact in found:
        if fact.kind == "date" or expected.kind == "date":
            continue
        if fact.number == expected.number and "number" in (fact.kind, expected.kind):
            return True
    return False


def missing_facts(claimed: set[Fact], source: set[Fact]) -> list[Fact]:
    """The facts of `claimed` that `source` does not hold, sorted."""
    return sorted(f for f in claimed if not facts_match(f, source))


def defined_terms(text: str) -> set[str]:
    """Quoted terms ("Net Sales") and capitalised terms ("Minimum Purchase Target", "Distributor")
    that do not open a sentence; lower-cased."""
    terms = {m.group(1).strip().lower() for m in _QUOTED.finditer(text)}
    for sentence in re.split(r"(?<=[.!?:;])\s+|\n+", text):
        for match in _CAPITALISED.finditer(sentence):
            words = match.group(0).split()
            if match.start() == len(sentence) - len(sentence.lstrip()):
                words = words[1:]  # the sentence's first word is capitalised anyway
            while words and words[0].lower() in _EDGE_WORDS:
                words = words[1:]
            while words and words[-1].lower() in _EDGE_WORDS:
                words = words[:-1]
            term = " ".join(words).strip("'’-").lower()
            if len(term) > 1 and not term.isdigit() and term not in _TRIVIAL_TERMS:
                terms.add(term)
    return terms


def term_missing(term: str, text: str) -> bool:
    """Whether a defined term (lower-cased) is absent from `text`, allowing a plural or possessive."""
    pattern = r"\b" + r"\s+".join(re.escape(w) for w in term.split()) + r"(?:s|es|'s|’s)?\b"
    return re.search(pattern, text, re.IGNORECASE) is None
