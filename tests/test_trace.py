"""`advqa trace`: trajectories of a scripted run in the terminal, filtered by probe, outcome, document."""

from __future__ import annotations

import io

import pytest
from report_runs import QUESTION_OPENING, scripted_run, synthetic_run
from rich.console import Console
from typer.testing import CliRunner

from advqa.cli import app
from advqa.report import ReportError, load_run
from advqa.report.terminal import print_trace


@pytest.fixture(scope="module")
def run(small_index, tmp_path_factory):
    folder = tmp_path_factory.mktemp("trace") / "run"
    return folder, scripted_run(small_index, folder)


def printed(run_dir, **options) -> tuple[str, int]:
    buffer = io.StringIO()
    console = Console(file=buffer, width=200, color_system=None)
    shown = print_trace(load_run(run_dir), console, **options)
    return buffer.getvalue(), shown


def test_trace_shows_each_round(run):
    folder, stats = run
    text, shown = printed(folder)
    assert shown == stats["probes"]
    assert text.count("Round 1") == stats["probes"]
    for expected in ("Student (question only)", "Expert (from the passages)", "It depends on general law.",
                     "twelve months before the claim [P", f"In the Services Agreement: {QUESTION_OPENING}",
                     "feedback", "ask about the exception", "→ accepted", "→ revise", "→ exhausted",
                     "cited", "P1 "):
        assert expected in text, expected
    assert f"{stats['probes']} of {stats['probes']} probes shown" in text


def test_trace_filters(run):
    folder, stats = run
    data = load_run(folder)
    _, shown = printed(folder, outcome="exhausted")
    assert shown == stats["exhausted"]
    _, shown = printed(folder, outcome="accepted")
    assert shown == stats["accepted"]
    first = data.probes[0]
    text, shown = printed(folder, probe=first.id.split("#")[1])  # part of an id
    assert shown == 1 and first.id in text
    _, shown = printed(folder, document="LEASE")
    assert shown == sum(1 for p in data.probes if p.document == "lease.md")
    _, shown = printed(folder, limit=1)
    assert shown == 1
    with pytest.raises(ReportError, match="not one of"):
        printed(folder, outcome="won")
    with pytest.raises(ReportError, match="no probe id"):
        printed(folder, probe="no-such-probe")


def test_trace_prints_passage_text_on_request(run):
    folder, _ = run
    data = load_run(folder)
    ref = data.probes[0].rounds[0].passages[0]
    without, _ = printed(folder, probe=data.probes[0].id)
    with_text, _ = printed(folder, probe=data.probes[0].id, show_passages=True)
    snippet = data.passages[ref.id].text.split("\n")[-1][:40]
    assert snippet not in without and snippet in with_text


def test_trace_shows_failed_and_errored_probes(tmp_path):
    synthetic_run(tmp_path / "run", probes=20, rounds=2, documents=2, pool=20)
    text, _ = printed(tmp_path / "run", outcome="failed")
    assert "questioner produced no usable question" in text
    assert "questioner attempt 3:" in text  # the rejected replies of the failed round
    text, shown = printed(tmp_path / "run", outcome="error")
    assert shown == 1 and "TimeoutError: model server" in text


def test_trace_command(run):
    folder, stats = run
    result = CliRunner().invoke(app, ["trace", str(folder), "--outcome", "accepted"])
    assert result.exit_code == 0, result.output
    assert "Round 1" in result.output and "accepted" in result.output
    assert f"{stats['accepted']} of {stats['probes']} probes shown" in result.output
