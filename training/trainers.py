"""trl trainers (SFT or DPO, with a LoRA adapter) for an advqa dataset."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch
from transformers import Trainer, TrainerCallback
from trl import DPOConfig, DPOTrainer, SFTConfig, SFTTrainer

from .config import TrainConfig
from .data import CHAT, dataset_kind, preference_pairs, prompt_completions, texts, to_hf_dataset
from .errors import TrainingError
from .modeling import load_base_model, lora_config

# transformers 5 renamed gradient_checkpointing (the old name still works, with a warning).
_CHECKPOINTING_FIELD = ("activation_checkpointing" if "activation_checkpointing" in
                        {f.name for f in dataclasses.fields(SFTConfig)} else "gradient_checkpointing")


def _common_args(config: TrainConfig, checkpoints_dir: Path) -> dict[str, Any]:
    on_gpu = torch.cuda.is_available()
    bf16 = config.bf16 if config.bf16 is not None else on_gpu and torch.cuda.is_bf16_supported()
    return {
        "output_dir": str(checkpoints_dir),
        "num_train_epochs": config.epochs,
        "max_steps": config.max_steps,
        "per_device_train_batch_size": config.batch_size,
        "gradient_accumulation_steps": config.grad_accum,
        "learning_rate": config.learning_rate,
        "max_length": config.max_length,
        "seed": config.seed,
        "logging_steps": config.logging_steps,
        "save_strategy": "steps",
        "save_steps": config.save_steps,
        "save_total_limit": config.save_total_limit,
        "report_to": "none",
        # trl defaults to bf16 everywhere; by default keep float32 on CPU: bf16 autocast took twice the
        # time per step on a CPU without native bf16, 1/1.5 of it on one with avx512_bf16 (README).
        "bf16": bf16,
        # trl turns gradient checkpointing on by default; a small model has the memory, so keep the speed.
        _CHECKPOINTING_FIELD: config.gradient_checkpointing,
        "dataloader_pin_memory": on_gpu,
        # Without a GPU, processes started by `accelerate launch --multi_gpu --num_processes N` (torchrun)
        # join one gloo process group on the CPU, rather than each training alone.
        "use_cpu": not (on_gpu or torch.backends.mps.is_available()),
    }


def build_trainer(samples: list[dict[str, Any]], model_spec: str, checkpoints_dir: Path,
                  config: TrainConfig, callbacks: list[TrainerCallback] | None = None) -> Trainer:
    """An SFT or DPO trainer over the samples with a fresh LoRA adapter on the base model.

    SFT on chat samples trains on the answer only: each sample becomes a conversational
    prompt-completion row, for which trl masks the prompt tokens (completion_only_loss).
    SFT on text samples is plain language modelling. DPO prefers the expert's answer to the student's."""
    kind = dataset_kind(samples)
    if config.method == "dpo":
        if kind != CHAT:
            raise TrainingError("method dpo: needs a chat dataset with student answers, got plain text")
        rows = preference_pairs(samples)
        if not rows:
            raise TrainingError("method dpo: no sample has meta.student_answer to use as the rejected answer")
    else:
        rows = prompt_completions(samples) if kind == CHAT else texts(samples)

    model, tokenizer = load_base_model(model_spec)
    if kind == CHAT and not tokenizer.chat_template:
        raise TrainingError(f"{model_spec}: the model has no chat template, needed for a chat dataset")
    peft_config = lora_config(config, model)
    dataset = to_hf_dataset(rows)
    args = _common_args(config, checkpoints_dir)
    if config.method == "dpo":
        return DPOTrainer(model=model, args=DPOConfig(beta=config.dpo_beta, **args), train_dataset=dataset,
                          processing_class=tokenizer, peft_config=peft_config, callbacks=callbacks)
    # Random batches of advqa's samples are a quarter padding; batches of similar length, a few percent.
    sampling = "group_by_length" if config.group_by_length else "random"
    sft_args = SFTConfig(completion_only_loss=kind == CHAT, dataset_text_field="text",
                         train_sampling_strategy=sampling, **args)
    return SFTTrainer(model=model, args=sft_args, train_dataset=dataset, processing_class=tokenizer,
                      peft_config=peft_config, callbacks=callbacks)
