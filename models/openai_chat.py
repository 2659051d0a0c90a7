"""ChatOpenAI with advqa's retries (backoff with jitter) and a per-base-URL concurrency limit."""

from __future__ import annotations

import json
import random
import time
from typing import Any, ClassVar

import openai
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatResult
from langchain_openai import ChatOpenAI

from .endpoints import Endpoint, limiter_for
from .errors import ModelError

RETRY_STATUSES = {408, 409, 429}  # and every 5xx
MAX_RETRY_AFTER = 60.0  # a server asking for a longer wait is not waited for


class _UnusableReply(Exception):
    """A reply that arrived (HTTP 200) but holds no completion advqa can use; the message says why."""


def _check_not_blank(result: ChatResult) -> None:
    """An empty completion is useless to every advqa role: treat it like a failed call."""
    for generation in result.generations:
        message = generation.message
        if message.text.strip() or getattr(message, "tool_calls", None):
            return
    finish = (result.generations[0].message.response_metadata.get("finish_reason")
              if result.generations else None)
    raise _UnusableReply("returned an empty reply" + (f" (finish_reason {finish})"
                                                      if finish not in (None, "stop") else ""))


class EndpointChatOpenAI(ChatOpenAI):
    """An `openai:` model on one endpoint.

    The openai client's own retries are off (max_retries=0): retrying here lets the
    concurrency slot be released while backing off, counts retries for the trace, and turns
    the final failure into a one-line ModelError that names the endpoint.

    Retried: 408, 409, 429, 5xx, timeouts, connection errors (refused, dropped), a 200 whose
    body is empty, not JSON or holds no completion, and, with `retry_empty`, a completion
    without text (useless to every advqa role; False returns it as it is).
    """

    model_label: str = ""
    retries: int = 3
    backoff: float = 0.5
    max_backoff: float = 30.0
    max_concurrency: int | None = None
    retry_empty: bool = True
    disable_streaming: bool = True  # every call goes through _generate, hence the retries and limit
    schema_support: ClassVar[str] = "json_schema"  # replies held to a schema by response_format

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: Any = None, **kwargs: Any) -> ChatResult:
        limiter = limiter_for(self.openai_api_base, self.max_concurrency)
        attempt = 0
        structured = "json_schema" if kwargs.get("response_format") else None
        while True:
            with limiter:
                try:
                    result = super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)
                    if self.retry_empty:
                        _check_not_blank(result)
                except openai.APIError as error:
                    if structured == "json_schema" and _refuses_response_format(error):
                        # A server without structured output: ask again without the schema (at
                        # once, not a retry); the caller then reads the reply tolerantly.
                        kwargs = {k: v for k, v in kwargs.items() if k != "response_format"}
                        structured = "refused"
                        continue
                    failure: Exception = error
                    delay, reason = self._retry_delay(error, attempt), _reason(error, self)
                except (json.JSONDecodeError, _UnusableReply) as error:
                    # A 200 whose body is empty, cut short or holds no text: a server fault
                    # (overload, a proxy, a crashed worker) that a retry usually gets past.
                    failure = error
                    delay, reason = self._backoff(attempt), _reply_reason(error)
                else:
                    for generation in result.generations:
                        generation.message.response_metadata["retries"] = attempt
                        if structured:
                            generation.message.response_metadata["structured"] = structured
                    return result
                if delay is None:
                    raise ModelError(f"{self._where()}: {reason}", retries=attempt) from failure
                if attempt >= self.retries:
                    raise ModelError(f"{self._where()}: {reason} (gave up after {attempt} retries)",
                                     retries=attempt) from failure
            time.sleep(delay)  # outside the slot: a waiting retry does not hold up other calls
            attempt += 1

    def _create_chat_result(self, response: Any, generation_info: dict | None = None) -> ChatResult:
        try:
            return super()._create_chat_result(response, generation_info)
        except (ValueError, KeyError, TypeError) as error:  # no choices, an error object, not a dict
            raise _UnusableReply(" ".join(str(error).split())[:200]) from error

    async def _agenerate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                         run_manager: Any = None, **kwargs: Any) -> ChatResult:
        # Run the sync path in an executor so async callers share the same limit and retries.
        return await BaseChatModel._agenerate(self, messages, stop=stop, run_manager=run_manager, **kwargs)

    def _retry_delay(self, error: openai.APIError, attempt: int) -> float | None:
        """Seconds to wait before retrying, or None when the error is not worth retrying."""
        if isinstance(error, openai.APIStatusError):
            if error.status_code not in RETRY_STATUSES and error.status_code < 500:
                return None
            asked = _retry_after(error)
            if asked is not None:
                return asked
        elif not isinstance(error, openai.APIConnectionError):  # timeouts are connection errors
            return None
        return self._backoff(attempt)

    def _backoff(self, attempt: int) -> float:
        # Exponential backoff; jitter takes up to a quarter off so that callers spread out.
        return min(self.backoff * 2 ** attempt, self.max_backoff) * (1 - 0.25 * random.random())

    def _where(self) -> str:
        return f"{self.model_label or self.model_name} at {self.openai_api_base or 'api.openai.com'}"


def _refuses_response_format(error: openai.APIError) -> bool:
    """A 400 or 422 that is about the request's response_format (a server without structured
    output, or one that cannot take this schema)."""
    if not isinstance(error, openai.APIStatusError) or error.status_code not in (400, 422):
        return False
    body = error.body if isinstance(error.body, dict) else {}
    text = f"{body.get('param', '')} {body.get('message', '')} {error.message}".lower()
    return any(word in text for word in ("response_format", "json_schema", "guided", "structured"))


def _retry_after(error: openai.APIStatusError) -> float | None:
    headers = error.response.headers
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        try:
            seconds = float(headers.get(name, "")) * scale
        except ValueError:
            continue
        if 0 <= seconds <= MAX_RETRY_AFTER:
            return seconds
    return None


def _reason(error: openai.APIError, model: EndpointChatOpenAI) -> str:
    if isinstance(error, openai.APITimeoutError):
        return f"request timed out after {model.request_timeout}s"
    if isinstance(error, openai.APIConnectionError):
        chain = [error]
        while chain[-1].__cause__ is not None:
            chain.append(chain[-1].__cause__)
        # httpx's ConnectError: nobody answered; anything else (the server closed the
        # connection without a response, a reset) happened after connecting.
        connected = not any(type(e).__name__ in ("ConnectError", "ConnectTimeout") for e in chain)
        what = "connection lost" if connected else "cannot connect"
        return " ".join(f"{what}: {chain[-1]}".split())[:300]
    if isinstance(error, openai.APIStatusError):
        body = error.body
        detail = body.get("message") if isinstance(body, dict) else None
        detail = detail or error.response.reason_phrase or ""
        return " ".join(f"HTTP {error.status_code} {detail}".split())[:300]
    return " ".join(str(error).split())[:300]


def _reply_reason(error: Exception) -> str:
    if isinstance(error, json.JSONDecodeError):
        if not error.doc.strip():
            return "returned an empty response body"
        return " ".join(f"returned malformed JSON ({error})".split())[:300]
    return str(error) if str(error).startswith("returned") else f"returned an unusable reply: {error}"


def endpoint_model(name: str, endpoint: Endpoint, *, label: str = "", api_key: str | None = None,
                   **options: Any) -> EndpointChatOpenAI:
    """An `openai:<name>` chat model on `endpoint` (options: temperature, max_tokens, ...)."""
    if not name:
        raise ModelError("model spec 'openai:' needs a model name, e.g. openai:gpt-4o-mini")
    label = label or f"openai:{name}"
    if "max_new_tokens" in options:
        options["max_tokens"] = options.pop("max_new_tokens")
    options.setdefault("timeout", endpoint.timeout)
    retries = options.pop("max_retries", endpoint.max_retries)
    return EndpointChatOpenAI(
        model=name, base_url=endpoint.resolved_base_url(), api_key=api_key or endpoint.api_key(label),
        max_retries=0, retries=retries, backoff=endpoint.backoff,
        max_backoff=endpoint.max_backoff, max_concurrency=endpoint.max_concurrency,
        model_label=label, **options)
