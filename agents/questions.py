"""Choose what a question asks about, check a questioner's question by code, and name its document."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from .facts import extract_facts, fact_mentions, missing_facts
from .schemas import MAX_ANSWER_CHARS
from .sentences import END_MARKS, NUMBERING, PARTY_VERBS, contract_sentences

MIN_WORDS = 4
MIN_QUESTION_TERMS = 2  # content words a question needs outside its answer ("TrueLink will provide what?": 1)
MIN_LOWERCASE_WORDS = 3  # a focus sentence is prose, not a header of names and numbers
# ... or a definition, which may have fewer: '"Effective Date" shall mean December 5, 2014.'
_DEFINITION = re.compile(r"^\S*[\"“'][A-Z][^\"”']{2,60}[\"”'] (?:shall )?means? ")
MAX_WORDS = 60
ANSWER_IN_PASSAGE = 0.6  # share of the intended answer's words the seed passage must hold

# Words too common in contracts to show that a question is about one particular passage.
GENERIC_WORDS = frozenset("""
    about above after agreement agreements answer apply applies based before being between
    clause clauses contract contracts could does document documents each from have into
    mean means other parties party provide provides provision provisions purpose question
    regarding scope section sections should such term terms than that their them there these
    this those under what when where which while whom whose will with within would shall must
    unless except hundred thousand million billion seven eight three twenty thirty forty fifty
    sixty seventy eighty ninety eleven twelve fifteen percent
""".split())
# A question that points at text the student will never see cannot be asked at test time.
_DEICTIC = re.compile(r"\b(?:this|the|above|following|preceding|given)\s+(?:clause|passage|text|"
                      r"excerpt|paragraph|section|sentence|provision)\b|\babove\b|\bquoted\b",
                      re.IGNORECASE)

# Why the code turns a questioner's reply down (counted per run in stats.json).
NO_FOCUS = "no_focus"  # the seed passage has no sentence with something to ask about
UNPARSED = "question_unparsed"
NOT_A_QUESTION = "not_a_question"
REPEATED = "question_repeated"
NOT_STANDALONE = "question_not_standalone"
OFF_PASSAGE = "question_off_passage"
VAGUE = "question_vague"  # too few words of its own to pick one statement of the contract
ANSWER_NOT_IN_PASSAGE = "answer_not_in_passage"

def content_words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]{4,}", text.lower()) if w not in GENERIC_WORDS}


def specific_words(text: str) -> set[str]:
    """Content words and numbers ("40,000", "30") of a text."""
    numbers = {n.replace(",", "").rstrip(".") for n in re.findall(r"\d[\d,.]*", text)}
    return content_words(text) | numbers


@dataclass(frozen=True)
class Focus:
    """What one question should be about: a sentence of the seed passage, the words of it that
    answer the question, the kind of question, and words of the sentence the question must use."""

    sentence: str
    answer: str
    type: str
    terms: tuple[str, ...] = ()

    def question_phrases(self) -> tuple[str, ...]:
        """What an anchored question puts where the answer stands, by what the answer is."""
        if self.type != "lookup":
            return ANCHORED_PHRASES.get(self.type, ("what",))
        # What the answer opens with: "recover its costs pursuant to Civil Code section 1717 ..." is
        # not a number; "one another", "one of them" are not counts.
        opening = _PRONOUN_ONE.sub("", " ".join(self.answer.split()[:OPENING_WORDS]))
        kinds = {fact.kind for fact in extract_facts(opening)}
        if _CLOCK.search(opening):
            return ("what time", "when")
        if "date" in kinds:
            return ("what date", "when")
        if "duration" in kinds:
            return ("what period", "how long")
        if "percent" in kinds:
            return ("what percentage", "how much")
        if "number" in kinds:
            if _MONEY.search(self.answer):
                return ("how much", "what amount")
            noun = _COUNTED.search(self.answer)  # "zero defects": "how many defects"
            if noun:
                return (f"how many {noun.group(1)}", f"what number of {noun.group(1)}")
            return ("how many", "what number")
        return ("what",)

    def frame(self) -> tuple[str, str] | None:
        """The sentence's words before and after the answer, for an anchored question; None when
        the answer is not one stretch of the sentence or the question would be too long. A
        qualifier opening the answer ("within", "at least") stays in the question."""
        body = NUMBERING.sub("", self.sentence).replace('"', "'")
        answer = self.answer.replace('"', "'")
        if answer not in body:
            return None
        before, after = body.split(answer, 1)
        qualifier = _LEADING_QUALIFIER.match(answer)
        if self.type == "lookup" and qualifier and extract_facts(answer):
            before += qualifier.group(0)
        if self.type == "scenario":  # "If X, Y": ask "If X, what happens?"
            before, after = (before + " " + after).strip(" ,;:.") + ", ", ""
        after = re.split(r"[;:]\s|\.\s*$", after)[0].rstrip(" ,.")
        if _LIST_GOES_ON.match(after):
            return None  # "... being [stored], packaged, or processed": the answer ended inside a list
        if len(before) + len(after) > MAX_FRAME_CHARS:  # up to the next comma
            # An exception or condition keeps the clause it qualifies when that follows it, or else the
            # words before it must be a clause of their own: not "Subject to ..., upon termination,
            # except for what?" nor "... Telnet's use of it and in what case?".
            qualified = self.type in ("exception", "condition") and after.startswith(",")
            after = "," + after[1:].split(",")[0] if qualified else after.split(",")[0]
            if qualified and len(before) + len(after) > MAX_FRAME_CHARS:
                if not PARTY_VERBS & set(before.lower().split()) or re.search(r"\b(?:and|or),?\s*$", before):
                    return None
                after = ""
        after = _DANGLING.sub("", after)  # cut before "..., or use of ...": not "within how long to?"
        if (len(before) + len(after) > MAX_FRAME_CHARS or len((before + after).split()) < MIN_FRAME_WORDS
                or not content_words(before + after)):
            return None
        if before and not before[0].isupper():
            before = before[0].upper() + before[1:]
        return before, after


_LEFT_QUALIFIER = re.compile(r"(?:\b(?:at least|up to|no more than|not more than|not less than|more than|"
                             r"less than|within|minimum of|maximum of|of|at)\s+)?(?:US\$|EUR\s|€|£|\$)?\s*$",
                             re.I)
# What a number refers to rather than states: "Section 13.4", "See note 3" (a table's footnote).
_REFERENCE = re.compile(r"(?:\b(?:section|clause|paragraph|schedule|article|annex|exhibit|(?:foot)?note)s?\s+"
                        r"|^\s*)$", re.I)
_CLAUSE_MARKERS = (
    ("exception", re.compile(r"\b(?:except|unless|other than|save that|excluding|"
                             r"but not(?! the obligation| limited))\b", re.I)),
    ("condition", re.compile(r"\b(?:only if|if|provided that|subject to|in the event that|"
                             r"on condition that)\b",
                             re.I)),
)
_SPAN_END = re.compile(r"[,;:.](?:\s|$)|\s\((?:[a-z]|[ivx]+)\)\s")
# A comma that opens a qualifying clause rather than a list's next item.
_CLAUSE_BREAK = re.compile(r",\s+(?=(?:whether|including|provided|but|except|unless|which|where|as well as|"
                           r"subject to|so that|in each case|and (?:shall|will|may|must))\b)", re.I)
# Where a long object's qualification starts: "not to sell [any product ... to any other party] without
# prior written consent", "to offer [the Customer the first right of refusal ...] based upon agreed terms".
_QUALIFIER = re.compile(r",?\s+(?=(?:without(?! limitation)|based (?:on|upon)|pursuant to|subject to|"
                        r"provided that)\b)", re.I)
_DANGLING = re.compile(r"(?:\s+(?:and|or|in|of|within|with|to|for|by|the|a|an|any|that|is|are|be))+$", re.I)
# The verb whose object a sentence with no fact is asked about: "shall be governed by", "shall maintain".
_MAIN_VERB = re.compile(r"\b(?:(?:shall|may|must|will)(?:\s+not)?\s+be\s+(?:[a-z]+ed|[a-z]+en)"
                        r"(?:,?\s+(?:and\s+)?[a-z]+ed)*\s+(?:in accordance with|by|under|to|in|at|for|with)"
                        r"(?!\s+and\b)|"
                        r"(?:shall|may|must|will)(?:\s+not)?\s+(?![a-z]+ly\b)[a-z]+|"
                        r"(?:is|are)(?:\s+not)?\s+(?:liable|"
                        r"responsible|entitled|required|obliged|free)\s+(?:for|to)|means|includes?)\s+")
# A party's verb with no modal, tried when the sentence has none of the above: "TrueLink hereby
# grants", "Agency agrees not to sell", "The Customer covenants to give".
_PARTY_VERB = re.compile(r"\b(?:(?:hereby\s+)?(?:grants|appoints)|"
                         r"(?:agrees|covenants|undertakes)(?:\s+not)?\s+to\s+"
                         r"(?!(?:the|a|an|any|such|this|be)\b)(?![a-z]+ly\b)[a-z]+)\s+")
_DETERMINER = r"(?!(?:the|a|an|any|all|such|its|their|this)\b)"
# What stays with the verb in the question: a second verb ("may not transfer or assign [any of its
# rights]"), a preposition ("shall refrain from [admitting ...]"; not "in": "in good faith", "in
# writing" are how, not what) or "to" and a verb ("will attempt to settle [any claim ...]").
_VERB_LINK = re.compile(rf"(?:(?:and|or)\s+(?!(?:which|that|who|whom|shall|will|may|must)\b){_DETERMINER}"
                        rf"[a-z]+\s+)?(?:(?:from|with|on|upon|into)\s+|to\s+(?!(?:and|or)\b){_DETERMINER}[a-z]+\s+)?")
_BARE = re.compile(r"^\s*(?:[,;:.)]|and\b|or\b|to\b|$)")  # a number followed by no noun
_CLOCK = re.compile(r":\d\d\b")  # the minutes of "3:00 p.m."
_CURRENCY = re.compile(r"(?:US\$|EUR|€|£|\$)\s*$")
# Between a number in words and its digits: "forty thousand (40,000)", "... pounds (£186,000)".
_RESTATED = re.compile(r"^\s*(?:[a-z]+\s+)?\(\s*(?:US\$|€|£|\$)?\s*$", re.I)
MAX_SPAN_WORDS = 25
OPENING_WORDS = 6  # of an answer, whose facts decide the question word
MAX_TAIL_WORDS = 10  # words after a fact that its answer keeps ("thirty (30) days after the invoice date")
MAX_FRAME_CHARS = 200
ANCHORED_PHRASES = {
    "condition": ("under what condition", "in what case"),
    "exception": ("with what exception", "except for what"),
    "scenario": ("what happens", "what follows"),
}
_LEADING_QUALIFIER = re.compile(r"^(?:(?:at least|up to|no more than|not more than|not less than|more than|"
                                r"less than|no later than|within|by|at|on|of|for|in|after|before)\s+)+", re.I)
# The plural noun that a number in words opening the answer counts: "zero defects".
_COUNTED = re.compile(r"^(?:[a-z]+[\s-]+){0,2}?(?:zero|one|two|three|four|five|six|seven|eight|nine|ten|"
                      r"eleven|twelve|twenty|thirty|forty|fifty|hundred)(?:\s*\(\d+\))?\s+([a-z]{3,}s)\b",
                      re.I)
# "one another", "one of them", "a one time charge": not a count
_PRONOUN_ONE = re.compile(r"\bone\s+(?:another|of|time\s+(?:charge|fee|payment|cost)s?)\b", re.I)
_MONEY = re.compile(r"US\$|EUR|USD|GBP|€|£|\$|\b(?:dollars?|euros?|pounds?)\b", re.I)
_LIST_GOES_ON = re.compile(r",(?:\s*[\w/-]+){1,2},\s*(?:and|or)\s")  # ", packaged, or processed"
MIN_FRAME_WORDS = 2  # words of the sentence an extractive question keeps (one naming what it asks about)
# A sentence opens with a capital, or a clause number before one ("4.1 The", "(a) "); a chunk that
# starts mid-sentence ("2027, ...", "to named individuals") does not.
_SENTENCE_START = re.compile(r"(?:[A-Z\"“]|\(?[a-z0-9ivx]{1,4}\)\s|\d+(?:\.\d+)*\.?\s*[A-Z\"“(])")
MAX_TERMS = 8


def question_focuses(passage: str, probe_id: str = "") -> list[Focus]:
    """What to ask about a passage: each sentence's answer spans, with the kind of question each
    invites. A fact (an amount, a period, a date) makes a look-up, and two in one sentence a
    comparison; an "if" or "provided that" clause a condition, the rest of its sentence a
    scenario's answer; an "except" or "other than" clause an exception. The order among
    sentences is fixed by `probe_id`, so that probes over similar passages ask different things.
    """
    by_sentence: list[list[Focus]] = []
    for sentence in _sentences(passage):
        spans = fact_spans(sentence) + clause_spans(sentence) or object_spans(sentence)
        focuses = [Focus(sentence, answer, kind, _terms(sentence, answer)) for kind, answer in spans
                   if len(answer) <= MAX_ANSWER_CHARS]  # the questioner's schema holds no longer one
        if focuses:
            by_sentence.append(focuses)
    by_sentence.sort(key=lambda f: hashlib.sha256((probe_id + f[0].sentence).encode()).hexdigest())
    # One focus of each sentence in turn, so that consecutive questions move through the passage.
    order = []
    for depth in range(max((len(f) for f in by_sentence), default=0)):
        order.extend(f[depth] for f in by_sentence if depth < len(f))
    return order


def fact_spans(sentence: str) -> list[tuple[str, str]]:
    """("lookup", words) for each fact of a sentence, with its qualifier ("within thirty (30) days
    after the invoice date"); ("comparison", both) when the sentence has two facts."""
    groups: list[list[int]] = []
    for start, end, fact in fact_mentions(sentence):
        plain = fact.kind == "number" and not _CURRENCY.search(sentence[:start])
        bare = plain and ((_BARE.match(sentence[end:]) and not _CLOCK.match(sentence, end))
                          or "." in fact.value or _PRONOUN_ONE.match(sentence, start))
        if _REFERENCE.search(sentence[:start]) or bare:
            continue  # "Section 13.4", "Sections 11, 12 and 13", a clause's number "3.1": not facts
        if groups and (start <= groups[-1][1] or _RESTATED.match(sentence[groups[-1][1]:start])
                       or sentence[groups[-1][1]:start] == ":"):
            groups[-1][1] = max(groups[-1][1], end)  # "forty thousand (40,000)", "3:00": one fact
        else:
            groups.append([start, end])
    # Each fact with its qualifier ("within", "$"): a fact's tail stops where the next one's begins.
    starts = [start - len(_LEFT_QUALIFIER.search(sentence[:start]).group(0)) for start, _ in groups]
    spans = []
    for position, (start, (_, end)) in enumerate(zip(starts, groups)):
        following = max(end, starts[position + 1]) if position + 1 < len(groups) else len(sentence)
        rest = sentence[end:following]
        stop = _SPAN_END.search(rest)
        tail = re.sub(r"\s+(?:and|or|in|of)\s*$", "", rest[: stop.start() if stop else len(rest)])
        tail += "." if re.search(r"\b[ap]\.m$", tail, re.I) else ""  # "3:00 p.m." whole
        if len(tail.split()) > MAX_TAIL_WORDS:
            tail = ")" if tail.lstrip().startswith(")") else ""  # a long qualifier stays in the question
        spans.append(_DANGLING.sub("", " ".join((sentence[start:end] + tail).split())))
    spans = [s.strip(" ,;:") for s in spans if 1 <= len(s.split()) <= MAX_SPAN_WORDS]
    found = [("lookup", span) for span in spans]
    if len(spans) == 2:
        found.append(("comparison", f"{spans[0]} and {spans[1]}"))
    return found


def clause_spans(sentence: str) -> list[tuple[str, str]]:
    """("exception", clause) and ("condition", clause) for the clauses such words open, and for a
    condition the rest of the sentence as a ("scenario", consequence)."""
    found = []
    body = NUMBERING.sub("", sentence)
    for kind, marker in _CLAUSE_MARKERS:
        match = marker.search(body)
        if not match:
            continue
        stop = _SPAN_END.search(body, match.end())
        if stop and stop.group(0).startswith(":"):
            continue  # "subject to the following:", "if Supplier can show:": the clause is the list after it
        end = stop.start() if stop else len(body)
        if body[: match.start()].rstrip().endswith("(") and ")" in body[match.end():]:
            end = body.index(")", match.end())  # "(other than a default of the other party)"
        clause = body[match.start(): end].strip(" ,;:.")
        if not 3 <= len(clause.split()) <= MAX_SPAN_WORDS:
            continue
        found.append((kind, clause))
        if kind == "condition":
            rest = body[: match.start()] + " " + body[match.start() + len(clause):]
            rest = " ".join(rest.split()).strip(" ,;:.")
            rest = re.sub(r"^(?:then|and)\s+", "", rest)
            if 4 <= len(rest.split()) <= MAX_SPAN_WORDS:
                found.append(("scenario", rest))
    return found


def object_spans(sentence: str) -> list[tuple[str, str]]:
    """("lookup", what the sentence's main verb takes) for a sentence with no fact or clause to ask
    about: "Neither party is liable for <loss of profits, revenue, ...>", "Supplier shall maintain
    <product liability insurance>"."""
    body = NUMBERING.sub("", sentence)
    match = _MAIN_VERB.search(body) or _PARTY_VERB.search(body)
    if not match:
        return []
    start = _VERB_LINK.match(body, match.end()).end()
    stop = re.compile(r"[;:.](?:\s|$)").search(body, start)  # a list's commas stay in it
    if stop and stop.group(0).startswith(":"):
        return []  # "... shall include the following:": what it takes is the list after it
    span = _DANGLING.sub("", body[start: stop.start() if stop else len(body)].strip(" ,;:."))
    if len(span.split()) > MAX_SPAN_WORDS:  # "no liability to Telnet, whether in contract, ...": to the comma
        span = _DANGLING.sub("", _CLAUSE_BREAK.split(span, maxsplit=1)[0].strip(" ,;:."))
    if len(span.split()) > MAX_SPAN_WORDS or len(span) > MAX_ANSWER_CHARS:  # "... to any other party
        span = _DANGLING.sub("", _QUALIFIER.split(span, maxsplit=1)[0].strip(" ,;:."))  # [without ...]"
    return [("lookup", span)] if 2 <= len(span.split()) <= MAX_SPAN_WORDS else []


def _terms(sentence: str, answer: str) -> tuple[str, ...]:
    """Words of the sentence outside the answer that name what it is about (its subject)."""
    outside = sentence.replace(answer, " ")
    capitalised = re.findall(r"\b[A-Z][a-z]{3,}(?:\s+[A-Z][a-z]+)*", outside)
    words = [w for w in re.findall(r"[A-Za-z]{5,}", outside) if w.lower() not in GENERIC_WORDS]
    terms = []
    for term in [*capitalised, *words]:
        if term.lower() not in {t.lower() for t in terms} and term.lower() not in GENERIC_WORDS:
            terms.append(term)
    return tuple(terms[:MAX_TERMS])


def _sentences(passage: str) -> list[str]:
    """Whole sentences of six words or more: headings dropped, and a passage's opening words when
    they continue a sentence of the passage before (a chunk can start mid-sentence), and its closing
    words when they have no end mark (a chunk can end mid-sentence: "... which the third party is
    obligated to treat as" goes on "confidential" in the next one)."""
    parts = contract_sentences(passage)
    if parts and not parts[-1].rstrip(" \"'”’)]").endswith(END_MARKS):
        parts = parts[:-1]
    # Prose has lowercase words: a page's running header ("ODM Supply Agreement 3 Organic
    # Preparations INC. & Agape ATP ...") has almost none, and asking about it teaches nothing.
    return [p for p in parts if len(p.split()) >= 6 and _SENTENCE_START.match(p)
            and (sum(w.islower() for w in p.split()) >= MIN_LOWERCASE_WORDS or _DEFINITION.search(p))]


def check_question(question: str, answer: str, *, passage: str, previous: list[str],
                   focus: str | None = None) -> str:
    """Why a question and its intended answer cannot be asked ("" when they can).

    The question is one question of MIN_WORDS..MAX_WORDS words that does not point at text the
    student never sees ("this clause"), is not a repeat, shares a specific word with the
    sentence it is about (`focus`; else the seed passage) outside its answer, and has
    MIN_QUESTION_TERMS content words of its own (else many statements of a contract answer it);
    the intended answer is taken from the passage: its facts all occur there and most of its words.
    """
    question = question.strip()
    words = len(question.split())
    if not question.endswith("?") or not MIN_WORDS <= words <= MAX_WORDS or question.count("?") > 1:
        return NOT_A_QUESTION
    if _DEICTIC.search(question):
        return NOT_STANDALONE
    if _key(question) in {_key(p) for p in previous} or _key(strip_document(question)) in {
            _key(strip_document(p)) for p in previous}:
        return REPEATED
    subject = (focus or passage).replace(answer, " ")
    asked = content_words(strip_document(question))
    if not asked & content_words(subject):
        return OFF_PASSAGE
    if len(asked - content_words(answer)) < MIN_QUESTION_TERMS:
        return VAGUE
    answer_words = specific_words(answer)
    if not answer_words or missing_facts(extract_facts(answer), extract_facts(passage)):
        return ANSWER_NOT_IN_PASSAGE
    if len(answer_words & specific_words(passage)) < ANSWER_IN_PASSAGE * len(answer_words):
        return ANSWER_NOT_IN_PASSAGE
    return ""


def rival_sentence(focus: str, answer: str, passages: list[str]) -> str:
    """A sentence of `passages`, other than `focus`, that the extractive question made from `focus`
    (the sentence with `answer` left out) fits as well: it holds the words before the blank and
    those after it up to the clause's end ("Neither party is liable for [loss of profits ...]" and
    "Neither party is liable for [delay or failure ...]"). "" when there is none."""
    body, answer = " ".join(NUMBERING.sub("", focus).split()), " ".join(answer.split())
    if not answer or answer not in body:
        return ""
    before, after = body.split(answer, 1)
    after = re.split(r"[,;:.]", after.lstrip(" ,;:"), maxsplit=1)[0]
    before, after = before.strip(" ,;:").lower(), after.strip().lower()
    if not before and not after:
        return ""
    own = body.lower()
    for passage in passages:
        for sentence in contract_sentences(passage):
            text = " ".join(sentence.split()).lower()
            if text in own or own in text or before not in text or after not in text:
                continue  # the focus itself (whole, or cut by a chunk's edge), or no fit
            if text.index(before) + len(before) <= text.rindex(after):  # in that order
                return sentence
    return ""


def name_document(question: str, document_name: str, title: str, parties: tuple[str, ...] = ()) -> str:
    """The question as asked at test time: it names its contract ("In the <title> between <A> and
    <B>: ...") unless it already names the title or a party."""
    names = [title, *parties]
    if any(name and name.lower() in question.lower() for name in names):
        return question
    return f"In {document_name}: {question}"


def strip_document(question: str) -> str:
    """The question without its "In the <contract>: " opening."""
    return re.sub(r"^In the [^:?]{3,300}:\s*", "", question.strip())


def _key(question: str) -> str:
    return re.sub(r"\W+", " ", question.lower()).strip()
