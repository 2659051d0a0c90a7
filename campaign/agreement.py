"""What the workers of one campaign must agree on, kept in their shared checkpointer.

Workers on several machines share a campaign through its checkpointer alone. Each plans the seeds
from its own copy of the index and runs the probes with its own settings, models and prompts, so
those must be the same everywhere, or the workers would run different probes under one campaign
and its dataset would mix them. The first worker records a fingerprint of them in the
checkpointer (a thread of its own); every worker compares its own with it before it runs a probe.
What may differ: concurrency, torch threads, the endpoints' addresses and limits, the run directory.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver, empty_checkpoint

from ..agents import PromptSet
from ..errors import AdvqaError
from ..retrieval import Chunk
from .config_file import spec_label
from .settings import CampaignSettings

THREAD = "advqa-campaign-agreement"  # not a probe id: those are chunk ids, "<document>#<n>-<hash>"
CHANNEL = "agreement"


class CampaignMismatchError(AdvqaError):
    """A worker's campaign differs from the one its checkpointer holds; the message says how."""


def agreement(planned: list[Chunk], settings: CampaignSettings, models: dict[str, Any],
              prompts: PromptSet) -> dict[str, Any]:
    """What must be equal on every worker: the planned seeds (so the index's chunks and the seed
    settings), the probe settings, the questioner's guidance, the dedup threshold, the models
    and the prompts."""
    return {
        "seeds": _digest([c.id for c in planned]),
        "seed_count": len(planned),
        "probe": asdict(settings.probe),
        "guidance": settings.guidance,
        "dedup_threshold": settings.dedup_threshold,
        "models": {role: spec_label(spec) for role, spec in sorted(models.items())},
        "prompts": _digest(sorted(prompts.templates.items())),
    }


def check_agreement(saver: BaseCheckpointSaver, mine: dict[str, Any]) -> None:
    """Record `mine` if the checkpointer holds no agreement yet, then require the one it holds
    (the first worker's, or whichever of two simultaneous first writers came last) to equal it."""
    config = {"configurable": {"thread_id": THREAD, "checkpoint_ns": ""}}
    if saver.get_tuple(config) is None:
        checkpoint = empty_checkpoint()
        checkpoint["channel_values"] = {CHANNEL: mine}
        checkpoint["channel_versions"] = {CHANNEL: 1}
        saver.put(config, checkpoint, {"source": "input", "step": -1, "parents": {}}, {CHANNEL: 1})
    held = saver.get_tuple(config).checkpoint["channel_values"].get(CHANNEL, {})
    differs = sorted(key for key in set(held) | set(mine) if held.get(key) != mine.get(key))
    if differs:
        raise CampaignMismatchError(
            f"this worker's campaign differs from the one its checkpointer holds in {', '.join(differs)}; "
            "every worker must run with the same index, seed and probe settings, models and prompts")


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode("utf-8")).hexdigest()[:16]
