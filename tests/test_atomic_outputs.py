"""Whole output files (eval results, reference corpus, baseline stats, exports) are replaced atomically."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from test_evaluation import make_task

from advqa.baselines.output import stats_path, write_stats
from advqa.evaluation import build_reference_corpus, write_results
from advqa.retrieval import files
from advqa.training import export_run

OLD = '{"old": "complete"}\n'
SAMPLE = {"messages": [{"role": "user", "content": "Can the Lessee end the lease early?"},
                       {"role": "assistant", "content": "Yes, after month twelve."}],
          "meta": {"probe_id": "lease.md#0001"}}


def rename_fails(monkeypatch, name: str) -> None:
    """The process dies between writing the staging file of `name` and renaming it."""
    real = os.replace

    def replace(src, dst):
        if Path(dst).name == name:
            raise OSError("killed before the rename")
        return real(src, dst)

    monkeypatch.setattr(os, "replace", replace)


def write_is_cut(monkeypatch, name: str) -> None:
    """The process dies halfway through writing the staging file of `name`."""
    real = files._write_all

    def write_all(fd: int, data: bytes) -> None:
        if not Path(os.readlink(f"/proc/self/fd/{fd}")).name.startswith(f".{name}."):
            return real(fd, data)
        os.write(fd, data[: len(data) // 2])
        raise OSError("killed mid-write")

    monkeypatch.setattr(files, "_write_all", write_all)


FAILURES = pytest.mark.parametrize("fail", [
    rename_fails,
    pytest.param(write_is_cut, marks=pytest.mark.skipif(not Path("/proc/self/fd").is_dir(),
                                                        reason="needs /proc to name a descriptor's file")),
], ids=["rename", "mid-write"])


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@FAILURES
def test_eval_results_keep_the_previous_file(tmp_path, monkeypatch, fail):
    path = tmp_path / "results.json"
    path.write_text(OLD, encoding="utf-8")
    fail(monkeypatch, path.name)
    with pytest.raises(OSError, match="killed"):
        write_results({"tasks": {"t": {"n": 3}}}, path)
    assert path.read_text(encoding="utf-8") == OLD
    assert names(tmp_path) == ["results.json"]


def test_eval_results_are_written_whole(tmp_path):
    results = {"tasks": {"t": {"n": 3, "label": "Décision"}}}
    path = write_results(results, tmp_path / "new" / "results.json")
    assert path.read_text(encoding="utf-8") == json.dumps(results, indent=2, ensure_ascii=False) + "\n"
    assert names(path.parent) == ["results.json"]


@FAILURES
def test_baseline_stats_keep_the_previous_file(tmp_path, monkeypatch, fail):
    out = tmp_path / "corpus.jsonl"
    stats_path(out).write_text(OLD, encoding="utf-8")
    fail(monkeypatch, stats_path(out).name)
    with pytest.raises(OSError, match="killed"):
        write_stats(out, {"items": 2})
    assert stats_path(out).read_text(encoding="utf-8") == OLD
    assert names(tmp_path) == ["corpus.stats.json"]


def test_baseline_stats_are_written_whole(tmp_path):
    stats = {"items": 2, "generator": "modèle"}
    path = write_stats(tmp_path / "corpus.jsonl", stats)
    assert path == tmp_path / "corpus.stats.json"
    assert path.read_text(encoding="utf-8") == json.dumps(stats, indent=2, ensure_ascii=False) + "\n"


@pytest.fixture
def run_dir(tmp_path) -> Path:
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "dataset.jsonl").write_text(json.dumps(SAMPLE) + "\n" + json.dumps(SAMPLE) + "\n",
                                          encoding="utf-8")
    return folder


@FAILURES
def test_export_keeps_the_previous_file(run_dir, tmp_path, monkeypatch, fail):
    out = tmp_path / "export" / "chat.jsonl"
    out.parent.mkdir()
    out.write_text(OLD, encoding="utf-8")
    fail(monkeypatch, out.name)
    with pytest.raises(OSError, match="killed"):
        export_run(run_dir, "openai", out)
    assert out.read_text(encoding="utf-8") == OLD
    assert names(out.parent) == ["chat.jsonl"]


def test_export_writes_every_row(run_dir, tmp_path):
    out = tmp_path / "export" / "openai.jsonl"
    assert export_run(run_dir, "openai", out) == 2
    line = json.dumps({"messages": SAMPLE["messages"]}, ensure_ascii=False) + "\n"
    assert out.read_text(encoding="utf-8") == line * 2
    assert names(out.parent) == ["openai.jsonl"]


@pytest.fixture
def legalbench(tmp_path) -> Path:
    root = tmp_path / "legalbench"
    make_task(root)
    contracts = root / "contracts"
    (contracts / "cuad").mkdir(parents=True)
    lines = ["document_name\tcontract_file"]
    for name in ("a", "b", "c", "d"):
        (contracts / "cuad" / f"{name}.txt").write_text(f"Contract {name}: the parties agree.\n",
                                                        encoding="utf-8")
        lines.append(f"{name}.pdf\tcuad/{name}.txt")
    (contracts / "cuad_document_map.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def test_reference_corpus_is_written_whole(legalbench, tmp_path):
    out = tmp_path / "reference"
    summary = build_reference_corpus(legalbench, "cuad_*", out, max_contracts=2)
    record = json.loads((out / "reference.json").read_text(encoding="utf-8"))
    assert summary["contracts"] == 2 and record["documents"] == summary["documents"]
    assert names(out) == sorted(["reference.json", *record["documents"].values()])
    for file in record["documents"].values():
        assert (out / file).read_bytes() == (legalbench / "contracts" / "cuad" / file).read_bytes()


@FAILURES
def test_reference_record_keeps_the_previous_file(legalbench, tmp_path, monkeypatch, fail):
    out = tmp_path / "reference"
    build_reference_corpus(legalbench, "cuad_*", out)
    before = (out / "reference.json").read_bytes()
    contracts = names(out)

    fail(monkeypatch, "reference.json")
    with pytest.raises(OSError, match="killed"):
        build_reference_corpus(legalbench, "cuad_*", out, seed=1)
    assert (out / "reference.json").read_bytes() == before
    assert names(out) == contracts


@FAILURES
def test_a_killed_contract_copy_leaves_no_half_contract(legalbench, tmp_path, monkeypatch, fail):
    out = tmp_path / "reference"
    fail(monkeypatch, "a.txt")
    with pytest.raises(OSError, match="killed"):
        build_reference_corpus(legalbench, "cuad_*", out)
    assert names(out) == []
