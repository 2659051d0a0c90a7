"""config.toml and the prompt texts: what a campaign ran with, written into its run directory."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import tomli_w

from ..agents import PromptSet
from ..models import DEFAULT_MODEL_SPEC, ModelSpec, model_label
from ..retrieval import VectorIndex
from ..retrieval.files import write_atomic
from .files import CONFIG, PROMPTS
from .settings import CampaignSettings


def write_config(run: Path, index: VectorIndex, models: dict[str, ModelSpec],
                 settings: CampaignSettings, prompts: PromptSet,
                 extra: dict[str, Any] | None) -> None:
    """Write the resolved settings as config.toml: model names and settings, never a secret."""
    probe = asdict(settings.probe)
    campaign = {k: v for k, v in asdict(settings).items() if k != "probe"}
    document = {
        "campaign": campaign,
        "probe": probe,
        "models": {role: spec_label(spec) for role, spec in models.items()},
        "prompts": dict(prompts.sources),
        "index": {"embedding_model": index.embedding_model, "chunks": len(index.chunks),
                  "documents": len(index.documents())},
    }
    for key, value in (extra or {}).items():
        if isinstance(value, dict) and isinstance(document.get(key), dict):
            document[key] = {**document[key], **value}
        else:
            document[key] = value
    write_atomic(run / CONFIG, tomli_w.dumps(_drop_none(document)))
    # The prompt texts too (RUN_DIR/prompts/<role>.txt), for `advqa prompts diff` and `--prompts`.
    (run / PROMPTS).mkdir(exist_ok=True)
    for role, template in prompts.templates.items():
        write_atomic(run / PROMPTS / f"{role}.txt", template)


def spec_label(spec: ModelSpec | None) -> str:
    """How a role's model is named in config.toml: its spec, or a chat model's label."""
    if spec is None:
        return DEFAULT_MODEL_SPEC
    return spec if isinstance(spec, str) else model_label(spec)


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    return value
