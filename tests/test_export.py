"""advqa.training.export: a run's dataset in chat, alpaca, openai, preference and hf form."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from advqa.training import TrainingError, export_run
from advqa.training.commands import export_command

SAMPLES = [
    {"messages": [{"role": "user", "content": "Can the Lessee end the lease early?"},
                  {"role": "assistant", "content": "Yes, after month twelve with ninety days' notice."}],
     "meta": {"probe_id": "lease.md#0001", "document": "lease.md", "divergence": 0.8,
              "student_answer": "No, a lease cannot be ended early.", "expert_answer": "Yes [P1]."}},
    {"messages": [{"role": "system", "content": "Answer from the contract."},
                  {"role": "user", "content": "What is the liability cap?"},
                  {"role": "assistant", "content": "The fees paid in the twelve months before the claim."}],
     "meta": {"probe_id": "services.md#0002", "document": "services.md", "divergence": None,
              "rounds": [1, 2]}},
]


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def run_dir(tmp_path) -> Path:
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "dataset.jsonl").write_text("".join(json.dumps(s) + "\n" for s in SAMPLES), encoding="utf-8")
    return folder


def test_chat_keeps_messages_and_meta(run_dir, tmp_path):
    assert export_run(run_dir, "chat", tmp_path / "chat.jsonl") == 2
    assert read_jsonl(tmp_path / "chat.jsonl") == SAMPLES


def test_openai_is_messages_only(run_dir, tmp_path):
    assert export_run(run_dir, "openai", tmp_path / "o" / "openai.jsonl") == 2
    rows = read_jsonl(tmp_path / "o" / "openai.jsonl")
    assert [set(row) for row in rows] == [{"messages"}, {"messages"}]
    assert rows[1]["messages"] == SAMPLES[1]["messages"]


def test_alpaca_has_instruction_input_output(run_dir, tmp_path):
    assert export_run(run_dir, "alpaca", tmp_path / "alpaca.jsonl") == 2
    assert read_jsonl(tmp_path / "alpaca.jsonl")[1] == {
        "instruction": "What is the liability cap?", "input": "",
        "output": "The fees paid in the twelve months before the claim."}


def test_preference_prefers_the_expert_and_skips_samples_without_a_student_answer(run_dir, tmp_path):
    assert export_run(run_dir, "preference", tmp_path / "pref.jsonl") == 1
    assert read_jsonl(tmp_path / "pref.jsonl") == [{
        "prompt": [{"role": "user", "content": "Can the Lessee end the lease early?"}],
        "chosen": [{"role": "assistant", "content": "Yes, after month twelve with ninety days' notice."}],
        "rejected": [{"role": "assistant", "content": "No, a lease cannot be ended early."}]}]


def test_hf_round_trips_through_load_from_disk(run_dir, tmp_path):
    from datasets import load_from_disk

    assert export_run(run_dir / "dataset.jsonl", "hf", tmp_path / "hf") == 2
    dataset = load_from_disk(str(tmp_path / "hf"))
    assert dataset.column_names == ["messages", "meta"]
    assert dataset[0]["messages"] == SAMPLES[0]["messages"]
    assert [json.loads(meta) for meta in dataset["meta"]] == [s["meta"] for s in SAMPLES]


def test_text_corpus_exports_to_hf_only(tmp_path):
    from datasets import load_from_disk

    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(json.dumps({"text": "Clause 1. The term is three years.", "meta": {}}) + "\n")
    assert export_run(corpus, "hf", tmp_path / "hf") == 1
    assert load_from_disk(str(tmp_path / "hf"))[0]["text"] == "Clause 1. The term is three years."
    with pytest.raises(TrainingError, match="format alpaca: needs a chat dataset"):
        export_run(corpus, "alpaca", tmp_path / "a.jsonl")


def test_bad_format_and_bad_line_are_user_errors(run_dir, tmp_path):
    with pytest.raises(TrainingError, match="format: 'csv' is not one of"):
        export_run(run_dir, "csv", tmp_path / "x")
    with (run_dir / "dataset.jsonl").open("a") as file:
        file.write('{"messages": "oops"}\n')
    with pytest.raises(TrainingError, match=r"dataset\.jsonl:3: 'messages' must be a list"):
        export_run(run_dir, "chat", tmp_path / "x.jsonl")


def test_export_command(run_dir, tmp_path):
    app = typer.Typer()
    app.command("export")(export_command)
    app.command("noop")(lambda: None)  # more than one command keeps `export` as a subcommand
    runner = CliRunner()
    out = tmp_path / "o.jsonl"
    result = runner.invoke(app, ["export", str(run_dir), "--format", "openai", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "wrote 2 rows (openai)" in result.output
    assert len(read_jsonl(out)) == 2
    result = runner.invoke(app, ["export", str(run_dir), "--format", "xml", "--out", str(tmp_path / "x")])
    assert isinstance(result.exception, TrainingError)
