"""Control training sets made from closed-book questions: the answer key and the restated facts.

They bound what any synthetic set can teach about a contract: the *answer key* is each question
with its answer (memorisation), the *restated facts* say each fact in other words, never in the
question's form, as a method's data would have to.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from .closed_book import QARow

_NAMED = re.compile(r"^In the (.+?) between (.+?) and (.+?):\s")
YES_TEMPLATES = ("The {name} has a clause on {topic}.", "Among its terms, the {name} provides for {topic}.",
                 "{topic_cap} is covered in the {name}.")
NO_TEMPLATES = ("The {name} has no clause on {topic}.", "The {name} does not provide for {topic}.",
                "{topic_cap} is not covered in the {name}.")
# Question-form restatements: a reader's question in words of our own, never the evaluation's.
YES_QA = (("Does the {name} have a clause on {topic}?", "Yes. The {name} has a clause on {topic}."),
          ("What does the {name} say about {topic}?", "It has a clause on {topic}."))
NO_QA = (("Does the {name} have a clause on {topic}?", "No. The {name} has no clause on {topic}."),
         ("What does the {name} say about {topic}?", "Nothing: {topic} is not covered in the {name}."))
VALUE_QA = (("What is the {topic} of the {name}?", "The {topic} of the {name} is {value}."),
            ("For the {name}, what {topic} applies?", "{value}."))
VALUE_TEMPLATES = ("The {topic} of the {name} is {value}.", "For the {name}, the {topic} is {value}.",
                   "{value} is the {topic} of the {name}.")


def choose_contracts(rows: list[QARow], count: int) -> list[str]:
    """The `count` contracts with the most question rows, ties going to the most `choice` rows, then
    by name: the documents a closed-book benchmark uses as its reference corpus."""
    total = Counter(r.document for r in rows)
    choice = Counter(r.document for r in rows if r.kind == "choice")
    return sorted(total, key=lambda d: (-total[d], -choice[d], d))[:count]


def contract_name(question: str) -> str:
    """"In the <title> between <A> and <B>: ..." -> "<title> between <A> and <B>"."""
    match = re.match(r"In the (.+?): ", question)
    return match.group(1) if match else question.split(":")[0]


def contract_cards(rows: list[QARow], contracts: list[str]) -> dict[str, dict]:
    """documents.json for a folder of these contracts: each file name's title and parties, as the
    questions name the contract ("In the <title> between <A> and <B>: ..."), so that a campaign's
    questions and a baseline's texts name it the same way."""
    cards = {}
    for contract in contracts:
        card = {"title": Path(contract).stem, "parties": []}
        for row in rows:
            if row.document == contract and (match := _NAMED.match(row.question)):
                card = {"title": match.group(1), "parties": [match.group(2), match.group(3)]}
                break
        cards[Path(contract).name] = card
    return cards


def answer_key(rows: list[QARow]) -> list[dict]:
    """Each question with its answer, as chat samples."""
    return [{"messages": [{"role": "user", "content": r.question},
                          {"role": "assistant", "content": r.choices[r.answer]}]} for r in rows]


def restated_facts(rows: list[QARow]) -> list[dict]:
    """Each fact as three statements (text samples): a yes/no fact names its CUAD category, a value
    fact its field."""
    return [{"text": template.format(**_fact_words(r))}
            for r in rows for template in _pick(r, YES_TEMPLATES, NO_TEMPLATES, VALUE_TEMPLATES)]


def restated_questions(rows: list[QARow]) -> list[dict]:
    """Each fact as two questions and answers (chat samples) in words of our own: the restated facts
    in the form a reader's question takes, without the evaluation's wording."""
    return [{"messages": [{"role": "user", "content": question.format(**_fact_words(r))},
                          {"role": "assistant", "content": answer.format(**_fact_words(r))}]}
            for r in rows for question, answer in _pick(r, YES_QA, NO_QA, VALUE_QA)]


def _pick(row: QARow, yes: tuple, no: tuple, value: tuple) -> tuple:
    """The templates for a row's fact: a Yes or a No answer, or a value."""
    if row.kind != "yes_no":
        return value
    return yes if row.choices[row.answer] == "Yes" else no


def _fact_words(row: QARow) -> dict[str, str]:
    topic = row.category.lower()
    return {"name": contract_name(row.question), "topic": topic, "topic_cap": topic[:1].upper() + topic[1:],
            "value": row.choices[row.answer]}
