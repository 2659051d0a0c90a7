"""Model specs: `bundled:`, `hf:`, `openai:`, `gguf:` and init_chat_model strings to LangChain chat models."""

from .bundled import DEFAULT_MODEL_SPEC, bundled_checkpoint, cache_dir, find_gguf
from .endpoints import Endpoint, limiter_for
from .errors import ModelError
from .local_chat import LocalChatModel, LocalEngine, engine_for
from .specs import (
    ModelSpec,
    checkpoint_path,
    gguf_path,
    load_chat_model,
    model_label,
    structured_output,
    validate_spec,
)

__all__ = [
    "DEFAULT_MODEL_SPEC", "Endpoint", "LocalChatModel", "LocalEngine", "ModelError", "ModelSpec",
    "bundled_checkpoint", "cache_dir", "checkpoint_path", "engine_for", "find_gguf", "gguf_path",
    "limiter_for", "load_chat_model", "model_label", "structured_output", "validate_spec",
]
