"""The sample-efficiency benchmark's bookkeeping across invocations: wall time per stage, and the
scratch corpora its kept scores trained on."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import load_script

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def benchmark():
    return load_script(ROOT / "benchmarks/sample_efficiency.py", "sample_efficiency_benchmark")


def test_stage_times_add_up_over_invocations(benchmark, tmp_path):
    first = benchmark.Stages(tmp_path, None)
    with first.run("paraphrase", "generate"):
        time.sleep(0.2)
    second = benchmark.Stages(tmp_path, None)  # a later invocation reads what the first kept
    with second.run("paraphrase", "generate"):
        time.sleep(0.2)
    with second.run("paraphrase", "train"):
        pass
    kept = json.loads((tmp_path / "timings.json").read_text())
    assert 0.3 <= kept["paraphrase"]["generate"] < 5
    assert kept["paraphrase"]["train"] < kept["paraphrase"]["generate"]


def test_a_stage_started_afresh_forgets_its_earlier_time(benchmark, tmp_path):
    first = benchmark.Stages(tmp_path, None)
    with first.run("paraphrase", "generate"):
        time.sleep(0.2)
    again = benchmark.Stages(tmp_path, None)
    again.forget("paraphrase", "generate")  # its corpus was deleted: it is made anew
    with again.run("paraphrase", "generate"):
        pass
    assert json.loads((tmp_path / "timings.json").read_text())["paraphrase"]["generate"] < 0.15


def test_a_stage_past_the_time_limit_does_not_start(benchmark, tmp_path):
    stages = benchmark.Stages(tmp_path, 0.0)
    time.sleep(0.01)
    with pytest.raises(benchmark.OutOfTime), stages.run("raw", "generate"):
        raise AssertionError("the stage ran")
    assert not (tmp_path / "timings.json").exists()


def test_a_killed_stage_keeps_the_time_it_ran(tmp_path):
    """An invocation killed mid-stage (the session ends) has written its time so far."""
    child = f"""
import importlib.util, sys, time
spec = importlib.util.spec_from_file_location("b", {str(ROOT / "benchmarks/sample_efficiency.py")!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
module.STAGE_TIME_EVERY = 0.2
stages = module.Stages(__import__("pathlib").Path({str(tmp_path)!r}), None)
with stages.run("entigraph_10x", "generate"):
    print("started", flush=True)
    time.sleep(60)
"""
    process = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONPATH": str(ROOT.parent)})
    try:
        assert process.stdout.readline().strip() == "started"
        time.sleep(1.5)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    kept = json.loads((tmp_path / "timings.json").read_text())
    assert 0.8 <= kept["entigraph_10x"]["generate"] <= 2.5


def test_a_remade_scratch_corpus_that_differs_from_the_scored_one_is_refused(benchmark, tmp_path):
    corpus, fingerprint = tmp_path / "work/raw.jsonl", tmp_path / "keep/raw.sha256.json"
    corpus.parent.mkdir()
    corpus.write_text('{"text": "page 1 of the contract"}\n')
    benchmark.same_scratch_corpus(corpus, fingerprint, scored=False)  # seed 0 trains on this one
    benchmark.same_scratch_corpus(corpus, fingerprint, scored=True)  # the same text, remade: accepted
    corpus.write_text('{"text": "the contract, loaded by a newer loader"}\n')
    with pytest.raises(SystemExit, match="not the corpus the kept scores of raw trained on"):
        benchmark.same_scratch_corpus(corpus, fingerprint, scored=True)
    benchmark.same_scratch_corpus(corpus, fingerprint, scored=False)  # nothing scored yet: it is the new one
    benchmark.same_scratch_corpus(corpus, fingerprint, scored=True)
