"""advqa: adversarial question generation for domain adaptation (public API)."""

from .agents import ListTracer, PromptSet, ResponseCache, load_prompts
from .campaign import CampaignSettings, plan_seeds, run_campaign
from .errors import AdvqaError
from .graph import (
    ProbeContext,
    ProbeInput,
    ProbeOutput,
    ProbeSettings,
    ProbeState,
    RoundRecord,
    build_probe_graph,
    probe_context,
    probe_graph,
)
from .models import Endpoint, load_chat_model
from .retrieval import Embedder, IndexRetriever, VectorIndex, build_index, load_index

__all__ = [
    "AdvqaError", "CampaignSettings", "Embedder", "Endpoint", "IndexRetriever", "ListTracer", "ProbeContext",
    "ProbeInput", "ProbeOutput", "ProbeSettings", "ProbeState", "PromptSet", "ResponseCache", "RoundRecord",
    "VectorIndex", "build_index", "build_probe_graph", "load_chat_model", "load_index", "load_prompts",
    "plan_seeds", "probe_context", "probe_graph", "run_campaign",
]
