"""Interop: LangChain callback handlers see every model call with its role, streaming a probe's
updates, and the module-level graph that langgraph.json gives LangGraph Studio."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import load_script
from langchain_core.callbacks import BaseCallbackHandler
from report_runs import scripted_models

from advqa.agents import ListTracer
from advqa.graph import FINAL_OUTCOMES, ProbeSettings, ProbeState, build_probe_graph
from advqa.retrieval import IndexRetriever, Passage
from advqa.retrieval.files import read_jsonl

ROOT = Path(__file__).resolve().parents[1]
ROLES = {"questioner", "student", "expert", "critic"}
NODES = {"retrieve", "questioner", "student", "expert", "critic", "route"}


class Recorder(BaseCallbackHandler):
    """Keeps the metadata and tags of every chat model start."""

    def __init__(self) -> None:
        self.starts: list[tuple[dict, list[str]]] = []

    def on_chat_model_start(self, serialized, messages, *, run_id, parent_run_id=None, tags=None,
                            metadata=None, **kwargs):
        self.starts.append((dict(metadata or {}), list(tags or [])))


def probe_graph(index, tracer=None):
    models = scripted_models()
    return build_probe_graph(retriever=IndexRetriever(index=index, k=3), tracer=tracer,
                             settings=ProbeSettings(scorer="judge", max_rounds=2), embedder=index.embedder,
                             **models)


def seed_of(index) -> Passage:
    chunk = next(c for c in index.chunks_of("lease.md") if "Early termination" in c.text)
    return Passage(chunk.id, chunk.document, chunk.text, chunk.start, chunk.end, 1.0)


def test_callback_handler_sees_every_model_call_with_its_role(small_index):
    tracer, handler = ListTracer(), Recorder()
    app = probe_graph(small_index, tracer).compile()
    final = app.invoke(ProbeState(probe_id="p1", seed=seed_of(small_index)), {"callbacks": [handler]})
    calls = [e for e in tracer.events if e["kind"] == "model_call"]
    assert final["outcome"] in FINAL_OUTCOMES
    assert len(handler.starts) == len(calls) > 0
    assert sorted(m["advqa_role"] for m, _ in handler.starts) == sorted(e["role"] for e in calls)
    assert {m["advqa_role"] for m, _ in handler.starts} == ROLES
    for metadata, tags in handler.starts:
        assert f"advqa:{metadata['advqa_role']}" in tags
        assert metadata["advqa_probe"] == "p1" and metadata["advqa_round"] >= 1


def test_campaign_callbacks_see_every_model_call(small_index, tmp_path):
    from advqa.campaign import CampaignSettings, run_campaign

    handler = Recorder()
    stats = run_campaign(small_index, tmp_path, models=scripted_models(), callbacks=[handler],
                         settings=CampaignSettings(seeds=2, concurrency=1,
                                                   probe=ProbeSettings(scorer="judge", max_rounds=2)))
    calls = [e for e in read_jsonl(tmp_path / "traces.jsonl") if e["kind"] == "model_call"]
    assert len(handler.starts) == len(calls) == stats["model_calls"]
    assert {m["advqa_probe"] for m, _ in handler.starts} == {e["probe"] for e in calls}


def test_stream_a_probe_node_by_node(small_index):
    app = probe_graph(small_index).compile()
    updates = list(app.stream(ProbeState(probe_id="p1", seed=seed_of(small_index)), stream_mode="updates"))
    nodes = [name for update in updates for name in update]
    assert NODES - {"retrieve"} <= set(nodes) <= NODES
    assert nodes[-1] == "route" and updates[-1]["route"]["outcome"] in FINAL_OUTCOMES
    assert any("rounds" in (update.get("critic") or {}) for update in updates)


def test_langgraph_json_names_a_lazy_module_level_graph(small_index, monkeypatch):
    config = json.loads((ROOT / "langgraph.json").read_text())
    assert config["dependencies"] == ["."]
    file, _, variable = config["graphs"]["probe"].partition(":")
    path = ROOT / file
    assert path.is_file() and variable == "graph"
    # Load it the way `langgraph dev` does: by file path.
    module = load_script(path, "advqa_studio_graph")
    assert "graph" not in vars(module)  # importing built nothing
    models = scripted_models()
    specs = {"bundled:questioner": "questioner", "bundled:student": "student", "bundled:expert": "expert",
             "bundled:critic": "critic"}
    monkeypatch.setattr(module, "load_chat_model", lambda spec: models[specs[spec]])
    for spec, role in specs.items():
        monkeypatch.setenv(f"ADVQA_{role.upper()}", spec)
    monkeypatch.setenv("ADVQA_INDEX", str(small_index.path))
    monkeypatch.setenv("ADVQA_MAX_ROUNDS", "2")
    monkeypatch.setenv("ADVQA_SCORER", "judge")
    graph = module.graph
    assert module.graph is graph  # built once
    assert NODES <= set(graph.get_graph().nodes)
    final = graph.invoke(ProbeState(probe_id="studio", topic="early termination fee"))
    assert final["outcome"] in FINAL_OUTCOMES and final["seed"].document == "lease.md"



def test_studio_runs_take_their_settings_from_the_configuration_panel(small_index, monkeypatch):
    """The Studio graph's context schema is StudioSettings: the panel shows its fields, and a run's
    values (a dict, as the server sends them) choose its models and probe settings."""
    module = load_script(ROOT / "graph/studio.py", "advqa_studio_panel")
    monkeypatch.setattr(module, "_built", {})
    monkeypatch.setattr(module, "load_chat_model",
                        lambda spec: scripted_models(accept=False)[spec.split(":")[1]])
    for role in ROLES:
        monkeypatch.setenv(f"ADVQA_{role.upper()}", f"bundled:{role}")
    monkeypatch.setenv("ADVQA_INDEX", str(small_index.path))
    monkeypatch.setenv("ADVQA_SCORER", "judge")
    monkeypatch.setenv("ADVQA_MAX_ROUNDS", "2")
    graph = module.graph
    panel = graph.get_context_jsonschema()["properties"]
    assert ROLES | {"threshold", "max_rounds", "k", "scorer"} <= set(panel)
    start = {"probe_id": "studio", "topic": "early termination fee"}
    assert len(graph.invoke(start)["rounds"]) == 2  # the environment's max_rounds
    panel_run = graph.invoke(start, context={"max_rounds": 1})
    assert panel_run["outcome"] == "exhausted" and len(panel_run["rounds"]) == 1
