"""The probe graph for LangGraph Studio (`langgraph dev`), its settings in Studio's configuration panel.

langgraph.json points at `./graph/studio.py:graph`. Importing this module is cheap: the graph is
built the first time `graph` is read. Its context schema is `StudioSettings`, so Studio's
configuration panel shows those fields; each run's models, index and probe settings are made from
them (once per distinct settings, then kept). A field left empty falls back to the environment:

    ADVQA_INDEX       index folder from `advqa index` (default: the bundled example contracts,
                      indexed once into advqa's cache folder)
    ADVQA_MODEL, ADVQA_<ROLE>       model specs (default bundled:smollm2-135m)
    ADVQA_THRESHOLD, ADVQA_MAX_ROUNDS, ADVQA_K, ADVQA_SCORER         probe settings
    ADVQA_TRACES      a JSONL file to append trace events to (default: none)
    OPENAI_BASE_URL, OPENAI_API_KEY for openai: specs

In Studio, start a run with {"probe_id": "p1", "topic": "early termination fee"}: the retrieve node
takes the best-matching passage as the seed. Absolute imports: the server loads this file by path.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from advqa.config import resolve_models
from advqa.graph.settings import ProbeSettings, StudioSettings
from advqa.models import load_chat_model
from advqa.roles import ROLES
from advqa.settings import resolve_settings

_lock = threading.Lock()
_built: dict[Any, Any] = {}


def _index():
    from advqa.models import cache_dir
    from advqa.retrieval import build_index, load_index

    folder = os.environ.get("ADVQA_INDEX")
    if folder:
        return load_index(folder)
    from advqa.examples import EXAMPLES_DIR

    target = cache_dir().parent / "studio-index"
    build_index(EXAMPLES_DIR, target)  # incremental: unchanged documents are not embedded again
    return load_index(target)


def probe_settings(chosen: StudioSettings) -> ProbeSettings:
    """The probe settings of a run: the panel's, else the environment's, else ProbeSettings' own."""
    panel = {"threshold": chosen.threshold, "max_rounds": chosen.max_rounds, "k": chosen.k,
             "scorer": chosen.scorer or None}
    return resolve_settings(ProbeSettings, options=panel, table_name="studio")


def studio_context(chosen: StudioSettings | None):
    """The ProbeContext for a run with these panel settings, built once per distinct settings."""
    from advqa.agents import JsonlTracer, NullTracer
    from advqa.graph.context import probe_context
    from advqa.retrieval import IndexRetriever

    chosen = chosen or StudioSettings()
    with _lock:
        if chosen not in _built:
            if "index" not in _built:
                _built["index"] = _index()
            index = _built["index"]
            settings = probe_settings(chosen)
            explicit = {role: getattr(chosen, role) or None for role in ROLES}
            models = {role: load_chat_model(spec)
                      for role, spec in resolve_models(explicit, {}, None).items()}
            traces = os.environ.get("ADVQA_TRACES")
            _built[chosen] = probe_context(retriever=IndexRetriever(index=index, k=settings.k),
                                           settings=settings, embedder=index.embedder,
                                           tracer=JsonlTracer(Path(traces)) if traces else NullTracer(),
                                           **models)
        return _built[chosen]


def make_graph(config: Any = None):
    """The compiled probe graph (no checkpointer: the LangGraph server brings its own)."""
    from advqa.graph.probe import probe_graph

    with _lock:
        if "graph" not in _built:
            _built["graph"] = probe_graph(studio_context, context_schema=StudioSettings).compile()
        return _built["graph"]


def __getattr__(name: str) -> Any:
    """`graph` is built when first read (PEP 562), so importing the module loads nothing."""
    if name == "graph":
        return make_graph()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
