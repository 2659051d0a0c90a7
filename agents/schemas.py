"""The JSON schemas the questioner, expert and critic reply in, and decoding a reply under one."""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from langchain_core.utils.json import parse_json_markdown
from pydantic import BaseModel, ConfigDict, Field, ValidationError

QUESTION_TYPES = ("lookup", "condition", "exception", "scenario", "consequence", "comparison")
QuestionType = Literal["lookup", "condition", "exception", "scenario", "consequence", "comparison"]

# One question ending in "?", opening with a capital or a quoted defined term ("'Territory' means
# ...?"), without double quotes or backslashes (a small model escapes them badly; a question may
# still quote a clause in single quotes). The schema of one call narrows it (question_schema).
QUESTION_PATTERN = r"^[A-Z'(][^?\"\\\n]{8,238}\?$"
# How a freely written question of each kind opens.
TYPE_OPENINGS = {
    "lookup": ("What", "How", "When", "Which", "Who", "Within", "For", "By", "In what", "Under", "At what"),
    "condition": ("Under what", "When", "In what", "On what", "What must", "What condition"),
    "scenario": ("If",),
    "exception": ("What", "Which", "Who", "To whom", "Apart from", "Besides", "Other than", "Are", "Is",
                  "Does", "Do"),
    "consequence": ("What", "If", "How"),
    "comparison": ("How", "What", "Which", "In which"),
}
# How questions and answers are written: "extractive" (a question is a seed sentence with its
# answer replaced by a question phrase, and the expert answers with passage sentences, both held
# by the schema), "free" (the models write them), or "auto" (extractive for the bundled models).
FORMS = ("auto", "extractive", "free")
MAX_ANSWER_CHARS = 160  # an intended answer: one span of a sentence


class QuestionReply(BaseModel):
    """The questioner's reply: the kind of question, the question, and the answer it intends."""

    model_config = ConfigDict(extra="forbid")
    type: QuestionType = Field(description="the kind of question")
    question: str = Field(pattern=QUESTION_PATTERN, max_length=240,
                          description="one self-contained question")
    answer: str = Field(min_length=1, max_length=MAX_ANSWER_CHARS,
                        description="the answer the clause gives, in its own words")


class Quote(BaseModel):
    model_config = ConfigDict(extra="forbid")
    passage: str = Field(pattern=r"^P[0-9]{1,2}$", description="the id of the passage quoted")
    text: str = Field(min_length=1, max_length=100, description="words copied from that passage")


class ExpertReply(BaseModel):
    """The expert's reply: the passage words it relies on, then its answer."""

    model_config = ConfigDict(extra="forbid")
    quotes: list[Quote] = Field(max_length=2, description="the passage words the answer relies on")
    answer: str = Field(min_length=1, max_length=2000, description="the answer, from the quotes")


class CriticReply(BaseModel):
    """The critic's verdict on a round."""

    model_config = ConfigDict(extra="forbid")
    divergence: float = Field(ge=0.0, le=1.0, description="0 same meaning .. 1 opposite or unrelated")
    grounded: bool = Field(description="whether answer B is supported by the passages")
    consistent: bool = Field(description="whether answer B says what the intended answer says")
    feedback: str = Field(max_length=200, description="the student's misconception, and how to "
                                                      "sharpen the question")
    reason: str = Field(max_length=120, description="one sentence explaining the divergence")


def question_schema(question_type: str, *, answers: tuple[str, ...] = (),
                    frame: tuple[str, str] | None = None,
                    phrases: tuple[str, ...] = ("what",)) -> dict[str, Any]:
    """The questioner's schema for one focus (agents.questions.Focus).

    With `frame` (the words of the sentence before and after its answer), an anchored question:
    the sentence itself with the answer replaced by one of `phrases` ("The Executive's base
    salary is how much, payable monthly ...?"). Else a free question that opens as its kind
    does. With `answers`, the intended answer is one of them (spans of the sentence).
    """
    schema = QuestionReply.model_json_schema()
    properties = schema["properties"]
    properties["question"].pop("maxLength")  # each pattern below bounds the length itself
    free = r"[^?\"\\\n]"
    if frame is not None:
        before, after = (re.escape(part) for part in frame)
        wh = "|".join(p.capitalize() if not frame[0] else p for p in phrases)
        properties["question"]["pattern"] = rf"^{before}(?:{wh}){after}\?$"
    else:
        openings = "|".join(TYPE_OPENINGS.get(question_type, TYPE_OPENINGS["lookup"]))
        properties["question"]["pattern"] = rf"^(?:{openings}) {free}{{8,220}}\?$"
    if answers:
        properties["answer"] = {"enum": list(answers), "type": "string"}
    properties["type"] = {"enum": [question_type], "type": "string"}
    schema["properties"] = {name: properties[name] for name in ("answer", "question", "type")}
    schema["required"] = list(schema["properties"])
    return schema


def expert_schema(passage_count: int, sentences: list[str] | None = None) -> dict[str, Any]:
    """The expert's schema: quote ids are the passages it was given (P1..Pk). With `sentences`
    (extractive form), each quote and the answer are sentences of those passages."""
    schema = ExpertReply.model_json_schema()
    schema["properties"]["answer"]["maxLength"] = 240  # a written answer is a sentence or two
    quote = schema["$defs"]["Quote"]["properties"]
    quote["passage"].pop("pattern", None)
    quote["passage"]["enum"] = [f"P{i + 1}" for i in range(max(passage_count, 1))]
    if sentences:  # the answer is a sentence of the passages: it quotes itself
        schema["properties"]["quotes"]["maxItems"] = 0
        answer = schema["properties"]["answer"]
        answer.pop("maxLength", None)
        answer.pop("minLength", None)
        answer["enum"] = sentences
    return schema


def schema_of(reply: type[BaseModel]) -> dict[str, Any]:
    return reply.model_json_schema()


def decode(text: str, reply: type[BaseModel], *, tolerant: bool) -> BaseModel | None:
    """The reply decoded under its schema, or None when it does not follow it.

    A constrained reply (`tolerant=False`) is plain JSON; a reply from a model that could not be
    held to the schema is read tolerantly: a JSON object inside code fences or prose.
    """
    try:
        if not tolerant:
            return reply.model_validate_json(text)
        data = parse_json_markdown(text)
        return reply.model_validate(data) if isinstance(data, dict) else None
    except (ValidationError, json.JSONDecodeError, ValueError, TypeError):
        return None
