"""The probe graph for LangGraph Studio (`langgraph dev`), built on first use from environment settings.

langgraph.json points at `./graph/studio.py:graph`. Importing this module is cheap: the graph (its
models and its index) is built the first time `graph` is read, then kept. Settings:

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

from advqa.config import resolve, resolve_models
from advqa.models import load_chat_model

_lock = threading.Lock()
_built: dict[str, Any] = {}


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


def make_graph(config: Any = None):
    """The compiled probe graph (no checkpointer: the LangGraph server brings its own)."""
    with _lock:
        if "graph" not in _built:
            from advqa.agents import JsonlTracer, NullTracer
            from advqa.graph import ProbeSettings, build_probe_graph
            from advqa.retrieval import IndexRetriever

            settings = ProbeSettings(
                threshold=resolve(None, None, "ADVQA_THRESHOLD", 0.5, float),
                max_rounds=resolve(None, None, "ADVQA_MAX_ROUNDS", 3, int),
                k=resolve(None, None, "ADVQA_K", 4, int),
                scorer=resolve(None, None, "ADVQA_SCORER", "combined"),
            )
            index = _index()
            models = {role: load_chat_model(spec) for role, spec in resolve_models({}, {}, None).items()}
            traces = os.environ.get("ADVQA_TRACES")
            graph = build_probe_graph(retriever=IndexRetriever(index=index, k=settings.k), settings=settings,
                                      tracer=JsonlTracer(Path(traces)) if traces else NullTracer(),
                                      embedder=index.embedder, **models)
            _built["graph"] = graph.compile()
        return _built["graph"]


def __getattr__(name: str) -> Any:
    """`graph` is built when first read (PEP 562), so importing the module loads nothing."""
    if name == "graph":
        return make_graph()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
