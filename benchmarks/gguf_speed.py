"""Tokens per second of the bundled model: llama.cpp on its GGUF file against transformers.

Needs the `llamacpp` extra. Each backend answers the same prompts one at a time (no batching),
greedy, up to --max-tokens tokens, after one unmeasured reply of the same shape; every prompt
starts differently so that no prompt cache can skip a prefill. Writes
benchmarks/results/gguf_speed.json.

    python benchmarks/gguf_speed.py [--repeats 3] [--max-tokens 64] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

from advqa.examples import EXAMPLES_DIR
from advqa.models import load_chat_model

SHORT = "Question {i}: what does an early termination fee usually compensate a lessor for?"


def long_prompt(i: int) -> str:
    """About 900 tokens: an expert-style prompt with contract passages."""
    text = sorted(EXAMPLES_DIR.glob("*.md"))[0].read_text(encoding="utf-8")
    words = text.split()[: 620]
    return (f"Question {i}: under this contract, when may the customer terminate early, and what "
            f"does it pay?\n\nAnswer from these passages only.\n\n" + " ".join(words))


def measure(spec: str, prompts: list[str], max_tokens: int, **options) -> dict:
    model = load_chat_model(spec, **options)
    # Not measured: loading, and a first reply of the same shape (torch builds its CPU kernels
    # for each new sequence length the first time it meets it, which makes a first reply
    # several times slower).
    model.invoke("Warm up. " + prompts[0], max_tokens=max_tokens)
    runs = []
    for prompt in prompts:
        started = time.perf_counter()
        reply = model.invoke(prompt, max_tokens=max_tokens)
        seconds = time.perf_counter() - started
        usage = reply.usage_metadata
        runs.append({"seconds": round(seconds, 3), "input_tokens": usage["input_tokens"],
                     "output_tokens": usage["output_tokens"]})
    return {
        "runs": runs,
        "median_seconds": round(statistics.median(r["seconds"] for r in runs), 3),
        "output_tokens_per_second": round(sum(r["output_tokens"] for r in runs)
                                          / sum(r["seconds"] for r in runs), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).parent / "results" / "gguf_speed.json")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    results = {"machine": {"cpus": os.cpu_count(), "threads": args.threads,
                           "processor": platform.processor() or platform.machine(),
                           "load_average_at_start": os.getloadavg()},
               "max_tokens": args.max_tokens, "repeats": args.repeats, "backends": {}}
    backends = {"transformers (bundled:smollm2-135m)": ("bundled:smollm2-135m", {}),
                "llama.cpp (gguf:bundled, Q4_1)": ("gguf:bundled", {"n_threads": args.threads})}
    for name, (spec, options) in backends.items():
        results["backends"][name] = {
            "short_prompt": measure(spec, [SHORT.format(i=i) for i in range(args.repeats)],
                                    args.max_tokens, **options),
            "long_prompt": measure(spec, [long_prompt(i) for i in range(args.repeats)],
                                   args.max_tokens, **options),
        }
        print(name, json.dumps({k: {m: v[m] for m in ("median_seconds", "output_tokens_per_second")}
                                for k, v in results["backends"][name].items()}), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
