"""Closed-book questions about reference contracts: reading, scoring, learned/forgotten, the command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from advqa.evaluation.closed_book import (
    INVALID,
    learned_and_forgotten,
    match_choice,
    read_qa,
    score_over_seeds,
    score_rows,
)
from advqa.evaluation.controls import (
    answer_key,
    choose_contracts,
    contract_cards,
    restated_facts,
    restated_questions,
)
from advqa.evaluation.errors import EvaluationError
from advqa.evaluation.reference import build_contract_corpus, read_reference_documents

SHARED_QA = Path(__file__).resolve().parents[2] / "shared" / "cuad_qa" / "dev.jsonl"
CONTRACT = "cuad/Lease.txt"


def row(id_, kind, answer, category="Audit Rights", choices=None, document=CONTRACT):
    choices = choices or (["Yes", "No"] if kind == "yes_no" else ["1/1/20", "2/2/21", "3/3/22", "4/4/23"])
    return {"id": id_, "document": document, "category": category, "kind": kind, "choices": choices,
            "question": f"In the Lease between A and B: question {id_}?", "answer": answer}


@pytest.fixture
def qa_file(tmp_path):
    rows = [row("y1", "yes_no", 0), row("y2", "yes_no", 1), row("y3", "yes_no", 1),
            row("c1", "choice", 2, "Agreement Date"), row("o1", "yes_no", 0, document="cuad/Other.txt")]
    path = tmp_path / "qa.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_rows_are_read_and_filtered_by_contract(qa_file):
    assert [r.id for r in read_qa(qa_file)] == ["y1", "y2", "y3", "c1", "o1"]
    assert [r.id for r in read_qa(qa_file, {"Lease.txt"})] == ["y1", "y2", "y3", "c1"]
    assert len(read_qa(qa_file, limit=2, seed=3)) == 2
    with pytest.raises(EvaluationError, match="no question is about Nothing.txt"):
        read_qa(qa_file, {"Nothing.txt"})


def test_scores_are_balanced_on_yes_no_and_plain_on_choices(qa_file):
    rows = read_qa(qa_file, {"Lease.txt"})
    # y1 right (Yes), y2 right (No), y3 wrong (said Yes), c1 right.
    results = score_rows(rows, [0, 1, 0, 2])
    overall = results["overall"]
    assert overall["yes_no_balanced_accuracy"] == pytest.approx((1.0 + 0.5) / 2)
    assert overall["choice_accuracy"] == 1.0 and overall["choice_n"] == 1 and overall["yes_no_n"] == 3
    assert set(results["categories"]) == {"Audit Rights", "Agreement Date"}
    assert results["predictions"]["y3"] == {"predicted": 0, "answer": 1}


def test_learned_and_forgotten_against_a_baseline(qa_file):
    rows = read_qa(qa_file, {"Lease.txt"})
    before = score_rows(rows, [1, 1, 0, 0])  # y1 wrong, y2 right, y3 wrong, c1 wrong
    after = score_rows(rows, [0, 0, 1, 0])  # y1 now right, y2 now wrong, y3 now right, c1 still wrong
    assert learned_and_forgotten(after, before) == {"rows_compared": 4, "baseline_wrong": 3,
                                                    "learned": 2, "forgotten": 1}


def test_an_api_reply_is_matched_to_one_choice():
    assert match_choice("Yes, it does.", ("Yes", "No")) == 0
    assert match_choice("The agreement is dated 2/2/21.", ("1/1/20", "2/2/21")) == 1
    assert match_choice("Either 1/1/20 or 2/2/21.", ("1/1/20", "2/2/21")) == INVALID
    assert match_choice("I cannot tell.", ("Yes", "No")) == INVALID


@pytest.mark.skipif(not SHARED_QA.is_file(), reason="../shared/cuad_qa is not beside the project")
def test_the_command_scores_the_bundled_model_and_compares_with_a_baseline(tmp_path):
    document = json.loads(SHARED_QA.read_text(encoding="utf-8").splitlines()[0])["document"]
    base = tmp_path / "base.json"
    command = [sys.executable, "-m", "advqa.cli", "eval", "--qa", str(SHARED_QA),
               "--documents", Path(document).name, "--limit", "8", "--out", str(base)]
    first = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    results = json.loads(base.read_text())
    overall = results["overall"]
    assert overall.get("choice_n", 0) + overall.get("yes_no_n", 0) == 8 == len(results["predictions"])
    assert results["method"] == "likelihood per token" and results["documents"] == [document]
    assert "overall" in first.stdout
    again = subprocess.run(command[:-2] + ["--baseline", str(base)], capture_output=True, text=True,
                           timeout=300)
    assert again.returncode == 0, again.stderr
    assert "0 of" in again.stdout and "learned, 0 forgotten (8 rows)" in again.stdout  # the same model
    bad = subprocess.run(command[:6] + ["--documents", "Nothing.txt"], capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode != 0 and "no question is about Nothing.txt" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_seeds_are_averaged_with_their_spread_and_an_interval(qa_file):
    rows = read_qa(qa_file, {"Lease.txt"})  # answers: y1 Yes, y2 No, y3 No, c1 index 2
    first = [0, 1, 1, 2]   # all right: yes/no 1.0, choice 1.0
    second = [0, 0, 0, 1]  # Yes always: yes/no (1 + 0) / 2 = 0.5, choice 0.0
    scores = score_over_seeds(rows, [first, second])
    assert scores["yes_no_balanced_accuracy"] == pytest.approx(0.75)
    assert scores["choice_accuracy"] == pytest.approx(0.5)
    assert scores["spread"] == {"yes_no": [0.5, 1.0], "choice": [0.0, 1.0]}
    assert scores["n"] == {"yes_no": 3, "choice": 1} and scores["seeds"] == 2
    low, high = scores["ci"]["yes_no"]
    assert 0.5 <= low <= 0.75 <= high <= 1.0
    # One seed: the mean is that seed's score, as score_rows computes it.
    alone = score_over_seeds(rows, [second])["yes_no_balanced_accuracy"]
    assert alone == score_rows(rows, second)["overall"]["yes_no_balanced_accuracy"]


def test_controls_give_the_answer_key_and_facts_in_other_words(qa_file):
    rows = read_qa(qa_file)
    assert choose_contracts(rows, 1) == [CONTRACT]  # four rows against one
    key = answer_key(rows)
    assert key[0]["messages"] == [{"role": "user", "content": rows[0].question},
                                  {"role": "assistant", "content": "Yes"}]
    facts = [sample["text"] for sample in restated_facts(rows)]
    assert len(facts) == 3 * len(rows)
    assert facts[0] == "The Lease between A and B has a clause on audit rights."
    assert facts[3] == "The Lease between A and B has no clause on audit rights."
    assert facts[9] == "The agreement date of the Lease between A and B is 3/3/22."
    assert not any("question" in fact or "?" in fact for fact in facts)  # never the question's form
    assert contract_cards(rows, [CONTRACT]) == {"Lease.txt": {"title": "Lease", "parties": ["A", "B"]}}
    asked = restated_questions(rows)
    assert len(asked) == 2 * len(rows)
    assert [m["content"] for m in asked[2]["messages"]] == [
        "Does the Lease between A and B have a clause on audit rights?",
        "No. The Lease between A and B has no clause on audit rights."]
    assert asked[6]["messages"][1]["content"] == "The agreement date of the Lease between A and B is 3/3/22."


@pytest.mark.skipif(not SHARED_QA.is_file(), reason="../shared/cuad_qa is not here")
def test_a_reference_corpus_of_named_contracts_maps_their_legalbench_rows(tmp_path):
    legalbench = SHARED_QA.parents[1] / "legalbench"
    contract = choose_contracts(read_qa(SHARED_QA), 1)[0]
    record = build_contract_corpus(legalbench, [contract], tmp_path / "reference")
    assert (tmp_path / "reference" / Path(contract).name).read_bytes() == (
        legalbench / "contracts" / contract).read_bytes()
    assert record["documents"] and set(record["documents"].values()) == {Path(contract).name}
    assert read_reference_documents(tmp_path / "reference") == set(record["documents"])
    with pytest.raises(EvaluationError, match="contract file not found"):
        build_contract_corpus(legalbench, ["cuad/No such contract.txt"], tmp_path / "other")


@pytest.mark.integration
@pytest.mark.skipif(not SHARED_QA.is_file(), reason="../shared/cuad_qa is not here")
def test_twenty_statements_of_a_contracts_facts_teach_the_student_some_of_its_answers(tmp_path):
    """The training recipe stores facts: 20 statements about one contract (its dates and terms first,
    in words other than the questions') move rows the base model got wrong to right."""
    from advqa.evaluation.closed_book import evaluate_closed_book
    from advqa.training import TrainConfig, train

    rows = read_qa(SHARED_QA)
    contract = choose_contracts(rows, 1)[0]
    about = sorted((r for r in rows if r.document == contract), key=lambda r: r.kind != "choice")
    statements = restated_facts(about)[:20]
    assert len(statements) == 20 and not {s["text"] for s in statements} & {r.question for r in rows}
    dataset = tmp_path / "facts.jsonl"
    dataset.write_text("".join(json.dumps(s) + "\n" for s in statements), encoding="utf-8")

    name = {Path(contract).name}
    base = evaluate_closed_book("bundled:smollm2-135m", SHARED_QA, documents=name)
    (tmp_path / "base.json").write_text(json.dumps(base), encoding="utf-8")
    train(dataset, "bundled:smollm2-135m", tmp_path / "adapter", TrainConfig(max_steps=40))
    after = evaluate_closed_book("bundled:smollm2-135m", SHARED_QA, adapter=tmp_path / "adapter",
                                 documents=name, baseline=tmp_path / "base.json")
    assert after["learned"]["rows_compared"] == len(about) == 30
    assert after["learned"]["learned"] > 0
    assert after["overall"]["choice_accuracy"] > base["overall"]["choice_accuracy"]
