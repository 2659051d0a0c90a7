"""How many threads torch uses while a campaign's probes run."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..models.llamacpp_chat import LlamaCppChatModel


def probe_torch_threads(setting: int | None, models: dict[str, Any]) -> int | None:
    """Torch's thread count for the probes: `setting` when given; else 1 when every role is a
    model that does not run on torch in this process (an OpenAI-compatible server, llama.cpp);
    else None (torch's own default, one thread per core).

    With no torch model in the process, torch's only work during the probes is the embedder's
    small batches (a question, two answers), for which a second thread buys little time and,
    spinning while it waits, takes a core from the concurrent probes (and, on a busy machine,
    makes each batch several times slower).
    """
    if setting is not None:
        return setting
    return 1 if models and all(_off_torch(model) for model in models.values()) else None


def _off_torch(model: Any) -> bool:
    served = any(cls.__module__.startswith("langchain_openai") for cls in type(model).__mro__)
    return served or isinstance(model, LlamaCppChatModel)


@contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Run the block with torch using `count` threads (None: as it is), then restore them.

    Threads started inside the block (the probes' pool) use `count` too.
    """
    if count is None:
        yield
        return
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
