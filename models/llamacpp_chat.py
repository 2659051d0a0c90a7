"""A LangChain chat model over a GGUF file run by llama-cpp-python (the optional `llamacpp` extra)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, ClassVar

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field

from .errors import ModelError
from .local_chat import call_params, chat_messages, response_schema


class _LoadedGGUF:
    """One llama.cpp model per file per process; a llama_cpp.Llama is not thread-safe, so calls
    take turns on its lock."""

    def __init__(self, path: str, n_ctx: int, n_threads: int | None):
        try:
            from llama_cpp import Llama
        except ImportError:
            raise ModelError("gguf: models need llama-cpp-python: pip install 'advqa[llamacpp]'") from None
        try:
            self.llama = Llama(model_path=path, n_ctx=n_ctx, n_threads=n_threads, verbose=False)
        except (ValueError, OSError, RuntimeError) as error:
            reason = " ".join(str(error).split())[:300]
            raise ModelError(f"cannot load GGUF file {path}: {reason}") from None
        self.lock = threading.Lock()


_loaded: dict[tuple, _LoadedGGUF] = {}
_loaded_lock = threading.Lock()


def _load(path: str, n_ctx: int, n_threads: int | None) -> _LoadedGGUF:
    with _loaded_lock:
        key = (path, n_ctx, n_threads)
        if key not in _loaded:
            _loaded[key] = _LoadedGGUF(path, n_ctx, n_threads)
        return _loaded[key]


class LlamaCppChatModel(BaseChatModel):
    """Chat model over a GGUF file with llama.cpp: the file's own chat template, greedy unless a
    temperature is given, token usage from llama.cpp on every reply."""

    model_path: str
    model_label: str = ""
    max_new_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 0.95
    repetition_penalty: float = 1.1
    seed: int = 0
    n_ctx: int = 4096
    n_threads: int | None = None
    loaded: Any = Field(default=None, exclude=True)
    schema_support: ClassVar[str] = "grammar"  # llama.cpp's own JSON-schema grammar

    def model_post_init(self, context: Any) -> None:
        if not Path(self.model_path).is_file():
            raise ModelError(f"GGUF file not found: {self.model_path}")
        if self.loaded is None:
            self.loaded = _load(self.model_path, self.n_ctx, self.n_threads)
        if not self.model_label:
            self.model_label = f"gguf:{self.model_path}"

    @property
    def _llm_type(self) -> str:
        return "advqa-llamacpp"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model": self.model_label, "temperature": self.temperature,
                "max_new_tokens": self.max_new_tokens, "seed": self.seed}

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: Any = None, **kwargs: Any) -> ChatResult:
        params = call_params(self, kwargs)
        schema = response_schema(kwargs)
        extra = {"response_format": {"type": "json_object", "schema": schema}} if schema else {}
        with self.loaded.lock:
            # Start from an empty KV cache: reusing the last prompt's prefix changes the
            # numerics, and then the greedy reply, of the same prompt asked twice.
            self.loaded.llama.reset()
            response = self.loaded.llama.create_chat_completion(
                messages=chat_messages(messages),
                max_tokens=params.max_new_tokens,
                temperature=params.temperature,
                top_p=params.top_p,
                repeat_penalty=params.repetition_penalty,
                seed=params.seed,
                stop=stop or None,
                **extra,
            )
        choice = response["choices"][0]
        usage = response.get("usage") or {}
        prompt_tokens = int(usage.get("prompt_tokens", 0))
        completion_tokens = int(usage.get("completion_tokens", 0))
        message = AIMessage(
            content=(choice["message"].get("content") or "").strip(),
            usage_metadata={"input_tokens": prompt_tokens, "output_tokens": completion_tokens,
                            "total_tokens": prompt_tokens + completion_tokens},
            response_metadata={"model_name": self.model_label,
                               "finish_reason": choice.get("finish_reason")},
        )
        return ChatResult(generations=[ChatGeneration(message=message)])
