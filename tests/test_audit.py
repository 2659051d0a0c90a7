"""The human audit: a sheet of a run's accepted samples, marked by hand, scored with its interval,
and shown in the run's report."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest
from report_runs import scripted_run
from typer.testing import CliRunner

from advqa.cli import app
from advqa.report.audit import COLUMNS, score_audit_sheet, wilson_interval


@pytest.fixture(scope="module")
def run(small_index, tmp_path_factory):
    folder = tmp_path_factory.mktemp("audited") / "run"
    stats = scripted_run(small_index, folder)
    assert stats["accepted"] == 2
    return folder


def advqa(*args: str) -> subprocess.CompletedProcess:
    """The command line as a user runs it (its errors are one line on stderr)."""
    return subprocess.run([sys.executable, "-m", "advqa.cli", *args], capture_output=True, text=True,
                          timeout=120)


def read_sheet(path):
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def write_sheet(path, rows):
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def test_wilson_interval_on_worked_examples():
    assert wilson_interval(9, 10) == pytest.approx((0.5958, 0.9821), abs=1e-4)
    assert wilson_interval(10, 10) == pytest.approx((0.7225, 1.0), abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_the_audit_round_trip(run):
    runner = CliRunner()
    written = runner.invoke(app, ["audit", str(run)])
    assert written.exit_code == 0, written.output
    sheet = run / "audit.csv"
    rows = read_sheet(sheet)
    dataset = [json.loads(line) for line in (run / "dataset.jsonl").read_text().splitlines()]
    assert [r["probe_id"] for r in rows] == [s["meta"]["probe_id"] for s in dataset]
    for row, sample in zip(rows, dataset):
        assert row["question"] == sample["messages"][0]["content"]
        assert row["expert_answer"] == sample["messages"][1]["content"]
        assert row["correct"] == "" and row["intended_answer"] == sample["meta"]["intended_answer"]
        # The text of each passage the answer cites, so the sheet can be marked without the run.
        for passage_id in sample["meta"]["grounding_passages"]:
            assert f"[{passage_id}] " in row["cited_passages"]
        assert "(text not found)" not in row["cited_passages"]

    unscored = advqa("audit", "--score", str(sheet))
    assert unscored.returncode == 2 and "no row is marked yet" in unscored.stderr

    rows[0]["correct"], rows[1]["correct"] = "yes", "no"
    write_sheet(sheet, rows)
    scored = runner.invoke(app, ["audit", "--score", str(sheet)])
    assert scored.exit_code == 0, scored.output
    low, high = wilson_interval(1, 2)
    printed = " ".join(scored.output.split())
    assert f"precision 50.0% (1 of 2 correct; 95% interval {low:.1%} to {high:.1%})" in printed
    assert score_audit_sheet(sheet).as_dict()["interval"] == [round(low, 4), round(high, 4)]

    report = runner.invoke(app, ["report", str(run), "--out", str(run / "report.html")])
    assert report.exit_code == 0, report.output
    assert "audited precision (audit.csv, 2 samples)" in (run / "report.html").read_text()


def test_a_sample_of_the_run_and_a_bad_mark(run, tmp_path):
    runner = CliRunner()
    sheet = tmp_path / "one.csv"
    assert runner.invoke(app, ["audit", str(run), "--out", str(sheet), "--sample", "1"]).exit_code == 0
    rows = read_sheet(sheet)
    assert len(rows) == 1
    rows[0]["correct"] = "maybe"
    write_sheet(sheet, rows)
    bad = advqa("audit", "--score", str(sheet))
    assert bad.returncode == 2 and "'correct' must be yes or no, not 'maybe'" in bad.stderr
    assert "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
