"""The sample-efficiency results as markdown: per method, then the wall time per stage.

Reads the results JSON that benchmarks/sample_efficiency.py writes and the stage clock it keeps
(timings.json), and prints the two tables the README and a closing note give:

    python benchmarks/sample_efficiency_table.py [--results benchmarks/results/sample_efficiency.json]
                                                 [--timings KEEP/timings.json]

Closed-book and LegalBench figures are means over the seeds scored, with the 95% bootstrap
interval of that mean (rows resampled) and the spread (lowest and highest seed) when there are
several seeds. Stage times are sums over invocations; train and evaluate are also given per scored
adapter (exact once the run has finished: before, an adapter trained and not yet scored adds its
time to the sum but not to the count).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "sample_efficiency.json"


def interval(mean: float, ci: list[float] | None, spread: list[float] | None, seeds: int) -> str:
    """`0.23 [0.11, 0.36] (0.22-0.25)`: mean, bootstrap interval, and the seeds' spread when several."""
    text = f"{mean:.2f}"
    if ci:
        text += f" [{ci[0]:.2f}, {ci[1]:.2f}]"
    if spread and seeds > 1:
        text += f" ({spread[0]:.2f}-{spread[1]:.2f})"
    return text


def method_rows(results: dict[str, Any]) -> list[str]:
    lines = ["| method | synthetic tokens | seeds | closed-book choice [95% CI] (spread) | yes/no balanced "
             "[95% CI] (spread) | learned / forgotten (mean) | LegalBench macro [CI] (spread) |",
             "|---|---|---|---|---|---|---|"]
    for key, method in results["methods"].items():
        closed = method["closed_book"]
        seeds = len(closed.get("seeds", []))
        if not seeds:  # nothing scored yet
            continue
        cells = [key, f"{method['synthetic_tokens']:,}", str(seeds) if key != "base" else "-"]
        for kind, name in (("choice", "choice_accuracy"), ("yes_no", "yes_no_balanced_accuracy")):
            spread = closed.get("spread", {}).get(kind)
            cells.append(interval(closed[name], closed["ci"].get(kind), spread, seeds))
        cells.append("-" if key == "base" else f"{closed['learned']:g} / {closed['forgotten']:g}")
        cells.append(interval(method["macro_balanced_accuracy"], method.get("macro_ci95"),
                              method.get("macro_spread"), seeds))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def stage_rows(results: dict[str, Any], timings: dict[str, dict[str, float]]) -> list[str]:
    lines = ["| stage | generate s | train s (per adapter) | evaluate s (per adapter) |", "|---|---|---|---|"]
    for key, stages in timings.items():
        if key == "reference":
            lines.append(f"| {key} | {sum(stages.values()):,.0f} (contracts and index) | - | - |")
            continue
        method = results["methods"].get(key, {})
        adapters = len(method.get("closed_book", {}).get("seeds", [])) or 1
        cells = [key]
        for stage in ("generate", "train", "evaluate"):
            seconds = stages.get(stage)
            if seconds is None:
                cells.append("-")
            elif stage == "generate" or key == "base":
                cells.append(f"{seconds:,.0f}")
            else:
                cells.append(f"{seconds:,.0f} ({seconds / adapters:,.0f})")
        lines.append("| " + " | ".join(cells) + " |")
    total = sum(s for stages in timings.values() for s in stages.values())
    lines.append(f"| all | {total:,.0f} s = {total / 3600:.1f} h | | |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--timings", type=Path, default=None,
                        help="the stage clock (default: timings.json in the results' keep folder)")
    args = parser.parse_args(argv)
    if not args.results.is_file():
        print(f"{args.results}: no results there (run benchmarks/sample_efficiency.py)", file=sys.stderr)
        return 2
    results = json.loads(args.results.read_text(encoding="utf-8"))
    timings_path = args.timings or Path(results["settings"]["keep"]) / "timings.json"
    if not timings_path.is_absolute():
        timings_path = ROOT / timings_path
    print("\n".join(method_rows(results)))
    if timings_path.is_file():
        print()
        print("\n".join(stage_rows(results, json.loads(timings_path.read_text(encoding="utf-8")))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
