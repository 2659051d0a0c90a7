"""The probe graph's nodes, one plain function per role, plus the router."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableConfig

from ..agents import (
    CallContext,
    PromptSet,
    ResponseCache,
    Tracer,
    Verdict,
    answer_as_expert,
    answer_as_student,
    ask_question,
    combine,
    compare_answers,
    embedding_divergence,
    facts_divergence,
    judge_answers,
    question_focuses,
    verdict_divergence,
)
from ..agents.expert import passage_sentences
from ..agents.grounding import labels_for
from ..agents.injection import suspicious_passages
from ..agents.questions import strip_document
from ..agents.student import student_failure_rate
from ..models import model_label
from ..retrieval import IndexRetriever, Passage, passage_from_document
from ..retrieval.cards import DocumentCard, card_from_text
from .judging import (
    BELOW_THRESHOLD,
    CRITIC_INCONSISTENT,
    FAILURE_BAR,
    ROUNDTRIP_DISAGREE,
    STUDENT_NOT_FAILING,
    check_round,
    round_feedback,
)
from .settings import ProbeSettings
from .state import ProbeState, RoundRecord, best_round


@dataclass
class ProbeDeps:
    """What the nodes need besides the state: models, prompts, retrieval, scoring, tracing,
    and the reply cache (None: every call goes to the model)."""

    questioner: BaseChatModel
    student: BaseChatModel
    expert: BaseChatModel
    critic: BaseChatModel
    retriever: BaseRetriever
    embedder: Any  # advqa.retrieval.Embedder or anything with encode(texts) -> unit vectors
    prompts: PromptSet
    tracer: Tracer
    settings: ProbeSettings
    cache: ResponseCache | None = None

    def form(self) -> str:
        """How questions and answers are written (ProbeSettings.form); "auto" is extractive when
        the questioner or the expert is a bundled model (135M parameters: it cannot write a sound
        question or answer of its own, measured in README "Accepted means right"), else free."""
        if self.settings.form != "auto":
            return self.settings.form
        bundled = any(model_label(m).startswith("bundled:") for m in (self.questioner, self.expert))
        return "extractive" if bundled else "free"

    def card_for(self, seed: Passage) -> DocumentCard:
        """How questions name the seed's document: the index's card, else one read from the seed."""
        if isinstance(self.retriever, IndexRetriever):
            return self.retriever.index.card(seed.document)
        return card_from_text(seed.text, seed.document)


def _context(state: ProbeState, deps: ProbeDeps, config: RunnableConfig | None) -> CallContext:
    return CallContext(probe_id=state.probe_id, round=state.round, tracer=deps.tracer,
                       config=config, cache=deps.cache)


def _retrieve_passages(query: str, deps: ProbeDeps, config: RunnableConfig | None,
                       document: str | None = None) -> list[Passage]:
    """The `k` passages for a query; with `document`, that document's only (an IndexRetriever
    searches it alone; another retriever's hits from other documents are dropped)."""
    if document is not None and isinstance(deps.retriever, IndexRetriever):
        documents = deps.retriever.invoke(query, config=config, document=document)
    else:
        documents = deps.retriever.invoke(query, config=config)
    passages = [passage_from_document(d) for d in documents]
    if document is not None:
        passages = [p for p in passages if p.document == document]
    return passages[: deps.settings.k]


def retrieve(state: ProbeState, config: RunnableConfig, *, deps: ProbeDeps) -> dict:
    """Resolve the seed passage (given in the input, or the best match for `topic`) and the card
    that names its document."""
    update: dict = {}
    seed = state.seed
    if seed is None:
        if not state.topic.strip():
            return {"outcome": "failed", "failure": "probe input has neither a seed passage nor a topic"}
        passages = _retrieve_passages(state.topic, deps, config)
        deps.tracer.record({"kind": "retrieval", "probe": state.probe_id, "round": 0,
                            "role": "retrieve", "query": state.topic,
                            "passages": [p.id for p in passages],
                            "suspicious": suspicious_passages(passages)})
        if not passages:
            return {"outcome": "failed", "failure": f"no passage found for topic {state.topic!r}"}
        seed = update["seed"] = passages[0]
    if state.card is None:
        update["card"] = deps.card_for(seed)
    return update


def questioner(state: ProbeState, config: RunnableConfig, *, deps: ProbeDeps) -> dict:
    """Write the next question and the answer it intends, using the critic's last feedback."""
    number = state.round + 1
    ctx = CallContext(probe_id=state.probe_id, round=number, tracer=deps.tracer, config=config,
                      cache=deps.cache)
    attempts = deps.settings.question_attempts
    attempt = ask_question(
        deps.questioner, deps.prompts, ctx, seed=state.seed, card=state.card,
        focuses=question_focuses(state.seed.text, state.probe_id), first_focus=state.focuses_used,
        guidance=state.guidance, feedback=state.feedback, accepted_questions=state.accepted_questions,
        previous_questions=[r.question for r in state.rounds], attempts=attempts,
        base_seed=deps.settings.seed, max_tokens=deps.settings.max_tokens["questioner"],
        form=deps.form(),
    )
    if attempt.rejections:
        deps.tracer.record({"kind": "question_rejected", "probe": state.probe_id, "round": number,
                            "role": "questioner", "reasons": attempt.rejections})
    used = state.focuses_used + attempt.attempts
    if attempt.question is None:
        # A probe whose earlier rounds were judged and that has nothing new to ask is exhausted;
        # one that never had a question failed for want of one.
        outcome = "exhausted" if attempt.used_up and state.rounds else "failed"
        deps.tracer.record({"kind": "probe_failed" if outcome == "failed" else "probe_exhausted",
                            "probe": state.probe_id, "round": number, "role": "questioner",
                            "reason": attempt.failure})
        return {"round": number, "outcome": outcome, "failure": attempt.failure, "focuses_used": used,
                "question_rejections": attempt.rejections, "best_round": _best_number(state.rounds)}
    return {"round": number, "question": attempt.question, "intended_answer": attempt.answer,
            "question_type": attempt.type, "focus": attempt.focus, "focuses_used": used,
            "question_rejections": attempt.rejections, "outcome": ""}


def student(state: ProbeState, config: RunnableConfig, *, deps: ProbeDeps) -> dict:
    """The student answers the bare question."""
    result = answer_as_student(deps.student, deps.prompts, _context(state, deps, config),
                               state.question, deps.settings.max_tokens["student"])
    return {"student_answer": result.text}


def expert(state: ProbeState, config: RunnableConfig, *, deps: ProbeDeps) -> dict:
    """Retrieve passages of the seed's document for the question (keeping the seed among them)
    and answer from them."""
    started = time.perf_counter()
    # The search is within the seed's document already: the contract's name in the question
    # would only pull its opening lines (title, parties) up the ranking.
    query = strip_document(state.question)
    passages = _retrieve_passages(query, deps, config, document=state.seed.document)
    if state.seed.id not in {p.id for p in passages}:
        passages = [state.seed, *passages][: deps.settings.k]
    deps.tracer.record({"kind": "retrieval", "probe": state.probe_id, "round": state.round,
                        "role": "expert", "query": query, "question": state.question,
                        "document": state.seed.document,
                        "passages": labels_for(passages), "suspicious": suspicious_passages(passages),
                        "seconds": round(time.perf_counter() - started, 4)})
    sentences = None
    if deps.form() == "extractive":  # the expert chooses among the passages' sentences closest to it
        sentences = passage_sentences(passages, query, deps.embedder, deps.settings.answer_candidates)
    answer = answer_as_expert(deps.expert, deps.prompts, _context(state, deps, config),
                              state.question, passages, deps.settings.max_tokens["expert"], sentences)
    return {"expert_answer": answer.text, "expert_cited": answer.cited,
            "expert_quotes": [list(q) for q in answer.quotes], "passages": passages}


def critic(state: ProbeState, config: RunnableConfig, *, deps: ProbeDeps) -> dict:
    """Judge the round. Code checks it first (judging.check_round); a sound round is then shown to
    the critic model (divergence, its view of the round trip, feedback), and, when the student
    missed the answer, the student's failure is measured. Accepted: no rejection at all."""
    ctx = _context(state, deps, config)
    settings = deps.settings
    checks = check_round(state, deps.embedder, settings.grounding_bar)
    rejections = list(checks.rejections)
    scores: dict[str, float | None] = {
        "judge": None,
        "embedding": embedding_divergence(deps.embedder, state.student_answer, state.expert_answer),
        "verdict": verdict_divergence(state.student_answer, state.expert_answer),
        "facts": facts_divergence(state.question, state.student_answer, state.expert_answer,
                                  " ".join(p.text for p in state.passages)),
        "failure": None,
    }
    verdict, failure, failure_method = Verdict(parsed_with="skipped"), None, ""
    if checks.valid:
        verdict = judge_answers(deps.critic, deps.prompts, ctx, question=state.question,
                                student_answer=state.student_answer, expert_answer=state.expert_answer,
                                passages=state.passages, intended_answer=state.intended_answer,
                                max_tokens=settings.max_tokens["critic"])
        scores["judge"] = verdict.divergence
        if verdict.consistent is not None:  # the critic's judgement joins the round trip's
            checks.roundtrip = compare_answers(state.intended_answer, state.expert_answer, deps.embedder,
                                               state.question, critic=verdict.consistent)
            if not checks.roundtrip.agree:
                rejections.append(ROUNDTRIP_DISAGREE)
        if settings.critic_veto and verdict.consistent is False:
            rejections.append(CRITIC_INCONSISTENT)
        if not checks.student.agree:
            failure, failure_method = student_failure_rate(
                deps.student, deps.prompts, ctx, question=state.question, own_answer=state.student_answer,
                expert_answer=state.expert_answer, embedder=deps.embedder,
                samples=settings.failure_samples, base_seed=settings.seed,
                max_tokens=settings.max_tokens["student"])
            scores["failure"] = round(failure, 4)
            if failure < FAILURE_BAR:
                rejections.append(STUDENT_NOT_FAILING)
    divergence, scorer = combine(scores, settings.scorer)
    if not rejections and divergence < settings.threshold:
        rejections.append(BELOW_THRESHOLD)
    feedback = round_feedback(rejections, state, verdict, checks)
    grounding = checks.grounding
    record = RoundRecord(
        number=state.round, question=state.question, student_answer=state.student_answer,
        expert_answer=state.expert_answer, passages=list(state.passages),
        grounded=grounding.grounded, grounding_method=grounding.method,
        grounding_passages=grounding.passage_ids, grounding_score=round(grounding.score, 4),
        fabricated_citations=grounding.fabricated, unsupported_citations=grounding.unsupported,
        scores=scores, divergence=round(divergence, 4), scorer=scorer, critic_grounded=verdict.grounded,
        feedback=feedback, reason=verdict.reason, verdict_parsed_with=verdict.parsed_with,
        intended_answer=state.intended_answer, question_type=state.question_type, focus=state.focus,
        question_rejections=list(state.question_rejections), expert_quotes=list(state.expert_quotes),
        roundtrip=checks.roundtrip.as_dict(), student_agreement=checks.student.as_dict(),
        student_failure=scores["failure"], failure_method=failure_method,
        critic_consistent=verdict.consistent,
        grounding_details={"missing_facts": grounding.missing_facts, "missing_terms": grounding.missing_terms,
                           "unsupported_sentences": grounding.unsupported_sentences,
                           "evidence": grounding.evidence},
        rejections=rejections,
    )
    deps.tracer.record({
        "kind": "judgement", "probe": state.probe_id, "round": state.round, "role": "critic",
        "scores": scores, "divergence": record.divergence, "scorer": scorer,
        "grounded": grounding.grounded, "grounding_method": grounding.method,
        "grounding_passages": grounding.passage_ids, "fabricated_citations": grounding.fabricated,
        "unsupported_citations": grounding.unsupported, "critic_grounded": verdict.grounded,
        "critic_consistent": verdict.consistent, "verdict_parsed_with": verdict.parsed_with,
        "roundtrip": record.roundtrip, "student_agreement": record.student_agreement,
        "student_failure": record.student_failure, "question_type": state.question_type,
        "rejections": rejections, "feedback": feedback, "reason": verdict.reason,
        **record.grounding_details,
    })
    return {"rounds": [record], "feedback": f"Last question: {state.question}\n{feedback}"}


def route(state: ProbeState, *, deps: ProbeDeps) -> dict:
    """Decide the probe's next step from the last round, by code: accepted when the round passed
    every check (no rejection), else another round, else exhausted."""
    last = state.rounds[-1]
    if not last.rejections:
        outcome, chosen = "accepted", last.number
    elif len(state.rounds) < deps.settings.max_rounds:
        outcome, chosen = "revise", 0
    else:
        outcome, chosen = "exhausted", _best_number(state.rounds)
    deps.tracer.record({"kind": "route", "probe": state.probe_id, "round": state.round,
                        "role": "route", "outcome": outcome, "divergence": last.divergence,
                        "grounded": last.grounded, "threshold": deps.settings.threshold,
                        "rejections": last.rejections})
    return {"outcome": outcome, "best_round": chosen}


def _best_number(rounds: list[RoundRecord]) -> int:
    best = best_round(rounds)
    return best.number if best else 0


def after_questioner(state: ProbeState) -> list[str] | str:
    """Student and expert run side by side, unless the questioner had no question."""
    return "end" if state.outcome in ("failed", "exhausted") else ["student", "expert"]


def after_retrieve(state: ProbeState) -> str:
    return "end" if state.outcome == "failed" else "questioner"


def after_route(state: ProbeState) -> str:
    return "questioner" if state.outcome == "revise" else "end"
