"""`advqa train` under `accelerate launch` with two CPU processes (torchrun, gloo) on the bundled model."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from test_training import QA, chat_sample, write_jsonl

ACCELERATE = Path(sys.executable).with_name("accelerate")
# The same global batch of 4: two processes of 2, or one process of 4.
STEPS, PER_PROCESS = 4, 2


def train(tmp_path: Path, name: str, dataset: Path, launcher: list[str], batch_size: int) -> tuple[Path, str]:
    out = tmp_path / name
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    env.pop("RANK", None)
    result = subprocess.run(
        [*launcher, "-m", "advqa", "train", "--dataset", str(dataset), "--out", str(out),
         "--max-steps", str(STEPS), "--batch-size", str(batch_size), "--max-length", "128"],
        capture_output=True, text=True, env=env, timeout=900, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    return out, result.stdout


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def losses(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "loss.jsonl").read_text(encoding="utf-8").splitlines()]


@pytest.mark.integration
@pytest.mark.skipif(not ACCELERATE.is_file(), reason="accelerate's launcher is not installed")
def test_two_processes_train_one_adapter_like_one_process_of_the_same_global_batch(tmp_path):
    dataset = write_jsonl(tmp_path / "dataset.jsonl", [chat_sample(q, a) for q, a in QA * 2])  # 16 samples
    launcher = [str(ACCELERATE), "launch", "--multi_gpu", "--num_processes", "2",
                "--main_process_port", str(free_port())]
    two, two_out = train(tmp_path, "two", dataset, launcher, PER_PROCESS)
    one, _ = train(tmp_path, "one", dataset, [sys.executable], 2 * PER_PROCESS)

    two_log, one_log = losses(two), losses(one)
    # One process group: each step covers 4 of the 16 samples (a quarter epoch), logged once.
    assert [row["step"] for row in two_log] == list(range(1, STEPS + 1))
    assert [row["epoch"] for row in two_log] == [row["epoch"] for row in one_log] == [0.25, 0.5, 0.75, 1.0]
    # The same model, data and global batch: close losses, but not the same batches in the same order.
    for a, b in zip(two_log, one_log):
        assert abs(a["loss"] - b["loss"]) < 0.35 * max(a["loss"], b["loss"])
    assert [row["loss"] for row in two_log] != [row["loss"] for row in one_log]

    # Only the main process writes: one summary, one adapter, one config recording its settings.
    assert two_out.count("sft run") == 1
    assert (two / "adapter_model.safetensors").is_file() and (two / "adapter_config.json").is_file()
    assert json.loads((two / "train_config.json").read_text())["batch_size"] == PER_PROCESS
    assert not list(two.glob("*.partial")) and not list(two.glob(".*tmp*"))
