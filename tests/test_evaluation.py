"""LegalBench evaluation: task reading and checks, sampling, prompts, metrics, scorers, reference corpus."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pytest
import typer
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from rich.console import Console
from typer.testing import CliRunner

from advqa.evaluation import (
    INVALID,
    EvaluationError,
    GenerationScorer,
    LoglikScorer,
    accuracy,
    balanced_accuracy,
    bootstrap_interval,
    build_reference_corpus,
    choice_logprob,
    choose_labels,
    evaluate,
    few_shot_prompt,
    format_table,
    label_shares,
    list_tasks,
    load_task,
    load_task_from_hub,
    parse_label,
    read_reference_documents,
    sample_rows,
    score_choices,
    write_results,
    zero_shot_messages,
)
from advqa.evaluation.commands import eval_command, reference_command

LEGALBENCH = Path(__file__).parents[2] / "shared" / "legalbench"
needs_legalbench = pytest.mark.skipif(
    not (LEGALBENCH / "tasks").is_dir(),
    reason=f"LegalBench data not found at {LEGALBENCH} (the project's shared folder, ../shared/legalbench)")

BASE_PROMPT = (
    "Does the clause give a party audit rights?\n\n"
    "Clause: The Licensor may inspect the Licensee's books once a year.\nLabel: Yes\n\n"
    "Clause: This Agreement is governed by the laws of Delaware.\nLabel: No\n\n"
    "Clause: {{text}}\nLabel:"
)
HEADER = ["index", "text", "answer", "document_name"]


def write_tsv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def make_task(root: Path, name: str = "cuad_toy", *, test: list[list[str]] | None = None,
              train: list[list[str]] | None = None, header: list[str] = HEADER,
              base_prompt: str = BASE_PROMPT) -> Path:
    folder = root / "tasks" / name
    folder.mkdir(parents=True)
    (folder / "base_prompt.txt").write_text(base_prompt, encoding="utf-8")
    write_tsv(folder / "test.tsv", header, test if test is not None else [
        ["0", "Either party may audit the other's records on notice.", "Yes", "a.pdf"],
        ["1", 'The "Fee" is due monthly, payable in "USD".', "No", "b.pdf"],
        ["2", "Auditors may review invoices at the supplier's premises.", "Yes", "a.pdf"],
    ])
    write_tsv(folder / "train.tsv", header, train if train is not None else [
        ["0", "The Licensor may inspect the Licensee's books once a year.", "Yes", "c.pdf"],
        ["1", "This Agreement is governed by the laws of Delaware.", "No", "d.pdf"],
    ])
    return folder


def rows_with(yes: int, no: int) -> list[dict[str, str]]:
    return [{"index": str(i), "text": f"clause {i}", "answer": "Yes" if i < yes else "No"}
            for i in range(yes + no)]


# --- reading tasks -------------------------------------------------------------------------

def test_reads_a_task_folder(tmp_path):
    make_task(tmp_path)
    task = load_task(tmp_path, "cuad_toy")
    assert task.labels == ["No", "Yes"]
    assert task.columns == HEADER
    assert [row["answer"] for row in task.rows] == ["Yes", "No", "Yes"]
    assert task.rows[1]["text"] == 'The "Fee" is due monthly, payable in "USD".'  # CSV quoting undone
    assert len(task.train_rows) == 2 and "_line" not in task.rows[0]
    assert task.placeholders == ["text"]
    assert load_task(tmp_path / "tasks", "cuad_toy").rows == task.rows  # the tasks/ folder itself works too


def test_lists_tasks_by_pattern(tmp_path):
    for name in ("cuad_a", "cuad_b", "contract_qa_toy"):
        make_task(tmp_path, name)
    assert list_tasks(tmp_path, "cuad_*, contract_qa_toy") == ["cuad_a", "cuad_b", "contract_qa_toy"]
    with pytest.raises(EvaluationError, match="no task matches 'nda_\\*'"):
        list_tasks(tmp_path, ["nda_*"])


def test_a_column_the_prompt_uses_must_be_there(tmp_path):
    make_task(tmp_path, base_prompt=BASE_PROMPT.replace("{{text}}", "{{text}}\nQuestion: {{question}}"))
    with pytest.raises(EvaluationError, match=r"test\.tsv: missing column question"):
        load_task(tmp_path, "cuad_toy")


def test_the_answer_column_must_be_there(tmp_path):
    make_task(tmp_path, header=["index", "text", "label", "document_name"])
    with pytest.raises(EvaluationError, match=r"test\.tsv: missing column answer"):
        load_task(tmp_path, "cuad_toy")


def test_an_unknown_answer_names_file_and_line(tmp_path):
    make_task(tmp_path, test=[["0", "A clause.", "Yes", "a.pdf"], ["1", "Another clause.", "No", "a.pdf"],
                              ["2", "A third clause.", "Maybe", "b.pdf"]])
    with pytest.raises(EvaluationError) as caught:
        load_task(tmp_path, "cuad_toy")
    message = str(caught.value)
    # header = line 1, so the third row is line 4
    assert "test.tsv:4" in message and "'Maybe'" in message and "Yes/No" in message
    assert "\n" not in message


def test_answers_differing_only_in_case_are_normalised(tmp_path):
    make_task(tmp_path, test=[["0", "A clause.", "yes ", "a.pdf"], ["1", "Another.", "NO", "b.pdf"]])
    assert [row["answer"] for row in load_task(tmp_path, "cuad_toy").rows] == ["Yes", "No"]


@pytest.mark.parametrize("content, message", [
    ("", "file is empty"),
    ("index\ttext\tanswer\tdocument_name\n", "no rows under the header"),
])
def test_an_empty_test_file_is_an_error(tmp_path, content, message):
    folder = make_task(tmp_path)
    (folder / "test.tsv").write_text(content, encoding="utf-8")
    with pytest.raises(EvaluationError, match=rf"test\.tsv: {message}"):
        load_task(tmp_path, "cuad_toy")


def test_missing_folder_and_files_are_errors(tmp_path):
    with pytest.raises(EvaluationError, match="LegalBench folder not found"):
        load_task(tmp_path / "nowhere", "cuad_toy")
    make_task(tmp_path)
    with pytest.raises(EvaluationError, match="cuad_other: task folder not found"):
        load_task(tmp_path, "cuad_other")
    (tmp_path / "tasks" / "cuad_toy" / "base_prompt.txt").unlink()
    with pytest.raises(EvaluationError, match=r"base_prompt\.txt: file not found"):
        load_task(tmp_path, "cuad_toy")


def test_hub_loader_validates_rows_like_a_folder(monkeypatch):
    import types

    rows = {"train": [{"index": 0, "text": "Audits allowed.", "answer": "Yes"}],
            "test": [{"index": 0, "text": "Fees monthly.", "answer": "No"},
                     {"index": 1, "text": "Books open.", "answer": "Perhaps"}]}
    fake = types.SimpleNamespace(load_dataset=lambda path, name: rows)  # no network in tests
    monkeypatch.setitem(sys.modules, "datasets", fake)
    with pytest.raises(EvaluationError, match="nguha/legalbench/cuad_toy/test:2: answer 'Perhaps'"):
        load_task_from_hub("cuad_toy", base_prompt=BASE_PROMPT)
    rows["test"][1]["answer"] = "Yes"
    task = load_task_from_hub("cuad_toy", base_prompt=BASE_PROMPT)
    assert task.labels == ["No", "Yes"]
    assert task.rows[1] == {"index": "1", "text": "Books open.", "answer": "Yes"}


# --- sampling ------------------------------------------------------------------------------

def test_limit_keeps_label_proportions_and_is_deterministic():
    rows = rows_with(yes=30, no=10)
    sample = sample_rows(rows, 8, seed=0)
    assert [r["answer"] for r in sample].count("Yes") == 6  # 8 * 30/40
    assert [r["answer"] for r in sample].count("No") == 2  # 8 * 10/40
    assert sample == sample_rows(rows, 8, seed=0)
    assert sample != sample_rows(rows, 8, seed=1)
    assert [int(r["index"]) for r in sample] == sorted(int(r["index"]) for r in sample)  # original order


def test_limit_keeps_every_label_when_it_can():
    answers = [r["answer"] for r in sample_rows(rows_with(yes=39, no=1), 4)]
    assert answers.count("No") == 1 and answers.count("Yes") == 3
    assert len(sample_rows(rows_with(yes=3, no=2), None)) == 5
    assert len(sample_rows(rows_with(yes=3, no=2), 50)) == 5


# --- prompts -------------------------------------------------------------------------------

def test_few_shot_prompt_fills_the_row_into_the_base_prompt(tmp_path):
    make_task(tmp_path)
    task = load_task(tmp_path, "cuad_toy")
    prompt = few_shot_prompt(task, {**task.rows[0], "text": "Audits per {{text}} are allowed."})
    assert prompt.startswith("Does the clause give a party audit rights?\n\nClause: The Licensor")
    assert prompt.endswith("Clause: Audits per {{text}} are allowed.\nLabel:")  # a value is not re-filled


def test_zero_shot_message_has_instruction_row_and_labels(tmp_path):
    make_task(tmp_path)
    task = load_task(tmp_path, "cuad_toy")
    [message] = zero_shot_messages(task, task.rows[0])
    assert message["role"] == "user"
    assert message["content"] == ("Does the clause give a party audit rights?\n\n"
                                  "Clause: Either party may audit the other's records on notice.\n\n"
                                  "Answer Yes or No.")


# --- metrics -------------------------------------------------------------------------------

def test_balanced_accuracy_worked_example():
    gold = ["Yes", "Yes", "Yes", "Yes", "No", "No"]
    pred = ["Yes", "Yes", "Yes", "No", "No", INVALID]
    # recall(Yes) = 3/4 = 0.75; recall(No) = 1/2 = 0.5 (the invalid reply counts as wrong)
    # balanced accuracy = (0.75 + 0.5) / 2 = 0.625; accuracy = 4/6
    assert balanced_accuracy(gold, pred, ["No", "Yes"]) == pytest.approx(0.625)
    assert accuracy(gold, pred) == pytest.approx(4 / 6)
    assert label_shares(pred) == pytest.approx({"No": 2 / 6, "Yes": 3 / 6, INVALID: 1 / 6})
    # always "No" on a 4:2 test set: accuracy 2/6 but balanced accuracy (0 + 1) / 2 = 0.5
    assert balanced_accuracy(gold, ["No"] * 6, ["No", "Yes"]) == pytest.approx(0.5)


def test_bootstrap_interval_contains_the_estimate_and_is_deterministic():
    gold = ["Yes"] * 30 + ["No"] * 30
    pred = ["Yes"] * 24 + ["No"] * 6 + ["No"] * 18 + ["Yes"] * 12  # recalls 0.8 and 0.6
    point = balanced_accuracy(gold, pred, ["No", "Yes"])
    low, high = bootstrap_interval(gold, pred, ["No", "Yes"], n=1000, seed=0)
    assert point == pytest.approx(0.7)
    assert 0.0 <= low < point < high <= 1.0
    assert (low, high) == bootstrap_interval(gold, pred, ["No", "Yes"], n=1000, seed=0)
    narrow = bootstrap_interval(gold * 10, pred * 10, ["No", "Yes"], seed=0)
    assert narrow[1] - narrow[0] < high - low  # ten times the rows: a narrower interval


# --- generation scoring (API models) -------------------------------------------------------

@pytest.mark.parametrize("reply, label", [
    ("Yes.", "Yes"), ("no, because the clause is about fees", "No"), ("Label: YES", "Yes"),
    ("I cannot tell from this clause.", INVALID), ("Nobody knows", INVALID),
])
def test_parse_label_takes_the_first_label_word(reply, label):
    assert parse_label(reply, ["No", "Yes"]) == label


def test_generation_scorer_parses_scripted_replies(tmp_path):
    make_task(tmp_path, test=[["0", "Audit on notice.", "Yes", "a.pdf"], ["1", "Fees.", "No", "b.pdf"],
                              ["2", "Auditors visit.", "Yes", "a.pdf"], ["3", "Law.", "No", "c.pdf"]])
    task = load_task(tmp_path, "cuad_toy")
    chat = FakeListChatModel(responses=["Yes.", "no, it is about fees", "Hard to say.", "No"])
    scorer = GenerationScorer(chat, max_concurrency=1)  # one at a time: the scripted replies stay in order
    predictions = scorer.predict(task, task.rows, "zero-shot")
    assert predictions == ["Yes", "No", INVALID, "No"]
    gold = [row["answer"] for row in task.rows]
    # recall(Yes) = 1/2 (the unparseable reply is wrong), recall(No) = 2/2 -> 0.75
    assert balanced_accuracy(gold, predictions, task.labels) == pytest.approx(0.75)


def test_evaluate_with_a_chat_model_reports_invalid_share(tmp_path):
    make_task(tmp_path)
    results = evaluate(FakeListChatModel(responses=["Sure!"]), legalbench=tmp_path, tasks="cuad_*")
    result = results["tasks"]["cuad_toy"]
    assert results["settings"]["scorer"] == "generation"
    assert result["n"] == 3 and result["share_invalid"] == 1.0
    assert result["balanced_accuracy"] == 0.0 and result["label_shares"] == {INVALID: 1.0}
    assert results["macro"]["balanced_accuracy"] == 0.0


def test_blank_replies_of_an_api_model_are_invalid_answers(tmp_path, monkeypatch):
    """An `openai:` model's empty reply is scored as an invalid answer, at once: not retried,
    and not an error that stops the task."""
    from advqa.models.mock_server import MockOpenAIServer

    make_task(tmp_path)

    def reply(body):  # blank for the row about the supplier's premises, "Yes" for the others
        return "" if "premises" in body["messages"][-1]["content"] else "Yes"

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with MockOpenAIServer(reply=reply) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        results = evaluate("openai:mock", legalbench=tmp_path, tasks="cuad_*")
    result = results["tasks"]["cuad_toy"]
    assert [p["prediction"] for p in result["predictions"]] == ["Yes", "Yes", INVALID]
    assert result["share_invalid"] == pytest.approx(1 / 3)
    assert len(server.requests) == 3  # one request per row: the blank reply was not retried


def test_bad_options_are_errors(tmp_path):
    make_task(tmp_path)
    with pytest.raises(EvaluationError, match="unknown prompt style 'three-shot'"):
        evaluate(FakeListChatModel(responses=["Yes"]), legalbench=tmp_path, tasks="cuad_*",
                 prompt_style="three-shot")
    with pytest.raises(EvaluationError, match="--adapter needs a local model"):
        evaluate(FakeListChatModel(responses=["Yes"]), legalbench=tmp_path, tasks="cuad_*",
                 adapter=tmp_path)


def test_batch_calibration_removes_a_label_prior():
    labels = ["No", "Yes"]  # each row's scores are [No, Yes] log-likelihoods
    balanced = [[-1.0, -3.5], [-4.0, -1.0], [-1.2, -3.6], [-4.2, -1.1]]  # no label prior to remove
    assert choose_labels([[-1.0, -4.0], [-1.0, -5.0], [-1.0, -3.0]], labels) == ["No", "No", "No"]
    # Means: No -1.0, Yes -4.0; centred: row 2 (Yes -3.0 -> +1.0) beats its No (0.0).
    assert choose_labels([[-1.0, -4.0], [-1.0, -5.0], [-1.0, -3.0]], labels, "batch") == ["No", "No", "Yes"]
    assert choose_labels(balanced, labels, "batch") == choose_labels(balanced, labels) == ["No", "Yes"] * 2
    with pytest.raises(EvaluationError, match="unknown calibration 'platt'"):
        choose_labels(balanced, labels, "platt")


def test_only_reference_rows_are_evaluated_when_asked(tmp_path):
    make_task(tmp_path)
    results = evaluate(FakeListChatModel(responses=["Yes"]), legalbench=tmp_path, tasks="cuad_*",
                       reference_documents={"a.pdf"}, only_reference=True)
    result = results["tasks"]["cuad_toy"]
    assert result["n"] == 2 == result["in_reference"]["n"] and result["outside_reference"]["n"] == 0
    assert results["settings"]["only_reference"] is True
    with pytest.raises(EvaluationError, match="no test row comes from a contract in the reference corpus"):
        evaluate(FakeListChatModel(responses=["Yes"]), legalbench=tmp_path, tasks="cuad_*",
                 reference_documents={"z.pdf"}, only_reference=True)
    chat = FakeListChatModel(responses=["Yes"])
    with pytest.raises(EvaluationError, match="needs the reference corpus"):
        evaluate(chat, legalbench=tmp_path, tasks="cuad_*", only_reference=True)
    with pytest.raises(EvaluationError, match="calibration needs log-likelihood scoring"):
        evaluate(chat, legalbench=tmp_path, tasks="cuad_*", calibration="batch")


def test_an_adapter_folder_needs_an_adapter_config(tmp_path):
    with pytest.raises(EvaluationError, match="not an adapter folder"):
        LoglikScorer("bundled:smollm2-135m", adapter=tmp_path)


# --- reference corpus ----------------------------------------------------------------------

@needs_legalbench
def test_reference_corpus_for_one_task_and_rows_inside_it(tmp_path):
    out = tmp_path / "reference"
    summary = build_reference_corpus(LEGALBENCH, ["cuad_audit_rights"], out, max_contracts=3)
    record = json.loads((out / "reference.json").read_text(encoding="utf-8"))
    assert summary["contracts"] == 3 and len(record["documents"]) == 3
    assert sorted(p.name for p in out.glob("*.txt")) == sorted(record["documents"].values())
    task = load_task(LEGALBENCH, "cuad_audit_rights")
    names = {row["document_name"] for row in [*task.rows, *task.train_rows]}
    with (LEGALBENCH / "contracts" / "cuad_document_map.tsv").open(encoding="utf-8", newline="") as handle:
        contract_of = {r["document_name"]: r["contract_file"] for r in csv.DictReader(handle, delimiter="\t")}
    rows_of = {name: sum(row["document_name"] == name for row in task.rows) for name in names}
    chosen = set(record["documents"])
    assert summary["test_rows"] == sum(rows_of[d] for d in chosen)
    # Every contract covers this one task, so the three with the most test rows are chosen.
    assert min(rows_of[d] for d in chosen) >= max(rows_of[d] for d in names - chosen)
    for document, file in record["documents"].items():
        assert document in names
        source = LEGALBENCH / "contracts" / contract_of[document]
        assert (out / file).read_bytes() == source.read_bytes()

    documents = read_reference_documents(out)
    results = evaluate(FakeListChatModel(responses=["Yes"]), legalbench=LEGALBENCH,
                       tasks="cuad_audit_rights", reference_documents=documents)
    result = results["tasks"]["cuad_audit_rights"]
    assert result["n"] == len(task.rows)
    assert result["in_reference"]["n"] + result["outside_reference"]["n"] == result["n"]
    assert result["in_reference"]["n"] == sum(row["document_name"] in documents for row in task.rows)


@needs_legalbench
def test_reference_command_rebuilds_its_folder_and_refuses_others(tmp_path):
    app = typer.Typer()
    app.command("reference")(reference_command)
    app.command("eval")(eval_command)
    out = tmp_path / "reference"
    args = ["reference", "--legalbench", str(LEGALBENCH), "--tasks", "cuad_audit_rights", "--out", str(out)]
    assert CliRunner().invoke(app, [*args, "--max-contracts", "2"]).exit_code == 0
    assert CliRunner().invoke(app, [*args, "--max-contracts", "1", "--seed", "5"]).exit_code == 0
    assert len(list(out.glob("*.txt"))) == 1 == len(read_reference_documents(out))

    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me", encoding="utf-8")
    refused = CliRunner().invoke(app, [*args[:-1], str(tmp_path / "mine")])
    assert isinstance(refused.exception, EvaluationError) and "not empty" in str(refused.exception)
    not_cuad = CliRunner().invoke(app, [*args[:4], "contract_qa", *args[5:]])
    assert isinstance(not_cuad.exception, EvaluationError)


# --- log-likelihood scoring with the bundled model -------------------------------------------

@pytest.fixture(scope="module")
def bundled_scorer() -> LoglikScorer:
    return LoglikScorer("bundled:smollm2-135m", batch_size=2)


def hand_logprob(model, tokenizer, prompt: str, choice: str) -> float:
    """log P(choice | prompt) from one plain forward pass over prompt + choice."""
    import torch

    context = tokenizer(prompt)["input_ids"]
    whole = tokenizer(prompt + choice, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        logprobs = model(input_ids=whole).logits.float().log_softmax(-1)[0]
    return sum(float(logprobs[i - 1, whole[0, i]]) for i in range(len(context), whole.shape[1]))


@pytest.mark.integration
@needs_legalbench
def test_choice_logprob_matches_a_hand_computation(bundled_scorer):
    model, tokenizer = bundled_scorer.model, bundled_scorer.tokenizer
    task = load_task(LEGALBENCH, "cuad_audit_rights")
    prompt = few_shot_prompt(task, task.rows[0])  # about 500 tokens
    assert choice_logprob(model, tokenizer, prompt, " Yes") == \
        pytest.approx(hand_logprob(model, tokenizer, prompt, " Yes"), abs=1e-3)


@pytest.mark.integration
@needs_legalbench
def test_batched_scores_equal_one_at_a_time(bundled_scorer):
    model, tokenizer = bundled_scorer.model, bundled_scorer.tokenizer
    task = load_task(LEGALBENCH, "cuad_audit_rights")
    # a shared instruction (cached once) and clauses of different lengths (right padding)
    prompts = [f"{task.base_prompt.split(chr(10))[0]}\n\nClause: {row['text'][:300]}\nLabel:"
               for row in task.rows[:3]]
    choices = [" No", " Yes", " Maybe not"]  # the last one has several tokens
    expected = [[hand_logprob(model, tokenizer, p, c) for c in choices] for p in prompts]
    batched = score_choices(model, tokenizer, prompts, [choices] * 3, batch_size=2)
    assert batched == [pytest.approx(row, abs=1e-3) for row in expected]


@pytest.mark.integration
@needs_legalbench
def test_zero_shot_scoring_uses_the_chat_template(bundled_scorer):
    task = load_task(LEGALBENCH, "contract_qa")
    prompts, choices = bundled_scorer.prompts(task, task.rows[:2], "zero-shot")
    assert choices == ["No", "Yes"]
    assert prompts[0].rstrip().endswith("assistant") and "Answer Yes or No." in prompts[0]
    assert task.rows[0]["question"] in prompts[0]
    assert set(bundled_scorer.predict(task, task.rows[:2], "zero-shot")) <= {"No", "Yes"}


@pytest.mark.integration
@needs_legalbench
def test_evaluate_the_bundled_model_on_a_real_task(tmp_path):
    task = load_task(LEGALBENCH, "cuad_audit_rights")
    inside = {sample_rows(task.rows, 8, seed=0)[0]["document_name"]}  # at least one evaluated row inside
    results = evaluate("bundled:smollm2-135m", legalbench=LEGALBENCH, tasks="cuad_audit_rights", limit=8,
                       reference_documents=inside, calibration="batch")
    result = results["tasks"]["cuad_audit_rights"]
    assert result["n"] == 8 == len(result["predictions"])
    assert result["label_shares"].get("Yes", 0) + result["label_shares"].get("No", 0) == pytest.approx(1.0)
    for value in (result["balanced_accuracy"], result["accuracy"], *result["ci95"]):
        assert 0.0 <= value <= 1.0
    assert result["ci95"][0] <= result["balanced_accuracy"] <= result["ci95"][1]
    assert result["share_invalid"] == 0.0
    assert result["in_reference"]["n"] >= 1
    assert result["in_reference"]["n"] + result["outside_reference"]["n"] == 8
    assert 0.0 <= result["uncalibrated"]["balanced_accuracy"] <= 1.0 and result["uncalibrated"]["n"] == 8
    assert results["settings"] | {"model": "bundled:smollm2-135m", "scorer": "loglik", "limit": 8,
                                  "calibration": "batch"} == \
        results["settings"]
    assert results["macro"]["balanced_accuracy"] == result["balanced_accuracy"]

    saved = json.loads(write_results(results, tmp_path / "out" / "results.json").read_text(encoding="utf-8"))
    assert saved["tasks"]["cuad_audit_rights"]["n"] == 8
    console = Console(record=True, width=200)
    console.print(format_table(results))
    table = console.export_text()
    assert "cuad_audit_rights" in table and "macro" in table


@pytest.mark.integration
def test_a_lora_adapter_is_loaded_on_top_of_the_model(tmp_path, bundled_scorer):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from advqa.models import checkpoint_path

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(checkpoint_path("bundled:smollm2-135m"))
    # init_lora_weights=False: random A and B, so the adapter visibly changes the model
    config = LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    trained = get_peft_model(base, config)
    trained.save_pretrained(tmp_path / "adapter")
    make_task(tmp_path / "lb")
    task = load_task(tmp_path / "lb", "cuad_toy")

    adapted = LoglikScorer("bundled:smollm2-135m", adapter=tmp_path / "adapter")
    scores = [s for row in adapted.score(task, task.rows) for s in row]
    prompts, choices = adapted.prompts(task, task.rows, "few-shot")
    in_memory = score_choices(trained.eval(), adapted.tokenizer, prompts, [choices] * len(prompts))
    assert scores == pytest.approx([s for row in in_memory for s in row], abs=1e-3)
    base_scores = [s for row in bundled_scorer.score(task, task.rows) for s in row]
    assert scores != pytest.approx(base_scores, abs=1e-2)


@pytest.mark.integration
def test_eval_command_prints_a_table_and_writes_json(tmp_path):
    make_task(tmp_path / "lb")
    app = typer.Typer()
    app.command("eval")(eval_command)
    app.command("reference")(reference_command)
    out = tmp_path / "results.json"
    result = CliRunner().invoke(app, ["eval", "--legalbench", str(tmp_path / "lb"), "--tasks", "cuad_toy",
                                      "--out", str(out), "--batch-size", "2"])
    assert result.exit_code == 0, result.output
    assert "cuad_toy" in result.output
    assert json.loads(out.read_text(encoding="utf-8"))["tasks"]["cuad_toy"]["n"] == 3
