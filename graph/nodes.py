"""The probe graph's nodes, one plain function per role, plus the router."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
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
    answer_as_expert,
    answer_as_student,
    ask_question,
    check_grounding,
    combine,
    embedding_divergence,
    facts_divergence,
    fallback_feedback,
    judge_answers,
    verdict_divergence,
)
from ..agents.grounding import Grounding, labels_for
from ..agents.injection import suspicious_passages
from ..retrieval import Passage, passage_from_document
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


def _context(state: ProbeState, deps: ProbeDeps, config: RunnableConfig | None) -> CallContext:
    return CallContext(probe_id=state.probe_id, round=state.round, tracer=deps.tracer,
                       config=config, cache=deps.cache)


def _retrieve_passages(query: str, deps: ProbeDeps, config: RunnableConfig | None) -> list[Passage]:
    documents = deps.retriever.invoke(query, config=config)
    return [passage_from_document(d) for d in documents][: deps.settings.k]


def retrieve(state: ProbeState, config: RunnableConfig, *, deps: ProbeDeps) -> dict:
    """Resolve the seed passage: given in the input, or the best match for `topic`."""
    if state.seed is not None:
        return {}
    if not state.topic.strip():
        return {"outcome": "failed", "failure": "probe input has neither a seed passage nor a topic"}
    passages = _retrieve_passages(state.topic, deps, config)
    deps.tracer.record({"kind": "retrieval", "probe": state.probe_id, "round": 0,
                        "role": "retrieve", "query": state.topic,
                        "passages": [p.id for p in passages],
                        "suspicious": suspicious_passages(passages)})
    if not passages:
        return {"outcome": "failed", "failure": f"no passage found for topic {state.topic!r}"}
    return {"seed": passages[0]}


def questioner(state: ProbeState, config: RunnableConfig, *, deps: ProbeDeps) -> dict:
    """Write the next question, using the critic's last feedback."""
    number = state.round + 1
    ctx = CallContext(probe_id=state.probe_id, round=number, tracer=deps.tracer, config=config,
                      cache=deps.cache)
    attempt = ask_question(
        deps.questioner, deps.prompts, ctx, seed=state.seed, guidance=state.guidance,
        feedback=state.feedback, accepted_questions=state.accepted_questions,
        previous_questions=[r.question for r in state.rounds],
        attempts=deps.settings.question_attempts, base_seed=deps.settings.seed,
        max_tokens=deps.settings.max_tokens["questioner"],
    )
    if attempt.question is None:
        deps.tracer.record({"kind": "probe_failed", "probe": state.probe_id, "round": number,
                            "role": "questioner", "reason": attempt.failure})
        return {"round": number, "outcome": "failed", "failure": attempt.failure,
                "best_round": _best_number(state.rounds)}
    return {"round": number, "question": attempt.question, "outcome": ""}


def student(state: ProbeState, config: RunnableConfig, *, deps: ProbeDeps) -> dict:
    """The student answers the bare question."""
    result = answer_as_student(deps.student, deps.prompts, _context(state, deps, config),
                               state.question, deps.settings.max_tokens["student"])
    return {"student_answer": result.text}


def expert(state: ProbeState, config: RunnableConfig, *, deps: ProbeDeps) -> dict:
    """Retrieve passages for the question (keeping the seed among them) and answer from them."""
    started = time.perf_counter()
    passages = _retrieve_passages(state.question, deps, config)
    if state.seed.id not in {p.id for p in passages}:
        passages = [state.seed, *passages][: deps.settings.k]
    deps.tracer.record({"kind": "retrieval", "probe": state.probe_id, "round": state.round,
                        "role": "expert", "query": state.question,
                        "passages": labels_for(passages), "suspicious": suspicious_passages(passages),
                        "seconds": round(time.perf_counter() - started, 4)})
    result = answer_as_expert(deps.expert, deps.prompts, _context(state, deps, config),
                              state.question, passages, deps.settings.max_tokens["expert"])
    return {"expert_answer": result.text, "passages": passages}


def critic(state: ProbeState, config: RunnableConfig, *, deps: ProbeDeps) -> dict:
    """Judge the round: the critic's verdict, code scorers, and the code's grounding check."""
    ctx = _context(state, deps, config)
    # The code's checks need only the answers: they run (embedding included) while the critic
    # model answers, instead of after it.
    with ThreadPoolExecutor(max_workers=1) as pool:
        code_checks = pool.submit(_code_checks, state, deps)
        judged = judge_answers(deps.critic, deps.prompts, ctx, question=state.question,
                               student_answer=state.student_answer,
                               expert_answer=state.expert_answer, passages=state.passages,
                               base_seed=deps.settings.seed,
                               max_tokens=deps.settings.max_tokens["critic"])
        grounding, code_scores = code_checks.result()
    verdict = judged.verdict
    scores = {"judge": verdict.divergence, **code_scores}
    divergence, scorer = combine(scores, deps.settings.scorer)
    feedback = verdict.feedback or fallback_feedback(state.student_answer, state.expert_answer)
    record = RoundRecord(
        number=state.round, question=state.question, student_answer=state.student_answer,
        expert_answer=state.expert_answer, passages=list(state.passages),
        grounded=grounding.grounded, grounding_method=grounding.method,
        grounding_passages=grounding.passage_ids, grounding_score=round(grounding.score, 4),
        fabricated_citations=grounding.fabricated, unsupported_citations=grounding.unsupported,
        scores=scores,
        divergence=round(divergence, 4), scorer=scorer, critic_grounded=verdict.grounded,
        feedback=feedback, reason=verdict.reason, verdict_parsed_with=verdict.parsed_with,
    )
    event = {"kind": "judgement", "probe": state.probe_id, "round": state.round,
             "role": "critic", "scores": scores, "divergence": record.divergence,
             "scorer": scorer, "grounded": grounding.grounded,
             "grounding_method": grounding.method, "grounding_passages": grounding.passage_ids,
             "fabricated_citations": grounding.fabricated,
             "unsupported_citations": grounding.unsupported, "critic_grounded": verdict.grounded,
             "verdict_parsed_with": verdict.parsed_with}
    if verdict.parsed_with == "none":
        event["note"] = ("critic verdict could not be parsed after a retry; divergence comes "
                         "from the code scorers alone and the feedback is code-written")
    deps.tracer.record(event)
    return {"rounds": [record], "feedback": f"Last question: {state.question}\n{feedback}"}


def _code_checks(state: ProbeState, deps: ProbeDeps) -> tuple[Grounding, dict[str, float | None]]:
    """The grounding check and the code scorers of a round (all but the critic's judgement)."""
    grounding = check_grounding(state.expert_answer, state.passages, deps.embedder,
                                deps.settings.grounding_bar, question=state.question)
    return grounding, {
        "embedding": embedding_divergence(deps.embedder, state.student_answer, state.expert_answer),
        "verdict": verdict_divergence(state.student_answer, state.expert_answer),
        "facts": facts_divergence(state.question, state.student_answer, state.expert_answer,
                                  " ".join(p.text for p in state.passages)),
    }


def route(state: ProbeState, *, deps: ProbeDeps) -> dict:
    """Decide the probe's next step from the last round, by code."""
    last = state.rounds[-1]
    if last.grounded and last.divergence >= deps.settings.threshold:
        outcome, chosen = "accepted", last.number
    elif len(state.rounds) < deps.settings.max_rounds:
        outcome, chosen = "revise", 0
    else:
        outcome, chosen = "exhausted", _best_number(state.rounds)
    deps.tracer.record({"kind": "route", "probe": state.probe_id, "round": state.round,
                        "role": "route", "outcome": outcome, "divergence": last.divergence,
                        "grounded": last.grounded, "threshold": deps.settings.threshold})
    return {"outcome": outcome, "best_round": chosen}


def _best_number(rounds: list[RoundRecord]) -> int:
    best = best_round(rounds)
    return best.number if best else 0


def after_questioner(state: ProbeState) -> list[str] | str:
    """Student and expert run side by side, unless the questioner failed."""
    return "end" if state.outcome == "failed" else ["student", "expert"]


def after_retrieve(state: ProbeState) -> str:
    return "end" if state.outcome == "failed" else "questioner"


def after_route(state: ProbeState) -> str:
    return "questioner" if state.outcome == "revise" else "end"
