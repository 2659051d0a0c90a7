"""The probe graph's nodes, one plain function per role, plus the router."""

from __future__ import annotations

import time

from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime

from ..agents import (
    CallContext,
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
from ..retrieval import IndexRetriever, Passage, passage_from_document
from .context import ProbeContext
from .judging import (
    BELOW_THRESHOLD,
    CRITIC_INCONSISTENT,
    FAILURE_BAR,
    ROUNDTRIP_DISAGREE,
    STUDENT_NOT_FAILING,
    check_round,
    round_feedback,
)
from .state import ProbeState, RoundRecord, best_round


def _call(state: ProbeState, context: ProbeContext, config: RunnableConfig | None) -> CallContext:
    return CallContext(probe_id=state.probe_id, round=state.round, tracer=context.tracer,
                       config=config, cache=context.cache)


def _retrieve_passages(query: str, context: ProbeContext, config: RunnableConfig | None,
                       document: str | None = None) -> list[Passage]:
    """The `k` passages for a query; with `document`, that document's only (an IndexRetriever
    searches it alone; another retriever's hits from other documents are dropped)."""
    if document is not None and isinstance(context.retriever, IndexRetriever):
        documents = context.retriever.invoke(query, config=config, document=document)
    else:
        documents = context.retriever.invoke(query, config=config)
    passages = [passage_from_document(d) for d in documents]
    if document is not None:
        passages = [p for p in passages if p.document == document]
    return passages[: context.settings.k]


def retrieve(state: ProbeState, config: RunnableConfig, runtime: Runtime[ProbeContext]) -> dict:
    """Resolve the seed passage (given in the input, or the best match for `topic`) and the card
    that names its document."""
    context = runtime.context
    update: dict = {}
    seed = state.seed
    if seed is None:
        if not state.topic.strip():
            return {"outcome": "failed", "failure": "probe input has neither a seed passage nor a topic"}
        passages = _retrieve_passages(state.topic, context, config)
        context.tracer.record({"kind": "retrieval", "probe": state.probe_id, "round": 0,
                            "role": "retrieve", "query": state.topic,
                            "passages": [p.id for p in passages],
                            "suspicious": suspicious_passages(passages)})
        if not passages:
            return {"outcome": "failed", "failure": f"no passage found for topic {state.topic!r}"}
        seed = update["seed"] = passages[0]
    if state.card is None:
        update["card"] = context.card_for(seed)
    return update


def questioner(state: ProbeState, config: RunnableConfig, runtime: Runtime[ProbeContext]) -> dict:
    """Write the next question and the answer it intends, using the critic's last feedback."""
    context = runtime.context
    number = state.round + 1
    ctx = CallContext(probe_id=state.probe_id, round=number, tracer=context.tracer, config=config,
                      cache=context.cache)
    attempts = context.settings.question_attempts
    attempt = ask_question(
        context.questioner, context.prompts, ctx, seed=state.seed, card=state.card,
        focuses=question_focuses(state.seed.text, state.probe_id), first_focus=state.focuses_used,
        guidance=state.guidance, feedback=state.feedback, accepted_questions=state.accepted_questions,
        previous_questions=[r.question for r in state.rounds], attempts=attempts,
        base_seed=context.settings.seed, max_tokens=context.settings.max_tokens["questioner"],
        form=context.form(),
    )
    if attempt.rejections:
        context.tracer.record({"kind": "question_rejected", "probe": state.probe_id, "round": number,
                            "role": "questioner", "reasons": attempt.rejections})
    used = state.focuses_used + attempt.attempts
    if attempt.question is None:
        # A probe whose earlier rounds were judged and that has nothing new to ask is exhausted;
        # one that never had a question failed for want of one.
        outcome = "exhausted" if attempt.used_up and state.rounds else "failed"
        context.tracer.record({"kind": "probe_failed" if outcome == "failed" else "probe_exhausted",
                            "probe": state.probe_id, "round": number, "role": "questioner",
                            "reason": attempt.failure})
        return {"round": number, "outcome": outcome, "failure": attempt.failure, "focuses_used": used,
                "question_rejections": attempt.rejections, "best_round": _best_number(state.rounds)}
    return {"round": number, "question": attempt.question, "intended_answer": attempt.answer,
            "question_type": attempt.type, "focus": attempt.focus, "focuses_used": used,
            "question_rejections": attempt.rejections, "outcome": "running"}


def student(state: ProbeState, config: RunnableConfig, runtime: Runtime[ProbeContext]) -> dict:
    """The student answers the bare question."""
    context = runtime.context
    result = answer_as_student(context.student, context.prompts, _call(state, context, config),
                               state.question, context.settings.max_tokens["student"])
    return {"student_answer": result.text}


def expert(state: ProbeState, config: RunnableConfig, runtime: Runtime[ProbeContext]) -> dict:
    """Retrieve passages of the seed's document for the question (keeping the seed among them)
    and answer from them."""
    context = runtime.context
    started = time.perf_counter()
    # The search is within the seed's document already: the contract's name in the question
    # would only pull its opening lines (title, parties) up the ranking.
    query = strip_document(state.question)
    passages = _retrieve_passages(query, context, config, document=state.seed.document)
    if state.seed.id not in {p.id for p in passages}:
        passages = [state.seed, *passages][: context.settings.k]
    context.tracer.record({"kind": "retrieval", "probe": state.probe_id, "round": state.round,
                        "role": "expert", "query": query, "question": state.question,
                        "document": state.seed.document,
                        "passages": labels_for(passages), "suspicious": suspicious_passages(passages),
                        "seconds": round(time.perf_counter() - started, 4)})
    sentences = None
    if context.form() == "extractive":  # the expert chooses among the passages' sentences closest to it
        sentences = passage_sentences(passages, query, context.embedder, context.settings.answer_candidates)
    answer = answer_as_expert(context.expert, context.prompts, _call(state, context, config),
                              state.question, passages, context.settings.max_tokens["expert"], sentences)
    return {"expert_answer": answer.text, "expert_cited": answer.cited,
            "expert_quotes": [list(q) for q in answer.quotes], "passages": passages}


def critic(state: ProbeState, config: RunnableConfig, runtime: Runtime[ProbeContext]) -> dict:
    """Judge the round. Code checks it first (judging.check_round); a sound round is then shown to
    the critic model (divergence, its view of the round trip, feedback), and, when the student
    missed the answer, the student's failure is measured. Accepted: no rejection at all."""
    context = runtime.context
    ctx = _call(state, context, config)
    settings = context.settings
    checks = check_round(state, context.embedder, settings.grounding_bar,
                         context.document_texts(state.seed) if context.form() == "extractive" else None)
    rejections = list(checks.rejections)
    scores: dict[str, float | None] = {
        "judge": None,
        "embedding": embedding_divergence(context.embedder, state.student_answer, state.expert_answer),
        "verdict": verdict_divergence(state.student_answer, state.expert_answer),
        "facts": facts_divergence(state.question, state.student_answer, state.expert_answer,
                                  " ".join(p.text for p in state.passages)),
        "failure": None,
    }
    verdict, failure, failure_method = Verdict(parsed_with="skipped"), None, ""
    if checks.valid:
        verdict = judge_answers(context.critic, context.prompts, ctx, question=state.question,
                                student_answer=state.student_answer, expert_answer=state.expert_answer,
                                passages=state.passages, intended_answer=state.intended_answer,
                                max_tokens=settings.max_tokens["critic"])
        scores["judge"] = verdict.divergence
        if verdict.consistent is not None:  # the critic's judgement joins the round trip's
            checks.roundtrip = compare_answers(state.intended_answer, state.expert_answer, context.embedder,
                                               state.question, critic=verdict.consistent)
            if not checks.roundtrip.agree:
                rejections.append(ROUNDTRIP_DISAGREE)
        if settings.critic_veto and verdict.consistent is False:
            rejections.append(CRITIC_INCONSISTENT)
        if not checks.student.agree:
            failure, failure_method = student_failure_rate(
                context.student, context.prompts, ctx, question=state.question,
                own_answer=state.student_answer, expert_answer=state.expert_answer, embedder=context.embedder,
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
    context.tracer.record({
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


def route(state: ProbeState, runtime: Runtime[ProbeContext]) -> dict:
    """Decide the probe's next step from the last round, by code: accepted when the round passed
    every check (no rejection), else another round, else exhausted."""
    context = runtime.context
    last = state.rounds[-1]
    if not last.rejections:
        outcome, chosen = "accepted", last.number
    elif len(state.rounds) < context.settings.max_rounds:
        outcome, chosen = "revise", 0
    else:
        outcome, chosen = "exhausted", _best_number(state.rounds)
    context.tracer.record({"kind": "route", "probe": state.probe_id, "round": state.round,
                        "role": "route", "outcome": outcome, "divergence": last.divergence,
                        "grounded": last.grounded, "threshold": context.settings.threshold,
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
