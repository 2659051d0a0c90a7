"""The one place every model call goes through: cache, invoke, time, count tokens, record the trace."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import HumanMessage
from langchain_core.runnables import RunnableConfig

from ..models import model_label
from .cache import ResponseCache
from .tracing import NullTracer, Tracer


@dataclass
class CallContext:
    """Who is calling: the probe and round a call belongs to, where to trace it, the
    LangChain config (callbacks, tags) of the graph node making it, and the reply cache."""

    probe_id: str = ""
    round: int = 0
    tracer: Tracer = field(default_factory=NullTracer)
    config: RunnableConfig | None = None
    cache: ResponseCache | None = None


@dataclass
class CallResult:
    text: str
    input_tokens: int
    output_tokens: int
    seconds: float
    cached: bool = False


def invoke_model(role: str, model: BaseChatModel, prompt: str, ctx: CallContext, *,
                 attempt: int = 1, max_tokens: int | None = None, **options: Any) -> CallResult:
    """Send one user prompt to `model` as `role` and record the call in the trace.

    With a cache in `ctx`, a call made before (same model, prompt and parameters) is answered
    from it, and traced with cached=true.
    """
    if max_tokens is not None:
        options["max_tokens"] = max_tokens
    label = model_label(model)
    event: dict[str, Any] = {"kind": "model_call", "probe": ctx.probe_id, "round": ctx.round,
                             "role": role, "model": label, "attempt": attempt,
                             "prompt": prompt}
    started = time.perf_counter()
    key = None
    if ctx.cache is not None:
        key = ctx.cache.key(model, [{"role": "user", "content": prompt}], options)
        hit = ctx.cache.get(key)
        if hit is not None:
            seconds = time.perf_counter() - started
            event.update(output=hit["text"], input_tokens=hit["input_tokens"],
                         output_tokens=hit["output_tokens"], tokens_estimated=hit["tokens_estimated"],
                         seconds=round(seconds, 4), cached=True)
            ctx.tracer.record(event)
            return CallResult(hit["text"], hit["input_tokens"], hit["output_tokens"], seconds, cached=True)
    config: RunnableConfig = dict(ctx.config or {})
    config["metadata"] = {**config.get("metadata", {}), "advqa_role": role,
                          "advqa_probe": ctx.probe_id, "advqa_round": ctx.round}
    config["tags"] = [*config.get("tags", []), f"advqa:{role}"]
    config["run_name"] = f"advqa.{role}"
    try:
        reply = model.invoke([HumanMessage(prompt)], config=config, **options)
    except Exception as error:
        event.update(seconds=round(time.perf_counter() - started, 4), cached=False,
                     error=" ".join(f"{type(error).__name__}: {error}".split())[:500])
        retries = getattr(error, "retries", 0)  # a ModelError's retries before it gave up
        if isinstance(retries, int) and retries > 0:
            event["retries"] = retries
        ctx.tracer.record(event)
        raise
    seconds = time.perf_counter() - started
    text = reply.text if isinstance(reply.text, str) else str(reply.content)
    usage = getattr(reply, "usage_metadata", None) or {}
    estimated = not usage
    input_tokens = int(usage.get("input_tokens", 0)) if usage else approximate_tokens(prompt)
    output_tokens = int(usage.get("output_tokens", 0)) if usage else approximate_tokens(text)
    event.update(output=text, input_tokens=input_tokens, output_tokens=output_tokens,
                 tokens_estimated=estimated, seconds=round(seconds, 4), cached=False)
    retries = (getattr(reply, "response_metadata", None) or {}).get("retries")
    if retries:
        event["retries"] = retries
    ctx.tracer.record(event)
    if key is not None:
        ctx.cache.put(key, model=label, text=text, input_tokens=input_tokens,
                      output_tokens=output_tokens, tokens_estimated=estimated, seconds=seconds)
    return CallResult(text, input_tokens, output_tokens, seconds)


def approximate_tokens(text: str) -> int:
    """Word-and-punctuation count, for models that report no usage."""
    return len(re.findall(r"\w+|[^\w\s]", text))
