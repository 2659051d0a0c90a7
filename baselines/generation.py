"""Run generation jobs through the model a few at a time, in order, until a token budget is spent."""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel

from ..agents import CallContext, CallResult, Tracer, invoke_model
from .tokens import TokenCounter

# Below this many tokens left, a new call would only produce a fragment: stop instead.
MIN_CALL_TOKENS = 16
_FENCE = re.compile(r"^\s*```[\w-]*\s*|\s*```\s*$")
_HTML_CODE_TAG = re.compile(r"</?(?:pre|code)>")
_PREAMBLE = re.compile(r"^(sure|certainly|okay|ok|of course|here is|here's|here are)\b[^\n]{0,120}:\s*\n",
                       re.IGNORECASE)


@dataclass(frozen=True)
class Job:
    """One model call whose reply becomes one training text."""

    role: str
    probe_id: str
    prompt: str
    max_tokens: int
    meta: dict[str, Any]
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class Item:
    """One training text and its meta (kind, document, sources, style, tokens)."""

    text: str
    meta: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "meta": self.meta}


@dataclass
class Tally:
    """Model calls made, the tokens the model reported, and replies that were empty."""

    calls: int = 0
    output_tokens: int = 0
    empty_replies: int = 0

    def add(self, result: CallResult) -> None:
        self.calls += 1
        self.output_tokens += result.output_tokens


def clean_reply(text: str) -> str:
    """The reply without surrounding space, code-block wrappers or a chatty first line
    ("Sure! Here is ...:")."""
    text = _FENCE.sub("", _HTML_CODE_TAG.sub("", text).strip())
    return _PREAMBLE.sub("", text, count=1).strip()


def generate_items(jobs: Iterable[Job], model: BaseChatModel, counter: TokenCounter, budget: int, *,
                   workers: int, tracer: Tracer, tally: Tally,
                   headers: dict[str, str] | None = None, kept: Sequence[Item] = ()) -> Iterator[Item]:
    """Yield one item per job, in job order, until `budget` tokens (by `counter`) are used; an
    item opens with its document's header (`headers`, by document id), counted in the budget.

    `kept` are the items an earlier, cut-off build wrote for the first jobs (see skip_kept): they
    are yielded first and count in the budget, and generation goes on from the job after them.

    Up to `workers` calls run at once (a local model batches them). Each call reserves its
    max_tokens out of what is left, so no call starts once the budget is spoken for and no
    finished call is thrown away; the one reply that would pass the budget is cut to fit.
    """
    pending: deque[tuple[Job, int, Future[CallResult]]] = deque()
    queue = iter(jobs)
    used, exhausted = 0, False
    for item in kept:
        used += item.meta["tokens"]
        yield item
    smallest_call = min(MIN_CALL_TOKENS, budget)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="advqa-baseline")
    try:
        while True:
            free = budget - used - sum(limit for _, limit, _ in pending)
            while not exhausted and len(pending) < workers and free >= smallest_call:
                job = next(queue, None)
                if job is None:
                    exhausted = True
                    break
                limit = min(job.max_tokens, free)
                pending.append((job, limit, pool.submit(_call, model, job, limit, tracer)))
                free -= limit
            if not pending:
                return
            job, _, future = pending.popleft()
            result = future.result()
            tally.add(result)
            reply = clean_reply(result.text)
            if not reply:
                tally.empty_replies += 1
                continue
            text = (headers or {}).get(job.meta["document"], "") + reply
            tokens = counter.count(text)
            truncated = tokens > budget - used
            if truncated:
                text = counter.truncate(text, budget - used)
                tokens = counter.count(text)
            if tokens == 0:
                tally.empty_replies += 1
                continue
            used += tokens
            yield Item(text, {**job.meta, "tokens": tokens, "truncated": truncated})
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def skip_kept(jobs: Iterable[Job], kept: Sequence[Item]) -> Iterator[Job] | None:
    """The jobs after those that made the `kept` items, or None when the kept items are not the
    output of these jobs in order (other settings, or an entity list that came out differently).

    A job whose reply was empty made no item, so each kept item is matched to the next job with
    the same meta; a kept item cut to the budget means the budget was spent, and no job is left.
    """
    queue = iter(jobs)
    for item in kept:
        made = {key: value for key, value in item.meta.items() if key not in ("tokens", "truncated")}
        if not any(job.meta == made for job in queue):
            return None
        if item.meta.get("truncated"):
            return iter(())
    return queue


def invoke_all(jobs: Sequence[Job], model: BaseChatModel, *, workers: int, tracer: Tracer,
               tally: Tally) -> list[str]:
    """Run every job (no budget) and return the replies in job order."""
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="advqa-baseline") as pool:
        futures = [pool.submit(_call, model, job, job.max_tokens, tracer) for job in jobs]
        results = [future.result() for future in futures]
    for result in results:
        tally.add(result)
    return [result.text for result in results]


def _call(model: BaseChatModel, job: Job, max_tokens: int, tracer: Tracer) -> CallResult:
    ctx = CallContext(probe_id=job.probe_id, round=0, tracer=tracer)
    return invoke_model(job.role, model, job.prompt, ctx, max_tokens=max_tokens, **job.options)
