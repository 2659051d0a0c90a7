"""The one place every model call goes through: cache, invoke, time, count tokens, record the trace."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import HumanMessage
from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel

from ..models import model_label, structured_output
from ..models.grammar import schema_reply_tokens
from .cache import ResponseCache
from .schemas import decode
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
    # With a reply schema: the decoded reply (None when the text does not follow the schema),
    # how the model was held to it (grammar | json_schema | refused | prompted, see
    # models.structured_output) and how the reply was read (schema | tolerant | "" for not at all).
    reply: BaseModel | None = None
    structured: str = ""
    parsed_with: str = ""


def invoke_model(role: str, model: BaseChatModel, prompt: str, ctx: CallContext, *,
                 attempt: int = 1, max_tokens: int | None = None,
                 reply: type[BaseModel] | None = None, schema: dict[str, Any] | None = None,
                 **options: Any) -> CallResult:
    """Send one user prompt to `model` as `role` and record the call in the trace.

    With `reply` (a pydantic model; `schema` overrides its JSON schema) the model is held to
    the schema where it can be (a grammar for local models, `response_format` for servers) and
    the reply is decoded under it; the trace records how (`structured`, `parsed_with`).
    With a cache in `ctx`, a call made before (same model, prompt and parameters) is answered
    from it, and traced with cached=true.
    """
    if max_tokens is not None:
        options["max_tokens"] = max_tokens
    how = ""
    if reply is not None:
        schema = schema or reply.model_json_schema()
        how = structured_output(model)
        if how != "prompted":
            options["response_format"] = {"type": "json_schema",
                                          "json_schema": {"name": role, "schema": schema}}
        if how == "grammar":  # room for the longest reply the schema allows: never cut short
            options["max_tokens"] = max(options.get("max_tokens") or 0, schema_reply_tokens(schema))
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
            result = CallResult(hit["text"], hit["input_tokens"], hit["output_tokens"], seconds,
                                cached=True)
            _decode(result, reply, how, event)
            ctx.tracer.record(event)
            return result
    config: RunnableConfig = dict(ctx.config or {})
    config["metadata"] = {**config.get("metadata", {}), "advqa_role": role,
                          "advqa_probe": ctx.probe_id, "advqa_round": ctx.round}
    config["tags"] = [*config.get("tags", []), f"advqa:{role}"]
    config["run_name"] = f"advqa.{role}"
    try:
        message = model.invoke([HumanMessage(prompt)], config=config, **options)
    except Exception as error:
        event.update(seconds=round(time.perf_counter() - started, 4), cached=False,
                     error=" ".join(f"{type(error).__name__}: {error}".split())[:500])
        retries = getattr(error, "retries", 0)  # a ModelError's retries before it gave up
        if isinstance(retries, int) and retries > 0:
            event["retries"] = retries
        ctx.tracer.record(event)
        raise
    seconds = time.perf_counter() - started
    text = message.text if isinstance(message.text, str) else str(message.content)
    usage = getattr(message, "usage_metadata", None) or {}
    estimated = not usage
    input_tokens = int(usage.get("input_tokens", 0)) if usage else approximate_tokens(prompt)
    output_tokens = int(usage.get("output_tokens", 0)) if usage else approximate_tokens(text)
    event.update(output=text, input_tokens=input_tokens, output_tokens=output_tokens,
                 tokens_estimated=estimated, seconds=round(seconds, 4), cached=False)
    metadata = getattr(message, "response_metadata", None) or {}
    if metadata.get("retries"):
        event["retries"] = metadata["retries"]
    result = CallResult(text, input_tokens, output_tokens, seconds)
    _decode(result, reply, metadata.get("structured", how), event)
    ctx.tracer.record(event)
    if key is not None:
        ctx.cache.put(key, model=label, text=text, input_tokens=input_tokens,
                      output_tokens=output_tokens, tokens_estimated=estimated, seconds=seconds)
    return result


def _decode(result: CallResult, reply: type[BaseModel] | None, how: str, event: dict[str, Any]) -> None:
    """Decode a reply under its schema: strictly when the model was held to it, else (or when a
    held reply still fails, e.g. cut by the token budget) tolerantly; record how in the event."""
    if reply is None:
        return
    result.structured = how
    for tolerant in (False, True):
        if tolerant and how in ("grammar",):
            break  # a grammar-held reply that fails is not repaired
        decoded = decode(result.text, reply, tolerant=tolerant)
        if decoded is not None:
            result.reply, result.parsed_with = decoded, "tolerant" if tolerant else "schema"
            break
    event.update(structured=how, parsed_with=result.parsed_with or None)


def approximate_tokens(text: str) -> int:
    """Word-and-punctuation count, for models that report no usage."""
    return len(re.findall(r"\w+|[^\w\s]", text))
