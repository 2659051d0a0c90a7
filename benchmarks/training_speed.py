"""Training tokens per second of the bundled student on this machine, side by side in one run.

Trains LoRA (advqa train's recipe) on the sample-efficiency campaign's kept samples for a few
steps, under each condition, and measures the steps after the first two (torch builds its CPU
kernels for each new shape the first time it meets it):

- random batches against length-grouped ones (the default), both on every core;
- one training process on every core against two at once, each on half of the cores (what a
  benchmark that trains many adapters could do instead of training them one after another).

Tokens per second count the tokens the student reads (padding excluded), so the conditions
compare on the work they do. Writes benchmarks/results/training_speed.json.

    python benchmarks/training_speed.py [--steps 14] [--samples PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KEPT = ROOT / "benchmarks/results/sample_efficiency/advqa"
WARMUP_STEPS = 2
STUDENT = "bundled:smollm2-135m"


def one_run(samples_path: Path, steps: int, group_by_length: bool, threads: int, seed: int) -> dict:
    """Train `steps` steps in this process; each measured step's seconds and real tokens."""
    import torch
    from transformers import TrainerCallback

    from advqa.training import TrainConfig, build_trainer, read_dataset

    torch.set_num_threads(threads)
    files = sorted(samples_path.glob("part-*.jsonl")) if samples_path.is_dir() else [samples_path]
    samples = [sample for path in files for sample in read_dataset(path)]
    config = TrainConfig(max_steps=steps, group_by_length=group_by_length, seed=seed, save_steps=10_000,
                         logging_steps=10_000)
    timings: list[float] = []

    class StepClock(TrainerCallback):
        def __init__(self) -> None:
            self.started = 0.0

        def on_step_begin(self, args, state, control, **kwargs):
            self.started = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            timings.append(time.perf_counter() - self.started)

    with tempfile.TemporaryDirectory() as scratch:
        trainer = build_trainer(samples, STUDENT, Path(scratch), config, callbacks=[StepClock()])
        real_tokens = []
        collate = trainer.data_collator

        def counting_collator(rows):
            batch = collate(rows)
            real_tokens.append(int(batch["attention_mask"].sum()))
            return batch

        trainer.data_collator = counting_collator
        trainer.train()
    measured = timings[WARMUP_STEPS:]
    tokens = real_tokens[WARMUP_STEPS:len(timings)]
    seconds = sum(measured)
    return {"steps": len(measured), "seconds": round(seconds, 2), "tokens": sum(tokens),
            "median_step_seconds": round(statistics.median(measured), 3),
            "tokens_per_second": round(sum(tokens) / seconds, 1)}


def child(args: argparse.Namespace, group_by_length: bool, threads: int, seed: int) -> subprocess.Popen:
    command = [sys.executable, __file__, "--child", "--samples", str(args.samples),
               "--steps", str(args.steps), "--threads", str(threads), "--seed", str(seed)]
    if not group_by_length:
        command.append("--random")
    environment = os.environ | {"OMP_NUM_THREADS": str(threads)}
    return subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=environment)


def result_of(process: subprocess.Popen) -> dict:
    out, _ = process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"a training run failed (exit {process.returncode})")
    return json.loads(out.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=Path, default=KEPT,
                        help="a chat dataset, or a folder of kept campaign parts (part-*.jsonl)")
    parser.add_argument("--steps", type=int, default=14)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/training_speed.json")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--random", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(one_run(args.samples, args.steps, not args.random, args.threads, args.seed)))
        return 0
    if not args.samples.exists():
        raise SystemExit(f"{args.samples}: no samples there")
    cores = os.cpu_count() or 1
    half = max(1, cores // 2)
    conditions: dict[str, dict] = {}
    for name, grouped in (("random batches, one process", False), ("length-grouped, one process", True)):
        print(f"[{time.strftime('%H:%M:%S')}] {name}", file=sys.stderr, flush=True)
        conditions[name] = result_of(child(args, grouped, cores, 0))
    name = f"length-grouped, two processes at once ({half} thread{'s' * (half > 1)} each)"
    print(f"[{time.strftime('%H:%M:%S')}] {name}", file=sys.stderr, flush=True)
    pair = [child(args, True, half, seed) for seed in (0, 1)]
    runs = [result_of(process) for process in pair]
    conditions[name] = {"runs": runs,
                        "tokens_per_second": round(sum(r["tokens_per_second"] for r in runs), 1)}
    single = conditions["length-grouped, one process"]["tokens_per_second"]
    random = conditions["random batches, one process"]["tokens_per_second"]
    results = {
        "machine": {"cpus": cores, "platform": platform.platform(), "load_average_at_start": os.getloadavg()},
        "samples": str(args.samples.relative_to(ROOT) if args.samples.is_relative_to(ROOT) else args.samples),
        "steps_measured": args.steps - WARMUP_STEPS,
        "conditions": conditions,
        "two_processes_over_one": round(conditions[name]["tokens_per_second"] / single, 2),
        "grouped_over_random": round(single / random, 2),
    }
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    for key, value in conditions.items():
        print(f"{key:<55} {value['tokens_per_second']:>8} tokens/s")
    print(f"two processes / one: {results['two_processes_over_one']}, "
          f"grouped / random: {results['grouped_over_random']}; {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
