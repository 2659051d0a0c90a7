"""The run report without a browser: what it reads from a run folder, escaping, size, errors."""

from __future__ import annotations

import json
import re
import shutil
import sys

import pytest
from report_runs import DOCUMENT_NAMES, HOSTILE, QUESTION_OPENING, scripted_run, synthetic_run

from advqa.report import ReportError, load_run, render_report, write_report
from advqa.report.html import SIZE_BUDGET_BYTES


@pytest.fixture(scope="module")
def scripted(small_index, tmp_path_factory):
    run = tmp_path_factory.mktemp("scripted") / "run"
    stats = scripted_run(small_index, run)
    return run, stats


def test_trajectories_come_from_the_checkpointer(scripted):
    run, stats = scripted
    data = load_run(run)
    assert len(data.probes) == stats["probes"] == 4
    assert stats["accepted"] and stats["exhausted"]  # the fixture has more than one outcome
    assert data.source == "checkpoints and traces"
    outcomes = [p.outcome for p in data.probes]
    assert outcomes.count("accepted") == stats["accepted"]
    assert outcomes.count("exhausted") == stats["exhausted"]
    for probe in data.probes:
        assert probe.rounds and all(r.judged for r in probe.rounds)
        assert probe.seed in data.passages
        for round_ in probe.rounds:
            # The scripted question, named with its own document.
            assert round_.question.startswith(f"In {DOCUMENT_NAMES[probe.document]}: {QUESTION_OPENING} ")
            assert round_.student_answer == "It depends on general law."
            assert re.search(r"\[P\d\]\.$", round_.expert_answer)
            assert round_.divergence is not None
            assert bool(round_.feedback) == (round_.route != "accepted")  # none for an accepted round
            assert round_.passages and all(ref.id in data.passages for ref in round_.passages)
            assert {c.role for c in round_.calls} == {"questioner", "student", "expert", "critic"}
        assert probe.rounds[-1].route == ("accepted" if probe.outcome == "accepted" else "exhausted")
        assert all(r.route == "revise" for r in probe.rounds[:-1])


def test_traces_alone_give_the_same_trajectories(scripted, tmp_path):
    run, _ = scripted
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    (copy / "checkpoints.sqlite").unlink()
    full, rebuilt = load_run(run), load_run(copy)
    assert rebuilt.source == "traces"
    assert [p.id for p in rebuilt.probes] == [p.id for p in full.probes]
    for a, b in zip(full.probes, rebuilt.probes):
        assert a.outcome == b.outcome
        assert [r.question for r in a.rounds] == [r.question for r in b.rounds]
        assert [r.expert_answer for r in a.rounds] == [r.expert_answer for r in b.rounds]
        assert [r.student_answer for r in a.rounds] == [r.student_answer for r in b.rounds]
        assert [r.divergence for r in a.rounds] == [r.divergence for r in b.rounds]
        assert [r.feedback for r in a.rounds] == [r.feedback for r in b.rounds]
        ids_a = [[p.id for p in r.passages] for r in a.rounds]
        assert ids_a == [[p.id for p in r.passages] for r in b.rounds]
    # Passage texts come back from the expert's prompts in the traces.
    wanted = {ref.id for p in rebuilt.probes for r in p.rounds for ref in r.passages}
    assert wanted <= set(rebuilt.passages)


def test_traces_alone_give_the_expert_answers_taken_without_a_call(scripted, tmp_path):
    # One extractive candidate (the bundled default): the trace has no expert call, only the
    # retrieved answer; a run read back from its traces still shows the expert's answers.
    run, _ = scripted
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    (copy / "checkpoints.sqlite").unlink()
    events = [json.loads(line) for line in (copy / "traces.jsonl").read_text().splitlines() if line.strip()]
    events = [{"kind": "expert_answer_retrieved", "probe": e["probe"], "round": e["round"], "role": "expert",
               "answer": json.loads(e["output"])["answer"]}
              if e.get("kind") == "model_call" and e.get("role") == "expert" else e for e in events]
    full = load_run(run)
    (copy / "traces.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    rebuilt = load_run(copy)
    assert rebuilt.source == "traces"
    assert [r.expert_answer for p in rebuilt.probes for r in p.rounds] == [
        r.expert_answer for p in full.probes for r in p.rounds]


def test_report_has_every_section_and_probe(scripted):
    run, stats = scripted
    page = render_report(load_run(run))
    for anchor in ("settings", "funnel", "rounds", "cost", "coverage", "trajectories"):
        assert f'id="{anchor}"' in page
    assert page.count('<details class="probe"') == stats["probes"]
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in page
    assert not re.search(r"<(link|script|img)[^>]+(src|href)=\"(?!data:)", page)


def test_generate_writes_the_report(small_index, tmp_path, monkeypatch):
    """`advqa generate` (and `advqa demo`, which shares run_generate) ends with RUN_DIR/report.html."""
    from report_runs import scripted_models

    import advqa.models
    from advqa.campaign import CampaignSettings
    from advqa.cli import run_generate
    from advqa.graph import ProbeSettings

    models = scripted_models()
    monkeypatch.setattr(advqa.models, "load_chat_model", lambda spec, **_: models[role_of[spec]])
    role_of = {f"bundled:smollm2-135m#{r}": r for r in models}
    monkeypatch.setattr(advqa.models, "validate_spec", lambda spec: None)
    settings = CampaignSettings(seeds=2, concurrency=1, dedup_threshold=0.999,
                                probe=ProbeSettings(threshold=0.5, max_rounds=2, scorer="judge", k=3))
    run_generate(tmp_path / "run", index_dir=small_index.path, docs=None, settings=settings,
                 models={r: f"bundled:smollm2-135m#{r}" for r in models}, prompts_dir=None)
    report = (tmp_path / "run" / "report.html").read_text(encoding="utf-8")
    assert report.count('<details class="probe"') == 2


def test_hostile_text_is_escaped(tmp_path):
    run = tmp_path / "run"
    synthetic_run(run, probes=20, rounds=2, documents=3, pool=30, hostile=True)
    page = render_report(load_run(run))
    head, _, data = page.rpartition('<script type="application/json" id="passages-data">')
    for text in HOSTILE.values():
        assert text not in page  # every hostile string is escaped wherever it appears
    assert "<script>window.__pwned" not in page
    assert "<img src" not in page and "<svg onload" not in page
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in head
    # Passage texts travel as JSON that cannot close its script element.
    json_text = data.split("</script>", 1)[0]
    assert "<" not in json_text
    passages = json.loads(json_text)
    assert any(HOSTILE["passage"] in p["t"] for p in passages.values())
    assert page.count("<script") == 2  # the passage data and the report's own script


def closed_book(score: float) -> dict:
    return {"choice_accuracy": score + 0.1, "yes_no_balanced_accuracy": score,
            "ci": {"choice": [score, score + 0.2], "yes_no": [score - 0.1, score]},
            "n": {"choice": 32, "yes_no": 208}, "learned": 7.0, "forgotten": 2.0,
            "seeds": [{"seed": 0}, {"seed": 1}]}


def test_evaluation_and_benchmark_results_are_shown(scripted, tmp_path):
    run, _ = scripted
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    evaluation = {"settings": {"model": "bundled:smollm2-135m", "adapter": "adapters/advqa"},
                  "tasks": {"cuad_audit_rights": {"n": 30, "balanced_accuracy": 0.61, "accuracy": 0.6,
                                                  "ci95": [0.5, 0.7], "share_invalid": 0.0}},
                  "macro": {"tasks": 1, "balanced_accuracy": 0.61, "accuracy": 0.6, "share_invalid": 0.0}}
    (copy / "eval").mkdir()
    (copy / "eval" / "advqa.json").write_text(json.dumps(evaluation))
    methods = (("base", 0, 0.5), ("advqa", 120, 0.62), ("paraphrase", 110, 0.52),
               ("paraphrase_10x", 1100, 0.55), ("entigraph", 105, 0.53))
    benchmark = {"machine": {}, "settings": {"student": "bundled:smollm2-135m"},
                 "tasks": ["cuad_audit_rights"],
                 "methods": {name: {"synthetic_tokens": tokens, "macro_balanced_accuracy": acc,
                                    "macro_ci95": [acc - 0.05, acc + 0.05],
                                    "tasks": {"cuad_audit_rights": {"balanced_accuracy": acc}},
                                    "closed_book": closed_book(acc)}
                             for name, tokens, acc in methods}}
    bench_file = tmp_path / "sample_efficiency.json"
    bench_file.write_text(json.dumps(benchmark))
    page = render_report(load_run(copy, [bench_file]))
    assert 'id="evaluation"' in page and "cuad_audit_rights" in page and "0.610" in page
    assert 'id="benchmark"' in page
    assert "Accuracy against synthetic training tokens: LegalBench contract tasks" in page
    assert "Accuracy against synthetic training tokens: closed-book value questions" in page
    assert "closed-book yes/no balanced accuracy" in page and "0.720" in page  # advqa's choice accuracy
    assert "7 / 2" in page or "7.0 / 2.0" in page  # learned / forgotten
    assert ">1,000</text>" in page  # a log-scale tick
    with pytest.raises(ReportError, match="not an evaluation results file"):
        load_run(copy, [copy / "stats.json"])


def test_large_run_stays_within_the_size_budget(tmp_path):
    """Budget: 300 probes x 3 rounds (4 passages a round, real answer lengths) stay under 8 MiB."""
    run = tmp_path / "run"
    synthetic_run(run, probes=300, rounds=3, all_rounds=True)
    path = write_report(run)
    size = path.stat().st_size
    print(f"report of 300 probes x 3 rounds: {size / 1e6:.2f} MB", file=sys.stderr)
    assert size < SIZE_BUDGET_BYTES
    assert path.read_text(encoding="utf-8").count('<details class="probe"') == 300


def test_not_a_run_folder_is_one_line_exit_2(tmp_path, monkeypatch, capsys):
    from advqa.cli import main

    (tmp_path / "notes.txt").write_text("hello")
    for target in (tmp_path, tmp_path / "missing"):
        monkeypatch.setattr(sys, "argv", ["advqa", "report", str(target)])
        with pytest.raises(SystemExit) as exit_info:
            main()
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith("advqa: error: ") and len(err.strip().splitlines()) == 1
        assert "Traceback" not in err


def test_report_command_writes_the_file(scripted, tmp_path):
    from typer.testing import CliRunner

    from advqa.cli import app

    run, _ = scripted
    out = tmp_path / "r.html"
    result = CliRunner().invoke(app, ["report", str(run), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_cache_errors_and_cost_columns_appear_when_recorded(scripted, tmp_path):
    run, _ = scripted
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    stats = json.loads((copy / "stats.json").read_text())
    stats["per_role"]["critic"].update(cache_hits=3, cost=0.0123)
    stats.update(cache_hits=3, cost=0.0123)
    (copy / "stats.json").write_text(json.dumps(stats))
    page = render_report(load_run(copy))
    assert "<th>cached</th>" in page and "<th>cost</th>" in page and "<th>errors</th>" not in page
    assert "0.0123" in page and "calls answered from the cache" in page
