"""Load: a campaign of 1,000 probes with scripted models at concurrency 64, its peak memory, and
whether its dataset, traces and stats agree.

The scripted models answer from the prompt alone (the throughput benchmark's `loop_reply`), so no
model is loaded and what is measured is advqa's own work: the graph, checkpoints, traces, dedup.
The corpus is generated: 40 contracts of 30 numbered clauses each.

    python benchmarks/load.py [--probes 1000] [--concurrency 64] [--out benchmarks/results/load.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Any

from langchain_core.language_models.chat_models import SimpleChatModel

from advqa.models.mock_server import loop_reply

ROOT = Path(__file__).resolve().parents[1]
PARTIES = ["Supplier", "Buyer", "Licensor", "Licensee", "Lessor", "Lessee", "Agent", "Principal"]
SYLLABLES = ["ka", "lo", "rex", "min", "ta", "vo", "sen", "dri", "pu", "gal"]
TOPICS = ["notice", "fees", "liability", "audit", "insurance", "renewal", "termination", "warranty",
          "confidentiality", "assignment"]


class PromptScriptedChatModel(SimpleChatModel):
    """A chat model whose reply is a function of the prompt (no weights, no server)."""

    model_label: str = "scripted:loop"

    @property
    def _llm_type(self) -> str:
        return "advqa-scripted"

    def _call(self, messages, stop=None, run_manager=None, **kwargs: Any) -> str:
        prompt = messages[-1].content
        passage = re.search(r"<passage[^>]*>(.*?)</passage>", prompt, re.S)
        if "Write one question" in prompt and passage:
            # The passage's own made-up product name, so that questions differ between passages.
            product = re.findall(r"for each (\w+) unit", passage.group(1)) or ["clause"]
            return f"What does the {product[0]} schedule clause provide?"
        return loop_reply({"messages": [{"content": prompt}]})


def write_corpus(folder: Path, documents: int = 40, clauses: int = 30) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for d in range(documents):
        lines = [f"# Agreement {d + 1}"]
        for c in range(clauses):
            first, second = PARTIES[(d + c) % 8], PARTIES[(d + 3 * c + 1) % 8]
            topic = TOPICS[(d * 7 + c) % len(TOPICS)]
            days = (c * 13 + d) % 90 + 10
            # A made-up product name per clause, so that every passage has words of its own.
            product = SYLLABLES[d % 10] + SYLLABLES[c % 10] + SYLLABLES[(d // 10 + c // 10) % 10]
            lines.append(f"{c + 1}. {topic.title()}. The {first} shall give the {second} {days} "
                         f"days' written notice about {topic} matters, and pays {(d + 1) * (c + 2) * 250} "
                         f"euros for each {product} unit where the {product} schedule is breached.")
        (folder / f"agreement_{d + 1:02d}.md").write_text("\n\n".join(lines) + "\n", encoding="utf-8")


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--probes", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--work", type=Path, default=ROOT / "runs/load")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/load.json")
    args = parser.parse_args()

    from advqa.campaign import CampaignSettings, run_campaign
    from advqa.graph import ProbeSettings
    from advqa.retrieval import build_index, load_index
    from advqa.retrieval.files import read_jsonl

    if args.work.exists():
        shutil.rmtree(args.work)
    write_corpus(args.work / "docs")
    build_index(args.work / "docs", args.work / "index", max_tokens=40, overlap_tokens=0)
    index = load_index(args.work / "index")
    index.embedder.encode(["warm up"])
    before = peak_rss_mib()
    models = {role: PromptScriptedChatModel() for role in ("questioner", "student", "expert", "critic")}
    settings = CampaignSettings(seeds=args.probes, concurrency=args.concurrency,
                                probe=ProbeSettings(max_rounds=2, k=4))
    started, cpu = time.perf_counter(), time.process_time()
    stats = run_campaign(index, args.work / "run", models=models, settings=settings)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    peak = peak_rss_mib()

    run = args.work / "run"
    events = read_jsonl(run / "traces.jsonl")
    dataset = [json.loads(line) for line in (run / "dataset.jsonl").read_text().splitlines() if line.strip()]
    duplicates = [json.loads(line) for line in (run / "duplicates.jsonl").read_text().splitlines()
                  if line.strip()] if (run / "duplicates.jsonl").exists() else []
    ends = Counter(e.get("outcome") if e["kind"] == "route" else "failed" for e in events
                   if (e["kind"] == "route" and e.get("outcome") != "revise") or e["kind"] == "probe_failed")
    ids = [s["meta"]["probe_id"] for s in dataset]
    calls = [e for e in events if e["kind"] == "model_call"]
    checks = {
        "every_probe_finished": stats["finished"] == stats["probes"] == args.probes,
        "dataset_lines_equal_accepted": len(dataset) == stats["accepted"],
        "no_probe_twice_in_dataset": len(ids) == len(set(ids)),
        "accepted_before_dedup_equals_dataset_plus_duplicates":
            stats["accepted_before_dedup"] == len(dataset) + len(duplicates),
        "model_calls_equal_traced_calls": stats["model_calls"] == len(calls),
        "tokens_equal_traced_tokens":
            stats["tokens"] == sum(e["input_tokens"] + e["output_tokens"] for e in calls),
        "outcomes_equal_traced_ends": (ends["accepted"], ends["exhausted"], ends["failed"]) == (
            stats["accepted_before_dedup"], stats["exhausted"], stats["failed"]),
    }
    results = {
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "python": platform.python_version()},
        "settings": {"probes": args.probes, "concurrency": args.concurrency, "max_rounds": 2,
                     "chunks": len(index.chunks), "documents": len(index.documents())},
        "stats": {k: stats[k] for k in ("probes", "finished", "accepted", "accepted_before_dedup",
                                        "duplicates_dropped", "exhausted", "failed", "errored",
                                        "model_calls", "rounds")},
        "seconds": round(seconds, 1), "cpu_seconds": round(cpu, 1),
        "probes_per_second": round(stats["probes"] / seconds, 1),
        "peak_rss_mib": round(peak, 1), "rss_before_campaign_mib": round(before, 1),
        "trace_events": len(events), "checks": checks, "consistent": all(checks.values()),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: results[k] for k in ("seconds", "peak_rss_mib", "rss_before_campaign_mib",
                                               "consistent", "checks", "stats")}, indent=2))
    print(f"results -> {args.out}")


if __name__ == "__main__":
    main()
