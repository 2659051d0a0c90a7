"""The questioner: writes one self-contained question about a seed passage, with the answer it intends."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache

from langchain_core.language_models.chat_models import BaseChatModel

from ..retrieval import Passage
from ..retrieval.cards import DocumentCard
from .calls import CallContext, invoke_model
from .passages import neutralise
from .prompts import PROMPTS_DIR, PromptSet
from .questions import NO_FOCUS, UNPARSED, Focus, check_question, name_document
from .schemas import QuestionReply, question_schema

RETRY_TEMPERATURE = 0.7


@dataclass
class QuestionAttempt:
    """What the questioner produced for one round, after up to `attempts` tries."""

    question: str | None  # the question as asked (naming its document); None when every try failed
    answer: str = ""  # the answer the questioner intends, from the seed passage
    type: str = ""  # the kind of question (lookup, condition, scenario, exception, ...)
    focus: str = ""  # the seed passage sentence it asks about
    failure: str = ""
    attempts: int = 0
    rejections: list[str] = field(default_factory=list)  # why each failed try was turned down
    used_up: bool = False  # no question because every focus of the seed has been asked about


@cache
def question_types() -> dict[str, dict]:
    """Each kind of question's hint and worked example (agents/prompts/question_types.json)."""
    return json.loads((PROMPTS_DIR / "question_types.json").read_text(encoding="utf-8"))


def ask_question(model: BaseChatModel, prompts: PromptSet, ctx: CallContext, *, seed: Passage,
                 card: DocumentCard, focuses: list[Focus], first_focus: int = 0, guidance: str = "",
                 feedback: str = "", accepted_questions: list[str] = (),
                 previous_questions: list[str] = (), attempts: int = 3, base_seed: int = 0,
                 max_tokens: int | None = None, form: str = "extractive") -> QuestionAttempt:
    """Ask for a question and its intended answer, checked by code (questions.check_question).

    Each try asks about the next unused one of `focuses` (`first_focus` of them are used): a
    sentence of the seed and the words of it that answer the question. The reply is held to the
    focus's schema (schemas.question_schema): the answer is those words, and the question is
    the sentence with the answer replaced by a question phrase (`extractive`) or one the model
    writes, opening as a question of its kind does and using the sentence's words (`free`).
    The first try is greedy, the others sample.
    """
    usable = [f for f in focuses if form == "free" or f.frame() is not None]
    if not usable:
        return QuestionAttempt(None, failure="the seed passage has no sentence to ask about",
                               rejections=[NO_FOCUS])
    rejections: list[str] = []
    for attempt in range(1, attempts + 1):
        if first_focus + attempt - 1 >= len(usable):
            return QuestionAttempt(None, failure="every sentence of the seed passage to ask about was asked",
                                   attempts=attempt - 1, rejections=rejections, used_up=True)
        focus = usable[first_focus + attempt - 1]
        kind = question_types().get(focus.type, question_types()["lookup"])
        example = {"answer": kind["answer"],
                   "question": kind["anchored_question" if form == "extractive" else "question"],
                   "type": focus.type}
        prompt = prompts.render(
            "questioner",
            document=neutralise(card.name),
            passage=neutralise(seed.text.strip()),
            focus=neutralise(focus.sentence),
            answer=neutralise(focus.answer),
            question_type=focus.type,
            type_hint=kind["hint"],
            example_sentence=kind["sentence"],
            example_reply=json.dumps(example, ensure_ascii=False),
            guidance=guidance.strip() or "any clause that needs careful interpretation",
            feedback=feedback.strip() or "none yet (this is the first question)",
            accepted_questions="; ".join(accepted_questions) or "none",
        )
        schema = question_schema(focus.type, answers=(focus.answer,),
                                 frame=focus.frame() if form == "extractive" else None,
                                 phrases=focus.question_phrases())
        options = {} if attempt == 1 else {"temperature": RETRY_TEMPERATURE,
                                           "seed": base_seed + 1000 * attempt + ctx.round}
        result = invoke_model("questioner", model, prompt, ctx, attempt=attempt, max_tokens=max_tokens,
                              reply=QuestionReply, schema=schema, **options)
        reply = result.reply
        if reply is None:
            rejections.append(UNPARSED)
            continue
        # A model not held to the schema may ask about another sentence of the seed: then the
        # question is checked against the whole passage.
        about = focus.sentence if reply.answer.strip() == focus.answer else None
        why = check_question(reply.question, reply.answer, passage=seed.text, focus=about,
                             previous=[*previous_questions, *accepted_questions])
        if why:
            rejections.append(why)
            continue
        question = name_document(reply.question.strip(), card.name, card.title, card.parties)
        return QuestionAttempt(question, reply.answer.strip(), reply.type, focus.sentence, "", attempt,
                               rejections)
    reasons = "; ".join(f"attempt {i}: {why}" for i, why in enumerate(rejections, 1))
    return QuestionAttempt(None, failure=f"questioner produced no usable question ({reasons})",
                           attempts=attempts, rejections=rejections)
