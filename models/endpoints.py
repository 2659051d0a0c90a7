"""Settings of an OpenAI-compatible endpoint, and one concurrency limit per base URL."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

from ..settings import setting
from .errors import ModelError

DEFAULT_KEY_ENV = "OPENAI_API_KEY"


@dataclass(frozen=True)
class Endpoint:
    """Where an `openai:` model is served and how to talk to it.

    The key is never held here, only the name of the environment variable that holds it,
    so an Endpoint can be written into config.toml and traces.
    """

    base_url: str | None = setting(
        None, "Base URL of the OpenAI-compatible server of openai: roles (per role: [endpoints.<role>] in "
        "--config).", env="OPENAI_BASE_URL", shown_default="OpenAI's own")
    api_key_env: str = setting(DEFAULT_KEY_ENV, "Environment variable holding the server's key.",
                               env="ADVQA_API_KEY_ENV")
    timeout: float = setting(120.0, "Seconds per request.", env="ADVQA_REQUEST_TIMEOUT",
                             option="--request-timeout")
    max_retries: int = setting(
        3, "Retries on 408/409/429, 5xx, timeouts, connection errors, and 200 replies that are empty, "
        "malformed, hold no completion or a blank one (backoff with jitter).", env="ADVQA_MAX_RETRIES")
    max_concurrency: int | None = setting(
        None, "Most requests in flight per base URL, shared by the roles that use it.",
        env="ADVQA_ENDPOINT_CONCURRENCY", option="--endpoint-concurrency", shown_default="no limit")
    backoff: float = setting(0.5, "Seconds the first retry waits (then doubling, with jitter).",
                             env="ADVQA_BACKOFF")
    max_backoff: float = setting(30.0, "Longest wait between retries, in seconds.", env="ADVQA_MAX_BACKOFF")

    def __post_init__(self) -> None:
        if self.timeout <= 0:
            raise ModelError(f"endpoint timeout must be positive, not {self.timeout}")
        if self.max_retries < 0:
            raise ModelError(f"endpoint max_retries must be 0 or more, not {self.max_retries}")
        if self.max_concurrency is not None and self.max_concurrency < 1:
            raise ModelError(f"endpoint max_concurrency must be at least 1, not {self.max_concurrency}")
        if self.backoff < 0 or self.max_backoff < self.backoff:
            raise ModelError("endpoint backoff must be >= 0 and max_backoff >= backoff")
        if not self.api_key_env.strip():
            raise ModelError("endpoint api_key_env must name an environment variable")

    def resolved_base_url(self) -> str | None:
        return self.base_url or os.environ.get("OPENAI_BASE_URL") or None

    def api_key(self, model: str) -> str:
        """The key from the environment; local servers (no key variable set) get a placeholder."""
        key = os.environ.get(self.api_key_env)
        if key:
            return key
        if self.api_key_env != DEFAULT_KEY_ENV:
            raise ModelError(f"{model}: environment variable {self.api_key_env} (api_key_env) is not set")
        if not self.resolved_base_url():
            raise ModelError(f"{model} needs OPENAI_API_KEY, or a base URL for a local server")
        return "not-needed"  # vLLM, Ollama and llama.cpp servers accept any key


class EndpointLimiter:
    """A counting limit on requests in flight; the limit can only shrink, so a base URL shared
    by roles with different limits honours the smallest."""

    def __init__(self, limit: int | None):
        self.limit = limit
        self.in_flight = 0
        self._condition = threading.Condition()

    def tighten(self, limit: int | None) -> None:
        with self._condition:
            if limit is not None and (self.limit is None or limit < self.limit):
                self.limit = limit

    def __enter__(self) -> EndpointLimiter:
        with self._condition:
            while self.limit is not None and self.in_flight >= self.limit:
                self._condition.wait()
            self.in_flight += 1
        return self

    def __exit__(self, *exc: object) -> None:
        with self._condition:
            self.in_flight -= 1
            self._condition.notify()


_limiters: dict[str, EndpointLimiter] = {}
_limiters_lock = threading.Lock()


def limiter_for(base_url: str | None, limit: int | None) -> EndpointLimiter:
    """The one limiter of a base URL in this process, shared by every model that uses it."""
    key = (base_url or "https://api.openai.com/v1").rstrip("/")
    with _limiters_lock:
        limiter = _limiters.get(key)
        if limiter is None:
            limiter = _limiters[key] = EndpointLimiter(limit)
        else:
            limiter.tighten(limit)
        return limiter
