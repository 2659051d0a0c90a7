"""Sample efficiency on LegalBench: advqa against paraphrase, EntiGraph and raw corpora.

For a set of cuad_* tasks and the CUAD contracts their rows come from (those with the most
test rows), this script generates the advqa dataset (with the tasks' own questions as the
questioner's guidance, seeded at the clauses closest to those questions),
builds each baseline corpus at the advqa token count and at `--scale` times it, trains the
same student with the same LoRA recipe on each, also trains advqa's preference pairs with
DPO, and evaluates every adapter and the base model on the same rows, all from the reference
contracts, with batch calibration of the label log-likelihoods (uncalibrated figures are kept
too). It writes a results
JSON and a plot of balanced accuracy against synthetic tokens (log scale).

    python benchmarks/sample_efficiency.py [--out benchmarks/results/sample_efficiency.json]

The default size runs on a 2-core CPU with the bundled model in under an hour; flags scale it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TASKS = "cuad_audit_rights,cuad_cap_on_liability,cuad_insurance"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/sample_efficiency.json")
    parser.add_argument("--work", type=Path, default=ROOT / "runs/sample_efficiency")
    parser.add_argument("--legalbench", type=Path, default=ROOT.parent / "shared/legalbench")
    parser.add_argument("--tasks", default=DEFAULT_TASKS)
    parser.add_argument("--contracts", type=int, default=4, help="reference contracts at most")
    parser.add_argument("--student", default="bundled:smollm2-135m")
    parser.add_argument("--generator", default="bundled:smollm2-135m",
                        help="questioner, expert, critic and baseline generator")
    parser.add_argument("--seeds", type=int, default=16)
    parser.add_argument("--max-rounds", type=int, default=2)
    parser.add_argument("--scale", type=int, default=10, help="the larger baselines' token multiple")
    parser.add_argument("--limit", type=int, default=40,
                        help="test rows per task, all from the reference contracts (0: every such row)")
    parser.add_argument("--prompt-style", default="zero-shot")
    parser.add_argument("--calibration", default="batch", help="none | batch (see `advqa eval --help`)")
    parser.add_argument("--dtype", default="auto", help="evaluation dtype: float32 | bfloat16 | auto")
    parser.add_argument("--epochs", type=float, default=2.0)
    parser.add_argument("--max-steps", type=int, default=-1)
    return parser.parse_args()


def machine() -> dict[str, Any]:
    import torch

    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(), "memory_gib": round(memory, 1), "python": platform.python_version(),
            "torch": torch.__version__, "gpu": torch.cuda.is_available()}


def text_tokens(path: Path, counter) -> int:
    """Tokens of a training file: chat messages' contents, or the "text" field."""
    total = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            if "messages" in row:
                total += sum(counter.count(m["content"]) for m in row["messages"])
            else:
                total += counter.count(row["text"])
    return total


def task_questions(legalbench: Path, tasks: list[str]) -> list[str]:
    """The tasks' own questions (each base prompt's first line), as a targeting user would give them."""
    from advqa.evaluation.legalbench import load_task

    return [load_task(legalbench, t).base_prompt.strip().splitlines()[0] for t in tasks]


def macro_interval(tasks: dict[str, dict[str, Any]], n: int = 1000, seed: int = 0) -> list[float]:
    """95% percentile bootstrap of the macro balanced accuracy: each task's rows resampled."""
    import random

    from advqa.evaluation import balanced_accuracy

    rng = random.Random(seed)
    per_task = [[(p["answer"], p["prediction"]) for p in t["predictions"]] for t in tasks.values()]
    labels = [sorted({gold for gold, _ in rows}) for rows in per_task]
    draws = []
    for _ in range(n):
        scores = []
        for rows, task_labels in zip(per_task, labels):
            sample = [rows[rng.randrange(len(rows))] for _ in rows]
            scores.append(balanced_accuracy([g for g, _ in sample], [p for _, p in sample], task_labels))
        draws.append(sum(scores) / len(scores))
    draws.sort()
    return [round(draws[int(0.025 * n)], 4), round(draws[int(0.975 * n) - 1], 4)]


def plot(methods: dict[str, dict[str, Any]], path: Path) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot (pip install matplotlib)")
        return None
    figure, axis = plt.subplots(figsize=(7, 4.5))
    base = methods["base"]["macro_balanced_accuracy"]
    axis.axhline(base, color="grey", linestyle="--", label=f"base ({base:.3f})")
    for key, result in methods.items():
        if key == "base" or not result.get("synthetic_tokens"):
            continue
        axis.scatter(result["synthetic_tokens"], result["macro_balanced_accuracy"], s=40)
        axis.annotate(key, (result["synthetic_tokens"], result["macro_balanced_accuracy"]),
                      textcoords="offset points", xytext=(5, 4), fontsize=8)
    axis.set_xscale("log")
    axis.set_xlabel("synthetic training tokens (log scale)")
    axis.set_ylabel("macro balanced accuracy")
    axis.set_title("LegalBench contract tasks: accuracy against synthetic tokens")
    axis.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    return path


def main() -> None:
    args = parse_args()
    from advqa.baselines import build_baseline
    from advqa.baselines.tokens import TokenCounter
    from advqa.evaluation import build_reference_corpus, evaluate
    from advqa.evaluation.legalbench import list_tasks
    from advqa.evaluation.reference import read_reference_documents
    from advqa.graph import ProbeSettings
    from advqa.graph.campaign import CampaignSettings, run_campaign
    from advqa.retrieval import build_index, load_index
    from advqa.training import TrainConfig, train

    if not (args.legalbench / "tasks").is_dir():
        raise SystemExit(f"{args.legalbench}: no LegalBench folder (tasks/<task>/...) there")
    tasks = list_tasks(args.legalbench, args.tasks)
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    run_started = time.perf_counter()
    counter = TokenCounter(args.student)
    stages: dict[str, dict[str, float]] = {}

    def timed(key: str, stage: str, started: float) -> None:
        stages.setdefault(key, {})[stage] = round(time.perf_counter() - started, 1)

    started = time.perf_counter()
    reference = work / "reference"
    build_reference_corpus(args.legalbench, tasks, reference, max_contracts=args.contracts)
    reference_documents = read_reference_documents(reference / "reference.json")
    build_index(reference, work / "index")
    index = load_index(work / "index")
    timed("advqa", "index", started)

    started = time.perf_counter()
    models = {role: args.generator for role in ("questioner", "expert", "critic")}
    models["student"] = args.student
    questions = task_questions(args.legalbench, tasks)
    # The questions are the guidance, and seed passages are the clauses closest to them.
    settings = CampaignSettings(seeds=args.seeds, concurrency=6,
                                guidance="Questions like: " + " / ".join(questions),
                                seed_focus="\n".join(questions),
                                probe=ProbeSettings(max_rounds=args.max_rounds, k=3))
    campaign = run_campaign(index, work / "advqa", models=models, settings=settings)
    datasets = {"advqa": work / "advqa/dataset.jsonl"}
    timed("advqa", "generate", started)
    advqa_tokens = text_tokens(datasets["advqa"], counter)
    if advqa_tokens == 0:
        raise SystemExit("the advqa campaign accepted no sample: nothing to compare")

    for kind in ("paraphrase", "entigraph", "raw"):
        for multiple in (1, args.scale):
            key = kind if multiple == 1 else f"{kind}_{multiple}x"
            started = time.perf_counter()
            out = work / "baselines" / f"{key}.jsonl"
            if not out.exists():
                build_baseline(kind, reference, advqa_tokens * multiple, out, generator=args.generator,
                               tokenizer=args.student)
            datasets[key] = out
            timed(key, "generate", started)

    adapters: dict[str, Path] = {}
    for key, dataset in [*datasets.items(), ("advqa_dpo", datasets["advqa"])]:
        started = time.perf_counter()
        config = TrainConfig(method="dpo" if key == "advqa_dpo" else "sft", epochs=args.epochs,
                             max_steps=args.max_steps)
        adapters[key] = work / "adapters" / key
        train(dataset, args.student, adapters[key], config)
        timed(key, "train", started)

    methods: dict[str, dict[str, Any]] = {}
    for key in ["base", *adapters]:
        started = time.perf_counter()
        result = evaluate(args.student, adapter=adapters.get(key), legalbench=args.legalbench,
                          tasks=tasks, limit=args.limit or None, prompt_style=args.prompt_style,
                          reference_documents=reference_documents, only_reference=True,
                          calibration=args.calibration, dtype=args.dtype)
        timed(key, "evaluate", started)
        source = datasets.get(key.removesuffix("_dpo")) if key != "base" else None
        synthetic = text_tokens(source, counter) if source else 0
        methods[key] = {
            "synthetic_tokens": synthetic,
            "training_tokens": round(synthetic * args.epochs) if source else 0,
            "macro_balanced_accuracy": result["macro"]["balanced_accuracy"],
            "macro_ci95": result["macro"].get("ci95") or macro_interval(result["tasks"]),
            "macro_balanced_accuracy_uncalibrated": result["macro"].get("uncalibrated", {}).get(
                "balanced_accuracy"),
            "tasks": result["tasks"],
            "seconds": stages.get(key, {}),
        }
        print(f"{key:>16}: tokens {synthetic:>7}  balanced accuracy "
              f"{methods[key]['macro_balanced_accuracy']:.3f} {methods[key]['macro_ci95']}")

    results = {
        "machine": machine(),
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "tasks": tasks,
        "reference_contracts": len(reference_documents),
        "advqa_campaign": {k: campaign[k] for k in ("probes", "accepted", "exhausted", "failed",
                                                      "duplicates_dropped", "model_calls", "tokens")},
        "methods": methods,
        "wall_seconds": round(time.perf_counter() - run_started, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    picture = plot(methods, args.out.with_suffix(".png"))
    results["plot"] = str(picture.relative_to(ROOT)) if picture and picture.is_relative_to(ROOT) else None
    args.out.write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(f"results: {args.out}" + (f", plot: {picture}" if picture else ""))


if __name__ == "__main__":
    main()
