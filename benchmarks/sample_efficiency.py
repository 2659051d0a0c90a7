"""Sample efficiency: what each synthetic set teaches a student about its reference contracts.

N contracts of ../shared/cuad_qa/dev.jsonl (the most question rows, ties to the most `choice`
rows) are the reference corpus of every method. Each method's corpus is made from them: advqa's
campaign, its preference pairs (advqa_dpo), paraphrase, EntiGraph and raw corpora at advqa's token
count and at --scale times it, and three controls from the questions' own facts (the answer key,
the restated facts, and the facts as questions in words of our own: the ceiling of what a set can
teach). Every corpus trains the same student with the same recipe on the same number of tokens
(matched training compute: by default what the recipe's epochs feed the student from advqa's
corpus, so a corpus ten times larger gets a tenth of the passes), once per training seed; every
adapter is scored closed-book on all those contracts' question rows (with learned and forgotten
rows against the base model) and on the LegalBench cuad_* rows that come from them.

    python benchmarks/sample_efficiency.py [--out benchmarks/results/sample_efficiency.json]
                                           [--contracts 8] [--probes N] [--training-seeds 3]
                                           [--max-hours 3]

Each stage keeps its output under --keep (the campaign's parts and merged dataset, the generated
corpora, every adapter's scores, and the stages' wall times in timings.json), small files meant to
be committed; scratch (contracts and index, campaign run folders, raw corpora, adapters) goes under
--work. Run again, on this checkout or a fresh one, it continues where it stopped.
With --max-hours, no stage starts after that many hours of this invocation; the results written
then cover what is finished.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
FAMILIES = ("paraphrase", "entigraph", "raw")
CONTROLS = ("answer_key", "restated", "restated_qa")
STAGE_TIME_EVERY = 60.0  # seconds between writes of a running stage's time to timings.json


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/sample_efficiency.json")
    parser.add_argument("--work", type=Path, default=ROOT / "runs/sample_efficiency",
                        help="scratch: contracts, index, campaign run folders, adapters")
    parser.add_argument("--keep", type=Path, default=ROOT / "benchmarks/results/sample_efficiency",
                        help="each finished stage's output (campaign parts, corpora, scores, timings), "
                             "small enough to commit, so that a run on another checkout continues")
    parser.add_argument("--qa", type=Path, default=SHARED / "cuad_qa/dev.jsonl")
    parser.add_argument("--legalbench", type=Path, default=SHARED / "legalbench")
    parser.add_argument("--contracts", type=int, default=8, help="reference contracts")
    parser.add_argument("--student", default="bundled:smollm2-135m",
                        help="the model trained and evaluated: bundled:... or hf:<folder or hub id>")
    parser.add_argument("--student-role", default=None,
                        help="who plays the student in the campaign (default --student), e.g. the same "
                             "weights served by vLLM: openai:<model>")
    parser.add_argument("--generator", default="bundled:smollm2-135m",
                        help="questioner, expert, critic and baseline generator")
    parser.add_argument("--probes", type=int, default=None,
                        help="advqa seed passages (probes), spread over the contracts (default: every "
                             "passage, 333 of the default 8 contracts; a third to a half are accepted)")
    parser.add_argument("--min-accepted", type=int, default=100,
                        help="advqa samples the comparison needs; fewer is reported as a shortfall")
    parser.add_argument("--campaign-parts", type=int, default=6,
                        help="the campaign runs as this many workers one after another, each part kept "
                             "when it finishes: a run cut off loses at most the part it was in")
    parser.add_argument("--concurrency", type=int, default=16, help="advqa probes in flight")
    parser.add_argument("--workers", type=int, default=16, help="baseline generation calls in flight")
    parser.add_argument("--max-rounds", type=int, default=3, help="rounds per probe (advqa's default)")
    parser.add_argument("--scale", type=int, default=10, help="the larger baselines' token multiple")
    parser.add_argument("--methods", default="default",
                        help="comma-separated subset of advqa, advqa_dpo, paraphrase, entigraph, raw, "
                             "<family>_<scale>x, answer_key, restated, restated_qa; 'default' is every "
                             "one but restated_qa (a third control, about an hour of training a seed), "
                             "'all' every one")
    parser.add_argument("--training-seeds", type=int, default=3)
    parser.add_argument("--train-config", type=Path, default=None,
                        help="a TOML file with a [train] table (default: advqa train's defaults)")
    parser.add_argument("--max-steps", type=int, default=None,
                        help="optimizer steps for every method (default: what the recipe's epochs "
                             "give advqa's corpus)")
    parser.add_argument("--min-task-rows", type=int, default=5,
                        help="LegalBench cuad_* tasks with at least this many rows from the contracts")
    parser.add_argument("--calibration", default="batch", help="none | batch (see `advqa eval --help`)")
    parser.add_argument("--dtype", default="auto", help="evaluation dtype: float32 | bfloat16 | auto")
    parser.add_argument("--max-hours", type=float, default=None)
    parser.add_argument("--evaluate-only", action="store_true",
                        help="score adapters trained and not yet scored; generate and train nothing")
    parser.add_argument("--generate-only", action="store_true",
                        help="stop once every corpus is written (train and evaluate on another run)")
    return parser.parse_args(argv)


class OutOfTime(Exception):
    """--max-hours passed (or --generate-only): no further stage starts."""


class Stages:
    """Each stage's wall time, added up over invocations in timings.json (written every minute
    while a stage runs, so an invocation that is killed keeps most of its time); the time limit."""

    def __init__(self, work: Path, max_hours: float | None) -> None:
        self.file = work / "timings.json"
        self.seconds: dict[str, dict[str, float]] = (
            json.loads(self.file.read_text(encoding="utf-8")) if self.file.is_file() else {})
        self.deadline = None if max_hours is None else time.monotonic() + max_hours * 3600

    @contextmanager
    def run(self, method: str, stage: str):
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise OutOfTime(f"{method} {stage}")
        print(f"[{time.strftime('%H:%M:%S')}] {method}: {stage}", file=sys.stderr, flush=True)
        started, counted = time.perf_counter(), 0.0
        done = threading.Event()

        def add_time() -> None:
            nonlocal counted
            elapsed = time.perf_counter() - started
            spent = self.seconds.setdefault(method, {})
            spent[stage] = round(spent.get(stage, 0.0) + elapsed - counted, 1)
            counted = elapsed
            write_json(self.file, self.seconds)

        def every_minute() -> None:
            while not done.wait(STAGE_TIME_EVERY):
                add_time()

        clock = threading.Thread(target=every_minute, name="stage-clock", daemon=True)
        clock.start()
        try:
            yield
        finally:
            done.set()
            clock.join()
            add_time()

    def forget(self, method: str, stage: str) -> None:
        """Drop a stage's time kept from earlier invocations (its output was thrown away)."""
        if self.seconds.get(method, {}).pop(stage, None) is not None:
            write_json(self.file, self.seconds)


def machine() -> dict[str, Any]:
    import torch

    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(), "memory_gib": round(memory, 1), "python": platform.python_version(),
            "torch": torch.__version__, "gpu": torch.cuda.is_available()}


def same_scratch_corpus(corpus: Path, fingerprint: Path, scored: bool) -> None:
    """Refuse a corpus remade in scratch (a fresh checkout) that is not the one the kept scores trained
    on: a loader changed since makes other text from the same contracts, and its seeds would not compare.
    The corpus's sha256 is kept in `fingerprint`; it is (re)written while no adapter of it is scored."""
    digest = hashlib.sha256(corpus.read_bytes()).hexdigest()
    if scored and fingerprint.is_file() and read_json(fingerprint)["sha256"] != digest:
        raise SystemExit(f"{corpus}: not the corpus the kept scores of {corpus.stem} trained on (its sha256 "
                         f"is in {fingerprint}): remake it with the checkout named there, or delete the "
                         f"kept scores of {corpus.stem} to start it afresh")
    if not scored or not fingerprint.is_file():
        write_json(fingerprint, {"sha256": digest, "commit": commit()})


def scored_seeds(keep: Path, key: str) -> list[Path]:
    """The closed-book scores kept for a method, one per scored seed (the file that marks it done)."""
    return sorted((keep / "scores" / key).glob("seed*/closed_book.json"))


def commit() -> str | None:
    """This checkout's git commit, or None outside a git checkout."""
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


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


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    partial.replace(path)


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


def legalbench_tasks(legalbench: Path, documents: set[str], min_rows: int) -> list[str]:
    """The cuad_* tasks with at least `min_rows` test rows from the reference contracts."""
    from advqa.evaluation.legalbench import list_tasks, load_task

    counts = {name: sum(row.get("document_name") in documents for row in load_task(legalbench, name).rows)
              for name in list_tasks(legalbench, "cuad_*")}
    return sorted(name for name, count in counts.items() if count >= min_rows)


def method_names(args: argparse.Namespace) -> list[str]:
    every = ["advqa", "advqa_dpo", *FAMILIES, *(f"{family}_{args.scale}x" for family in FAMILIES), *CONTROLS]
    if args.methods == "all":
        return every
    if args.methods == "default":
        return [name for name in every if name != "restated_qa"]
    chosen = [name.strip() for name in args.methods.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in every]
    if unknown:
        raise SystemExit(f"--methods: unknown method '{unknown[0]}' (known: {', '.join(every)})")
    return chosen


def _pass(path: Path, student: str, recipe, method: str = "sft") -> tuple[int, int]:
    """(rows, tokens) of one pass over a training file as the student's trainer reads it (DPO's
    rows: the samples with a student answer, as preference pairs)."""
    from transformers import AutoTokenizer

    from advqa.models import checkpoint_path
    from advqa.training.data import preference_pairs, read_dataset, tokens_per_pass

    samples = read_dataset(path)
    rows = len(preference_pairs(samples)) if method == "dpo" else len(samples)
    tokenizer = AutoTokenizer.from_pretrained(checkpoint_path(student))
    return rows, tokens_per_pass(samples, tokenizer, method, recipe.max_length)


def training_budget(advqa: Path, student: str, recipe) -> int:
    """The tokens every adapter trains on: what the recipe's steps feed the student from advqa's corpus."""
    rows, tokens = _pass(advqa, student, recipe)
    return round(recipe.max_steps * recipe.batch_size * tokens / rows)


def matched_steps(path: Path, student: str, recipe, method: str, budget: int) -> int:
    """The optimizer steps that feed the student `budget` tokens of this corpus (matched compute: a
    corpus of longer samples takes fewer steps, a larger corpus fewer passes)."""
    rows, tokens = _pass(path, student, recipe, method)
    return max(1, round(budget / (recipe.batch_size * tokens / rows)))  # advqa's own: the recipe's steps


def closed_book_summary(rows, runs: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """A method's closed-book figures over its training seeds (`runs`: seed -> evaluate_closed_book)."""
    from advqa.evaluation.closed_book import score_over_seeds

    seeds = sorted(runs)
    predictions = [[runs[s]["predictions"][row.id]["predicted"] for row in rows] for s in seeds]
    summary = score_over_seeds(rows, predictions)
    per_seed = [{"seed": s, **{k: runs[s]["overall"].get(k) for k in ("choice_accuracy",
                                                                       "yes_no_balanced_accuracy")},
                 **{k: runs[s]["learned"][k] for k in ("learned", "forgotten", "baseline_wrong")}}
                for s in seeds if "learned" in runs[s]]
    if per_seed:
        for key in ("learned", "forgotten"):
            summary[key] = round(sum(entry[key] for entry in per_seed) / len(per_seed), 2)
        summary["baseline_wrong"] = per_seed[0]["baseline_wrong"]
    summary["seeds"] = per_seed or [{"seed": s} for s in seeds]
    return summary


def legalbench_summary(runs: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """A method's LegalBench figures: the mean macro balanced accuracy over seeds, its spread, and the
    first seed's tasks and bootstrap interval."""
    seeds = sorted(runs)
    macro = [runs[s]["macro"]["balanced_accuracy"] for s in seeds]
    first = runs[seeds[0]]
    uncalibrated = first["macro"].get("uncalibrated", {})
    return {
        "macro_balanced_accuracy": round(sum(macro) / len(macro), 4),
        "macro_ci95": first["macro"].get("ci95") or macro_interval(first["tasks"]),
        "macro_spread": [round(min(macro), 4), round(max(macro), 4)],
        "macro_balanced_accuracy_uncalibrated": uncalibrated.get("balanced_accuracy"),
        "legalbench_seeds": [{"seed": s, "macro_balanced_accuracy": m} for s, m in zip(seeds, macro)],
        "tasks": first["tasks"],
    }


def plot(methods: dict[str, dict[str, Any]], path: Path) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot (pip install matplotlib)")
        return None
    panels = [("closed-book choice accuracy", lambda m: (m.get("closed_book") or {}).get("choice_accuracy"),
               lambda m: ((m.get("closed_book") or {}).get("ci") or {}).get("choice")),
              ("closed-book yes/no balanced accuracy",
               lambda m: (m.get("closed_book") or {}).get("yes_no_balanced_accuracy"),
               lambda m: ((m.get("closed_book") or {}).get("ci") or {}).get("yes_no")),
              ("LegalBench macro balanced accuracy", lambda m: m.get("macro_balanced_accuracy"),
               lambda m: m.get("macro_ci95"))]
    figure, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    for axis, (title, value, interval) in zip(axes, panels):
        base = value(methods.get("base", {}))
        if base is not None:
            axis.axhline(base, color="grey", linestyle="--", label=f"base ({base:.3f})")
        for key, result in methods.items():
            y, ci = value(result), interval(result)
            if key == "base" or y is None or not result.get("synthetic_tokens"):
                continue
            x = result["synthetic_tokens"]
            error = [[y - ci[0]], [ci[1] - y]] if ci else None
            axis.errorbar(x, y, yerr=error, fmt="o", capsize=3,
                          color="black" if key in CONTROLS else None)
            axis.annotate(key, (x, y), textcoords="offset points", xytext=(5, 4), fontsize=8)
        axis.set_xscale("log")
        axis.set_xlabel("synthetic training tokens (log scale)")
        axis.set_title(title, fontsize=10)
        axis.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    return path


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from advqa.baselines import build_baseline, stats_path
    from advqa.baselines.tokens import TokenCounter
    from advqa.campaign import CampaignSettings
    from advqa.evaluation import evaluate
    from advqa.evaluation.closed_book import evaluate_closed_book, read_qa
    from advqa.evaluation.controls import (
        answer_key,
        choose_contracts,
        contract_cards,
        restated_facts,
        restated_questions,
    )
    from advqa.evaluation.reference import build_contract_corpus, read_reference_documents
    from advqa.graph import ProbeSettings
    from advqa.retrieval import build_index, load_index
    from advqa.retrieval.files import write_jsonl
    from advqa.training import load_train_config, train

    for path, what in ((args.qa, "closed-book questions"), (args.legalbench / "tasks", "LegalBench tasks")):
        if not path.exists():
            raise SystemExit(f"{path}: no {what} there")
    methods_wanted = method_names(args)
    work, keep = args.work, args.keep
    work.mkdir(parents=True, exist_ok=True)
    keep.mkdir(parents=True, exist_ok=True)
    stages = Stages(keep, args.max_hours)
    counter = TokenCounter(args.student)
    recipe = load_train_config(args.train_config, max_steps=args.max_steps)

    rows = read_qa(args.qa)
    contracts = choose_contracts(rows, args.contracts)
    chosen_rows = [row for row in rows if row.document in contracts]
    names = {Path(c).name for c in contracts}
    reference = work / "reference"
    if not (reference / "documents.json").is_file():
        with stages.run("reference", "contracts"):
            build_contract_corpus(args.legalbench, contracts, reference)
            write_json(reference / "documents.json", contract_cards(rows, contracts))
    if not (work / "index" / "manifest.json").is_file():
        with stages.run("reference", "index"):
            build_index(reference, work / "index")
    reference_documents = read_reference_documents(reference)
    tasks = legalbench_tasks(args.legalbench, reference_documents, args.min_task_rows)

    results: dict[str, Any] = {
        "machine": machine(),
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "recipe": recipe.to_dict(), "contracts": contracts, "tasks": tasks,
        "reference_contracts": len(contracts),
        "question_rows": {"choice": sum(r.kind == "choice" for r in chosen_rows),
                          "yes_no": sum(r.kind == "yes_no" for r in chosen_rows)},
        "methods": {},
    }
    status = "finished"
    try:
        datasets: dict[str, Path] = {}
        models = {role: args.generator for role in ("questioner", "expert", "critic")}
        models["student"] = args.student_role or args.student
        index = load_index(work / "index")
        every_passage = max(len(index.chunks_of(d)) for d in index.documents())
        settings = CampaignSettings(seeds=args.probes, concurrency=args.concurrency,
                                    seeds_per_document=every_passage if args.probes is None else None,
                                    probe=ProbeSettings(max_rounds=args.max_rounds))
        if args.evaluate_only and not (keep / "advqa" / "dataset.jsonl").is_file():
            raise SystemExit(f"--evaluate-only: no advqa campaign kept in {keep / 'advqa'}, so no adapter "
                             "of this run can have been trained yet")
        campaign = advqa_campaign(index, work / "advqa", keep / "advqa", models, settings,
                                  args.campaign_parts, stages)
        results["advqa_campaign"] = campaign
        results["advqa_campaign"]["shortfall"] = max(0, args.min_accepted - campaign["accepted"])
        datasets["advqa"] = datasets["advqa_dpo"] = keep / "advqa" / "dataset.jsonl"
        advqa_tokens = text_tokens(datasets["advqa"], counter)
        if advqa_tokens == 0:
            raise SystemExit("the advqa campaign accepted no sample: nothing to compare")
        datasets["answer_key"] = write_jsonl(work / "controls" / "answer_key.jsonl", answer_key(chosen_rows))
        datasets["restated"] = write_jsonl(work / "controls" / "restated.jsonl", restated_facts(chosen_rows))
        datasets["restated_qa"] = write_jsonl(work / "controls" / "restated_qa.jsonl",
                                              restated_questions(chosen_rows))
        if recipe.max_steps == -1:  # the steps the recipe's epochs give advqa's corpus
            samples = len(datasets["advqa"].read_text(encoding="utf-8").splitlines())
            recipe.max_steps = max(1, math.ceil(recipe.epochs * math.ceil(samples / recipe.batch_size)))
        budget = training_budget(datasets["advqa"], args.student, recipe)
        results["recipe"] = recipe.to_dict() | {"matched_training_tokens": budget}
        kept_recipe = keep / "recipe.json"  # every adapter of a run trains the same way, in any session
        if kept_recipe.is_file() and read_json(kept_recipe) != results["recipe"]:
            raise SystemExit(f"{kept_recipe} holds another training recipe than this run's "
                             "(--train-config, --max-steps): run with the same, or delete the kept scores")
        write_json(kept_recipe, results["recipe"])
        for family in FAMILIES:
            for multiple in (1, args.scale):
                key = family if multiple == 1 else f"{family}_{multiple}x"
                out = (work if family == "raw" else keep) / "baselines" / f"{key}.jsonl"  # raw: the contracts
                datasets[key] = out
                if key in methods_wanted and not stats_path(out).is_file() and not args.evaluate_only:
                    if not out.with_name(out.name + ".partial").is_file():
                        stages.forget(key, "generate")  # started afresh: earlier time made nothing kept
                    with stages.run(key, "generate"):
                        build_baseline(family, reference, advqa_tokens * multiple, out,
                                       generator=args.generator, tokenizer=args.student,
                                       workers=args.workers)
                if key in methods_wanted and out.is_relative_to(work) and out.is_file():
                    same_scratch_corpus(out, keep / "baselines" / f"{key}.sha256.json",
                                        scored=bool(scored_seeds(keep, key)))
        if args.generate_only:
            raise OutOfTime("training (--generate-only)")

        base_dir = keep / "scores" / "base"
        if not (base_dir / "closed_book.json").is_file():
            with stages.run("base", "evaluate"):
                write_json(base_dir / "legalbench.json", evaluate(
                    args.student, legalbench=args.legalbench, tasks=tasks, prompt_style="zero-shot",
                    reference_documents=reference_documents, only_reference=True,
                    calibration=args.calibration, dtype=args.dtype))
                write_json(base_dir / "closed_book.json",
                           evaluate_closed_book(args.student, args.qa, documents=names))
        untrained: list[str] = []  # what --evaluate-only left for a run that trains
        for seed in range(args.training_seeds):  # every method's first seed before any second
            for key in methods_wanted:
                adapter = work / "adapters" / key / f"seed{seed}"
                scores = keep / "scores" / key / f"seed{seed}"
                if (scores / "closed_book.json").is_file():
                    continue
                if not (adapter / "adapter_model.safetensors").is_file():
                    if args.evaluate_only:
                        untrained.append(f"{key} seed {seed} train")
                        continue
                    with stages.run(key, "train"):
                        method = "dpo" if key == "advqa_dpo" else "sft"
                        options = recipe.to_dict() | {"method": method, "seed": seed}
                        options["max_steps"] = matched_steps(datasets[key], args.student, recipe, method,
                                                             budget)
                        if method == "dpo":
                            options["learning_rate"] = None  # DPO's own default
                        train(datasets[key], args.student, adapter, type(recipe)(**options))
                with stages.run(key, "evaluate"):
                    scores.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(adapter / "loss.jsonl", scores / "loss.jsonl")
                    write_json(scores / "legalbench.json", evaluate(
                        args.student, adapter=adapter, legalbench=args.legalbench, tasks=tasks,
                        prompt_style="zero-shot", reference_documents=reference_documents,
                        only_reference=True, calibration=args.calibration, dtype=args.dtype))
                    write_json(scores / "closed_book.json", evaluate_closed_book(  # last: marks it done
                        args.student, args.qa, adapter=adapter, documents=names,
                        baseline=base_dir / "closed_book.json"))
        if untrained:
            raise OutOfTime(f"{untrained[0]} (--evaluate-only)")
    except OutOfTime as stopped:
        status = f"stopped before {stopped}: run again to continue"
        print(status, file=sys.stderr)

    summarize(results, work, keep, methods_wanted, chosen_rows, counter, stages.seconds)
    results["status"] = status
    results["wall_seconds"] = round(sum(s for stage in stages.seconds.values() for s in stage.values()), 1)
    picture = plot(results["methods"], args.out.with_suffix(".png"))
    picture = picture.resolve() if picture else None
    results["plot"] = str(picture.relative_to(ROOT)) if picture and picture.is_relative_to(ROOT) else None
    write_json(args.out, results)
    print_table(results)
    print(f"results: {args.out}" + (f", plot: {picture}" if picture else ""))
    return 0


def advqa_campaign(index, work: Path, keep: Path, models: dict[str, str], settings, parts: int,
                   stages: Stages) -> dict[str, Any]:
    """advqa's campaign, run as `parts` workers one after another, each in its own run folder
    under `work`. A finished part leaves its samples and figures in `keep`; once every part has,
    their samples are merged and deduplicated (as one campaign would) into keep/dataset.jsonl.
    Returns the campaign's figures."""
    from advqa.campaign import deduplicate, plan_seeds, run_campaign
    from advqa.campaign.sharding import Worker
    from advqa.campaign.stats import account_model_calls
    from advqa.retrieval.files import read_jsonl, write_jsonl

    order = [c.id for c in plan_seeds(index, settings.seeds, settings.seeds_per_document,
                                      settings.seed_focus.splitlines())]
    for part in range(1, parts + 1):
        name = f"part-{part}-of-{parts}"
        if (keep / f"{name}.json").is_file():
            if read_json(keep / f"{name}.json")["campaign_probes"] != len(order):
                raise SystemExit(f"{keep / name}.json was planned with another number of probes than "
                                 f"{len(order)}: run with the same --probes, or delete the kept parts")
            continue
        with stages.run("advqa", "generate"):
            summary = run_campaign(index, work / name, models=models, settings=settings,
                                   worker=Worker(part, parts))
            if summary["errored"]:
                raise SystemExit(f"advqa campaign {name}: {summary['errored']} probes errored: "
                                 f"{summary['errors']}; run again to retry them")
            calls = account_model_calls(read_jsonl(work / name / "traces.jsonl"))
            write_jsonl(keep / f"{name}.jsonl", read_jsonl(work / name / "dataset.jsonl"))  # may be empty
            write_json(keep / f"{name}.json", summary | {"model_calls": calls["model_calls"],
                                                         "tokens": calls["tokens"]})
    figures = [read_json(keep / f"part-{p}-of-{parts}.json") for p in range(1, parts + 1)]
    if not (keep / "dataset.jsonl").is_file():
        merged = work / "merged"
        merged.mkdir(parents=True, exist_ok=True)
        write_jsonl(merged / "dataset.jsonl", [row for p in range(1, parts + 1)
                                               for row in read_jsonl(keep / f"part-{p}-of-{parts}.jsonl")])
        (merged / "duplicates.jsonl").unlink(missing_ok=True)
        deduplicate(merged, order, index.embedder, settings.dedup_threshold)
        for file in ("duplicates.jsonl", "dataset.jsonl"):  # the dataset last: it marks the merge done
            if (merged / file).is_file():
                shutil.copyfile(merged / file, keep / file)
    kept = len(read_jsonl(keep / "dataset.jsonl"))
    return {"probes": sum(f["probes"] for f in figures), "parts": parts, "accepted": kept,
            "accepted_before_dedup": sum(f["accepted"] for f in figures),
            "duplicates_dropped": sum(f["accepted"] for f in figures) - kept,
            **{k: sum(f[k] for f in figures) for k in ("exhausted", "failed", "model_calls", "tokens")}}


def summarize(results: dict[str, Any], work: Path, keep: Path, methods: list[str], rows, counter,
              seconds: dict[str, dict[str, float]]) -> None:
    """Read every finished score file into results["methods"]."""
    sources = {"advqa": keep / "advqa" / "dataset.jsonl", "advqa_dpo": keep / "advqa" / "dataset.jsonl",
               "answer_key": work / "controls" / "answer_key.jsonl",
               "restated": work / "controls" / "restated.jsonl",
               "restated_qa": work / "controls" / "restated_qa.jsonl"}
    base_dir = keep / "scores" / "base"
    if (base_dir / "closed_book.json").is_file():
        results["methods"]["base"] = {
            "synthetic_tokens": 0, "training_tokens": 0,
            **legalbench_summary({0: read_json(base_dir / "legalbench.json")}),
            "closed_book": closed_book_summary(rows, {0: read_json(base_dir / "closed_book.json")}),
            "seconds": seconds.get("base", {})}
    for key in methods:
        folders = scored_seeds(keep, key)
        if not folders:
            continue
        seeds = {int(f.parent.name.removeprefix("seed")): f.parent for f in folders}
        source = sources.get(key, (work if key.startswith("raw") else keep) / "baselines" / f"{key}.jsonl")
        synthetic = text_tokens(source, counter)
        epochs = [_last_epoch(folder) for folder in seeds.values()]
        results["methods"][key] = {
            "synthetic_tokens": synthetic,
            "training_tokens": round(synthetic * sum(epochs) / len(epochs)),
            **legalbench_summary({s: read_json(d / "legalbench.json") for s, d in seeds.items()}),
            "closed_book": closed_book_summary(rows, {s: read_json(d / "closed_book.json")
                                                      for s, d in seeds.items()}),
            "seconds": seconds.get(key, {}),
        }


def _last_epoch(scores: Path) -> float:
    """How many passes over its corpus an adapter's training made (the loss log's last epoch)."""
    lines = (scores / "loss.jsonl").read_text(encoding="utf-8").splitlines()
    return float(json.loads(lines[-1]).get("epoch") or 0) if lines else 0.0


def print_table(results: dict[str, Any]) -> None:
    print(f"{'method':>16} {'tokens':>8}  {'choice acc [95%]':<22} {'yes/no bal. acc [95%]':<22} "
          f"{'learned/forgot':<15} {'LegalBench':<10}")
    for key, m in results["methods"].items():
        closed = m["closed_book"]
        cells = []
        for kind, name in (("choice", "choice_accuracy"), ("yes_no", "yes_no_balanced_accuracy")):
            low, high = closed["ci"].get(kind, [0, 0])
            cells.append(f"{closed.get(name, 0):.3f} [{low:.3f},{high:.3f}]")
        change = f"{closed.get('learned', '-')}/{closed.get('forgotten', '-')}"
        print(f"{key:>16} {m['synthetic_tokens']:>8}  {cells[0]:<22} {cells[1]:<22} {change:<15} "
              f"{m['macro_balanced_accuracy']:.3f}")


if __name__ == "__main__":
    raise SystemExit(main())
