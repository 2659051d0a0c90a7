"""Loading the base model behind a model spec, its LoRA configuration, and trained adapters."""

from __future__ import annotations

from pathlib import Path

import torch
from peft import LoraConfig, PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from advqa.models import checkpoint_path

from .config import TrainConfig
from .errors import TrainingError


def load_base_model(model_spec: str) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The causal LM and tokenizer behind a `bundled:` or `hf:` spec, in float32 (trainable on CPU)."""
    path = checkpoint_path(model_spec)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    return model, tokenizer


def lora_config(config: TrainConfig, model: PreTrainedModel) -> LoraConfig:
    """The LoRA adapter settings, after checking that the target modules exist in the model."""
    # Leaf modules with a weight matrix: Linear, and the Conv1D / Embedding layers PEFT also adapts.
    layer_names = {name.rsplit(".", 1)[-1] for name, module in model.named_modules()
                   if not any(module.children()) and isinstance(getattr(module, "weight", None), torch.Tensor)
                   and module.weight.dim() == 2}
    missing = [name for name in config.target_modules if name not in layer_names]
    if missing:
        raise TrainingError(f"target_modules: the model has no layer named '{missing[0]}' "
                            f"(it has: {', '.join(sorted(layer_names))})")
    return LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                      target_modules=list(config.target_modules), task_type="CAUSAL_LM")


def load_adapted_model(model_spec: str, adapter_dir: str | Path) -> tuple[PeftModel, PreTrainedTokenizerBase]:
    """The base model with a trained LoRA adapter on top, in eval mode, and the adapter's tokenizer."""
    adapter_dir = Path(adapter_dir)
    if not (adapter_dir / "adapter_config.json").is_file():
        raise TrainingError(f"{adapter_dir}: no adapter_config.json (not a trained adapter folder)")
    base, tokenizer = load_base_model(model_spec)
    if (adapter_dir / "tokenizer_config.json").is_file():
        tokenizer = AutoTokenizer.from_pretrained(adapter_dir)
    model = PeftModel.from_pretrained(base, adapter_dir)
    model.eval()
    return model, tokenizer
