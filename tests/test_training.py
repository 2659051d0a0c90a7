"""advqa.training: dataset checks, settings, and LoRA SFT/DPO runs on the bundled model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from advqa.training import (
    TrainConfig,
    TrainingError,
    load_train_config,
    preference_pairs,
    prompt_completions,
    read_dataset,
)
from advqa.training.commands import train_command
from advqa.training.loss_log import truncate_loss_log

MODEL = "bundled:smollm2-135m"
QA = [
    ("What notice must the Lessee give to end the lease early?",
     "Ninety days' written notice after month twelve, plus three monthly instalments."),
    ("Is a fee payable if the Lessor is in material breach?", "No, then no termination fee is payable."),
    ("Who pays for repairs caused by misuse?", "The Lessee pays for repairs caused by misuse."),
    ("How much does the Client pay per quarter?", "12,000 euros per quarter, invoiced in advance."),
    ("What is each party's liability capped at?", "The fees paid in the twelve months before the claim."),
    ("Does the cap apply to confidentiality breaches?", "No, confidentiality breaches are outside the cap."),
    ("How long does confidentiality survive termination?", "Five years after termination."),
    ("When does the lease start?", "On 1 March 2025, for thirty-six months."),
]
# Few, short steps: enough to move the adapter, quick on a CPU.
TINY = {"max_steps": 2, "batch_size": 2, "max_length": 128, "save_steps": 1}


def chat_sample(question: str, answer: str, student: str | None = "It depends on the contract.") -> dict:
    meta = {"probe_id": question[:8], "document": "lease.md", "expert_answer": answer, "divergence": 0.7}
    if student is not None:
        meta["student_answer"] = student
    return {"messages": [{"role": "user", "content": question}, {"role": "assistant", "content": answer}],
            "meta": meta}


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows),
                    encoding="utf-8")
    return path


@pytest.fixture
def chat_dataset(tmp_path) -> Path:
    return write_jsonl(tmp_path / "dataset.jsonl", [chat_sample(q, a) for q, a in QA])


# ---- datasets ----------------------------------------------------------------------------------


def test_read_dataset_accepts_a_run_folder_and_keeps_every_sample(chat_dataset):
    samples = read_dataset(chat_dataset.parent)
    assert len(samples) == len(QA)
    assert samples[2]["messages"][0]["content"] == QA[2][0]


@pytest.mark.parametrize(("bad_line", "message"), [
    ("{not json", "not valid JSON"),
    (json.dumps({"messages": [{"role": "user", "content": "Q?"}]}), "no assistant message"),
    (json.dumps({"messages": [{"role": "assistant", "content": "A."}]}), "no user message"),
    (json.dumps({"messages": [{"role": "user", "content": "Q?"}, {"role": "assistant", "content": " "}]}),
     "assistant message is empty"),
    (json.dumps({"text": "plain text among chat samples"}), "use one kind per file"),
    (json.dumps({"prompt": "x"}), "expected 'messages'"),
])
def test_a_bad_line_is_reported_with_its_file_and_line_number(tmp_path, bad_line, message):
    path = write_jsonl(tmp_path / "d.jsonl", [chat_sample(*QA[0]), "", chat_sample(*QA[1]), bad_line])
    with pytest.raises(TrainingError, match=message) as error:
        read_dataset(path)
    assert f"{path}:4:" in str(error.value)


def test_text_corpus_needs_non_empty_text(tmp_path):
    path = write_jsonl(tmp_path / "t.jsonl", [{"text": "Clause one.", "meta": {}}, {"text": ""}])
    with pytest.raises(TrainingError, match=r"t\.jsonl:2: 'text' is empty"):
        read_dataset(path)


def test_missing_and_empty_datasets_are_user_errors(tmp_path):
    with pytest.raises(TrainingError, match="dataset not found"):
        read_dataset(tmp_path / "nope.jsonl")
    with pytest.raises(TrainingError, match="dataset is empty"):
        read_dataset(write_jsonl(tmp_path / "e.jsonl", [""]))


def test_chat_samples_become_prompt_completion_rows_and_preference_pairs():
    samples = [chat_sample(*QA[0]), chat_sample(*QA[1], student=None)]
    rows = prompt_completions(samples)
    assert rows[0] == {"prompt": [{"role": "user", "content": QA[0][0]}],
                       "completion": [{"role": "assistant", "content": QA[0][1]}]}
    pairs = preference_pairs(samples)
    assert pairs == [{"prompt": [{"role": "user", "content": QA[0][0]}],
                      "chosen": [{"role": "assistant", "content": QA[0][1]}],
                      "rejected": [{"role": "assistant", "content": "It depends on the contract."}]}]


# ---- settings ----------------------------------------------------------------------------------


def test_defaults_and_method_dependent_learning_rate():
    config = TrainConfig()
    assert (config.method, config.lora_r, config.lora_alpha, config.epochs, config.max_steps) == \
        ("sft", 16, 32, 10.0, -1)
    assert config.target_modules == ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                                     "down_proj"]
    assert config.learning_rate == 1e-3
    assert TrainConfig(method="dpo").learning_rate == 2e-5


def test_explicit_option_beats_config_file_beats_default(tmp_path):
    toml = tmp_path / "train.toml"
    toml.write_text('[train]\nmethod = "dpo"\nlora_r = 8\nepochs = 3\nlearning_rate = 1e-5\n'
                    'target_modules = ["q_proj", "v_proj"]\n[models]\nstudent = "x"\n', encoding="utf-8")
    config = load_train_config(toml, lora_r=4, epochs=None, batch_size=None)
    assert config.lora_r == 4                      # explicit
    assert config.epochs == 3.0 and config.method == "dpo" and config.learning_rate == 1e-5  # file
    assert config.target_modules == ["q_proj", "v_proj"]
    assert config.batch_size == 4 and config.dpo_beta == 0.1  # defaults


@pytest.mark.parametrize(("text", "message"), [
    ("[train]\nlora_rank = 8\n", "unknown setting 'lora_rank'"),
    ("[train]\nlora_r = \"8\"\n", "lora_r = '8' is not a whole number"),
    ("lora_r = 8\n", r"no \[train\] table"),
    ("[train\n", "not valid TOML"),
    ("[train]\nmethod = \"ppo\"\n", "method: 'ppo' is not one of sft, dpo"),
    ("[train]\nmax_steps = 0\n", "max_steps"),
])
def test_bad_config_files_are_user_errors_naming_the_setting(tmp_path, text, message):
    toml = tmp_path / "bad.toml"
    toml.write_text(text, encoding="utf-8")
    with pytest.raises(TrainingError, match=message):
        load_train_config(toml)


def test_loss_log_drops_steps_after_the_resumed_checkpoint(tmp_path):
    path = write_jsonl(tmp_path / "loss.jsonl", [{"step": s, "loss": 1.0 / s} for s in (1, 2, 3, 4)])
    truncate_loss_log(path, 2)
    assert [json.loads(line)["step"] for line in path.read_text().splitlines()] == [1, 2]


def test_resuming_under_other_adapter_settings_is_refused(tmp_path, chat_dataset):
    from advqa.training import train

    out = tmp_path / "run"
    (out / "checkpoints" / "checkpoint-1").mkdir(parents=True)
    (out / "checkpoints" / "checkpoint-1" / "trainer_state.json").write_text('{"global_step": 1}')
    (out / "train_config.json").write_text(json.dumps({"model": MODEL, **TrainConfig(lora_r=8).to_dict()}))
    with pytest.raises(TrainingError, match="lora_r=8"):
        train(chat_dataset, MODEL, out, TrainConfig(lora_r=16))


def command_app() -> typer.Typer:
    app = typer.Typer()
    app.command("train")(train_command)
    app.command("noop")(lambda: None)  # more than one command keeps `train` as a subcommand
    return app


def test_train_command_rejects_bad_options_before_loading_a_model(tmp_path, chat_dataset):
    result = CliRunner().invoke(command_app(), ["train", "--dataset", str(chat_dataset),
                                                "--out", str(tmp_path / "o"), "--method", "rlhf"])
    assert isinstance(result.exception, TrainingError)
    assert "method: 'rlhf'" in str(result.exception)


# ---- training on the bundled model -------------------------------------------------------------


def lora_tensors(state: dict) -> dict:
    """LoRA tensors keyed by module path, whatever prefix PEFT puts in front."""
    return {key.split("model.layers.", 1)[1].replace(".default", ""): value.detach().clone()
            for key, value in state.items() if "lora_" in key}


@pytest.fixture(scope="module")
def sft_run(tmp_path_factory):
    from advqa.training import train

    folder = tmp_path_factory.mktemp("sft")
    dataset = write_jsonl(folder / "dataset.jsonl", [chat_sample(q, a) for q, a in QA])
    summary = train(dataset, MODEL, folder / "out", TrainConfig(**TINY), merge=True)
    return folder, summary


@pytest.mark.integration
def test_sft_run_writes_adapter_tokenizer_config_loss_log_and_checkpoints(sft_run):
    folder, summary = sft_run
    out = folder / "out"
    assert summary["steps"] == 2 and summary["samples"] == len(QA) and summary["resumed_from_step"] == 0
    # Rank 16 on every linear layer of 30: q and o 576->576, k and v 576->192, gate and up 576->1536,
    # down 1536->576.
    assert summary["trainable_parameters"] == 30 * 16 * ((576 + 576) * 2 + (576 + 192) * 2 + (576 + 1536) * 3)
    for name in ("adapter_model.safetensors", "adapter_config.json", "tokenizer.json", "train_config.json"):
        assert (out / name).is_file(), name
    record = json.loads((out / "train_config.json").read_text())
    assert record["model"] == MODEL and record["samples"] == len(QA) and record["max_steps"] == 2
    assert record["learning_rate"] == 1e-3 and record["dataset"].endswith("dataset.jsonl")
    losses = [json.loads(line) for line in (out / "loss.jsonl").read_text().splitlines()]
    assert [row["step"] for row in losses] == [1, 2]
    assert all(row["loss"] > 0 and row["learning_rate"] > 0 and row["epoch"] > 0 for row in losses)
    assert summary["final_loss"] == losses[-1]["loss"]
    checkpoints = sorted(path.name for path in (out / "checkpoints").glob("checkpoint-*"))
    assert checkpoints == ["checkpoint-1", "checkpoint-2"]


@pytest.mark.integration
def test_sft_moves_lora_weights_only_and_the_adapter_loads_back(sft_run):
    import torch
    from safetensors.torch import load_file

    from advqa.training import load_adapted_model
    from advqa.training.modeling import load_base_model

    out = sft_run[0] / "out"
    saved = lora_tensors(load_file(out / "adapter_model.safetensors"))
    lora_b = {key: value for key, value in saved.items() if "lora_B" in key}
    assert len(lora_b) == 30 * 7  # every linear layer of 30
    assert all(value.abs().sum() > 0 for value in lora_b.values())  # PEFT starts every lora_B at zero

    model, tokenizer = load_adapted_model(MODEL, out)
    loaded = lora_tensors(model.state_dict())
    assert loaded.keys() == saved.keys()
    assert all(torch.equal(loaded[key], saved[key]) for key in saved)

    base, _ = load_base_model(MODEL)
    adapted_weight = model.get_base_model().model.layers[3].self_attn.q_proj.base_layer.weight
    assert torch.equal(adapted_weight, base.model.layers[3].self_attn.q_proj.weight)
    assert tokenizer.chat_template

    # The merged model is the base with the adapter folded in: same outputs as base + adapter.
    from transformers import AutoModelForCausalLM

    merged = AutoModelForCausalLM.from_pretrained(out / "merged")
    inputs = tokenizer("The Lessee may end the lease", return_tensors="pt")
    with torch.no_grad():
        adapted_logits = model(**inputs).logits
        assert torch.allclose(merged(**inputs).logits, adapted_logits, atol=1e-3)
        assert not torch.allclose(base(**inputs).logits, adapted_logits, atol=1e-3)


@pytest.mark.integration
def test_chat_loss_covers_only_the_assistant_answer(tmp_path):
    from advqa.training import build_trainer

    question, answer = QA[0]
    trainer = build_trainer([chat_sample(question, answer)], MODEL, tmp_path / "ck", TrainConfig(**TINY))
    row = trainer.train_dataset[0]
    tokenizer = trainer.processing_class
    full = tokenizer.apply_chat_template([{"role": "user", "content": question},
                                          {"role": "assistant", "content": answer}], tokenize=False)
    assert tokenizer.decode(row["input_ids"]) == full  # the model's own chat template

    batch = trainer.data_collator([row])  # what the model is trained on
    labels, input_ids = batch["labels"][0].tolist(), batch["input_ids"][0].tolist()
    first = next(i for i, label in enumerate(labels) if label != -100)
    assert all(label == -100 for label in labels[:first])
    assert labels[first:] == input_ids[first:]
    assert tokenizer.decode(input_ids[first:]) == answer + "<|im_end|>\n"
    assert question in tokenizer.decode(input_ids[:first])


@pytest.mark.integration
def test_resume_continues_from_the_last_checkpoint(sft_run, tmp_path):
    from advqa.training import train

    folder, _ = sft_run
    out = tmp_path / "out"
    shutil.copytree(folder / "out", out, ignore=shutil.ignore_patterns("merged"))
    with (out / "loss.jsonl").open("a") as log:  # a step logged after the last checkpoint, then killed
        log.write(json.dumps({"step": 3, "loss": 9.9, "learning_rate": 0.1, "epoch": 0.75}) + "\n")
    # Two more steps: keeping the last two checkpoints deletes the one it resumed from.
    summary = train(folder / "dataset.jsonl", MODEL, out, TrainConfig(**{**TINY, "max_steps": 4}))
    assert summary["resumed_from_step"] == 2 and summary["steps"] == 4
    losses = [json.loads(line) for line in (out / "loss.jsonl").read_text().splitlines()]
    assert [row["step"] for row in losses] == [1, 2, 3, 4]
    assert losses[2]["loss"] != 9.9
    kept = sorted(path.name for path in (out / "checkpoints").glob("checkpoint-*"))
    assert kept == ["checkpoint-3", "checkpoint-4"]


@pytest.mark.integration
def test_dpo_trains_on_expert_over_student_pairs(tmp_path):
    from safetensors.torch import load_file

    from advqa.training import train

    samples = [chat_sample(q, a) for q, a in QA[:4]] + [chat_sample(*QA[4], student=None)]
    dataset = write_jsonl(tmp_path / "dataset.jsonl", samples)
    config = TrainConfig(method="dpo", **TINY)
    summary = train(dataset, MODEL, tmp_path / "dpo", config)
    assert summary["steps"] == 2 and summary["train_rows"] == 4  # the sample without a student answer skipped
    assert summary["final_loss"] is not None
    adapter = load_file(tmp_path / "dpo" / "adapter_model.safetensors")
    lora_b = [value for key, value in adapter.items() if "lora_B" in key]
    assert lora_b and all(value.abs().sum() > 0 for value in lora_b)
    assert json.loads((tmp_path / "dpo" / "train_config.json").read_text())["dpo_beta"] == 0.1


@pytest.mark.integration
def test_plain_text_corpus_trains_on_every_token(tmp_path):
    from advqa.training import build_trainer, train

    texts = [{"text": f"{q} {a}", "meta": {"kind": "paraphrase"}} for q, a in QA]
    dataset = write_jsonl(tmp_path / "corpus.jsonl", texts)
    trainer = build_trainer(read_dataset(dataset), MODEL, tmp_path / "ck", TrainConfig(**TINY))
    labels = trainer.data_collator([trainer.train_dataset[0]])["labels"][0]
    assert (labels != -100).all()
    config = tmp_path / "train.toml"
    config.write_text("[train]\nbatch_size = 2\nmax_length = 128\nmax_steps = 5\n")
    arguments = ["train", "--dataset", str(dataset), "--out", str(tmp_path / "lm"), "--config", str(config),
                 "--max-steps", "1"]
    result = CliRunner().invoke(command_app(), arguments)
    assert result.exit_code == 0, result.output
    assert "steps" in result.output and "trainable parameters" in result.output
    assert json.loads((tmp_path / "lm" / "train_config.json").read_text())["max_steps"] == 1
    assert len((tmp_path / "lm" / "loss.jsonl").read_text().splitlines()) == 1
    assert (tmp_path / "lm" / "adapter_model.safetensors").is_file()
    with pytest.raises(TrainingError, match="dpo: needs a chat dataset"):
        train(dataset, MODEL, tmp_path / "dpo", TrainConfig(method="dpo"))


@pytest.mark.integration
def test_unknown_target_module_is_a_user_error(tmp_path, chat_dataset):
    from advqa.training import train

    with pytest.raises(TrainingError, match="no layer named 'query'.*q_proj"):
        train(chat_dataset, MODEL, tmp_path / "o", TrainConfig(target_modules=["query"], **TINY))


@pytest.mark.integration
def test_the_gpu_options_bf16_and_gradient_checkpointing_train_on_the_cpu_too(tmp_path, chat_dataset):
    from advqa.training import build_trainer, train
    from advqa.training.trainers import _CHECKPOINTING_FIELD

    config = TrainConfig(**(TINY | {"bf16": True, "gradient_checkpointing": True}))
    trainer = build_trainer(read_dataset(chat_dataset), MODEL, tmp_path / "probe", config)
    assert trainer.args.bf16 and trainer.args.use_cpu
    assert getattr(trainer.args, _CHECKPOINTING_FIELD) is True  # the trainer turns it on as it starts
    summary = train(chat_dataset, MODEL, tmp_path / "out", config)
    assert summary["steps"] == 2 and 0 < summary["final_loss"] < 20
    assert (tmp_path / "out" / "adapter_model.safetensors").is_file()
    assert json.loads((tmp_path / "out" / "train_config.json").read_text())["bf16"] is True


def _padding(batches) -> int:
    """Pad tokens in collated batches (attention mask zeros)."""
    return sum(int((batch["attention_mask"] == 0).sum()) for batch in batches)


@pytest.mark.integration
def test_sft_batches_samples_of_similar_length_unless_told_not_to(tmp_path):
    from advqa.training import build_trainer

    # 48 answers from one sentence to six: random pairs pad a lot, pairs from a sorted megabatch little.
    samples = [chat_sample(QA[i % 8][0], " ".join([QA[i % 8][1]] * (1 + i % 6))) for i in range(48)]
    config = TINY | {"max_length": 512}
    grouped = build_trainer(samples, MODEL, tmp_path / "g", TrainConfig(**config))
    shuffled = build_trainer(samples, MODEL, tmp_path / "r", TrainConfig(**config, group_by_length=False))
    lengths = [len(row["input_ids"]) for row in grouped.train_dataset]
    assert max(lengths) > 3 * min(lengths)
    assert _padding(grouped.get_train_dataloader()) < _padding(shuffled.get_train_dataloader()) / 3


@pytest.mark.integration
def test_tokens_per_pass_counts_what_the_trainer_feeds_the_student(tmp_path):
    from advqa.training import build_trainer
    from advqa.training.data import tokens_per_pass

    chat = [chat_sample(q, a) for q, a in QA]
    trainer = build_trainer(chat, MODEL, tmp_path / "c", TrainConfig(**TINY))
    tokenizer = trainer.processing_class
    fed = sum(len(row["input_ids"]) for row in trainer.train_dataset)
    assert tokens_per_pass(chat, tokenizer) == fed
    assert tokens_per_pass(chat, tokenizer, max_length=10) == 10 * len(chat)

    text = [{"text": f"{q} {a}"} for q, a in QA]
    trainer = build_trainer(text, MODEL, tmp_path / "t", TrainConfig(**TINY))
    assert tokens_per_pass(text, tokenizer) == sum(len(row["input_ids"]) for row in trainer.train_dataset)

    # DPO: the prompt with each answer; a sample without a student answer is no pair.
    pairs = tokens_per_pass(chat[:2] + [chat_sample(*QA[2], student=None)], tokenizer, "dpo")
    one_sided = tokens_per_pass(chat[:2], tokenizer)
    rejected = tokens_per_pass([chat_sample(q, "It depends on the contract.") for q, _ in QA[:2]], tokenizer)
    assert pairs == one_sided + rejected
