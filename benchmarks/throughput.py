"""Throughput on one machine: concurrency, local batching, cold start and the response cache.

Four measurements, side by side in one run:

- mock: a campaign whose four roles are `openai:` models on a mock OpenAI-compatible server
  (loopback, a fixed latency per call), through the real client path (spec -> ChatOpenAI ->
  run_campaign), at concurrency 1 and 16: probes per second, and the speedup; at 1 s per call
  (a short reply from a hosted model) and at 200 ms. At 200 ms the probes' own CPU work in
  this process (mostly the embedder: a question and an answer per probe) is what limits
  concurrency 16 on 2 cores, not waiting for the server.
- local: the bundled model (its LocalEngine micro-batches concurrent requests): generated
  tokens per second over a whole campaign, against raw batched `model.generate` on the same
  prompts (batches of the engine's max batch size, greedy, the same token budgets, the chat
  template and reply repetition penalty applied as the engine does).
- cold: a fresh process, from load_chat_model("bundled:smollm2-135m") to a first reply of a
  few tokens, with the converted checkpoint cached and with an empty cache, phase by phase;
  and cached after the embedder has loaded, as in `advqa generate`.
- rerun: a campaign run again into a new run directory with the same response cache (so the
  checkpointer cannot be what answers): model calls made (the target is none).

    python benchmarks/throughput.py [--out benchmarks/results/throughput.json] [--parts mock,local,cold,rerun]

About twenty minutes on a 2-core CPU, most of it the bundled model's campaign and its raw replay.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from advqa.roles import ROLES

ROOT = Path(__file__).resolve().parents[1]
PARTS = ("mock", "local", "cold", "rerun")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/throughput.json")
    parser.add_argument("--work", type=Path, default=ROOT / "runs/throughput")
    parser.add_argument("--parts", default=",".join(PARTS), help="which measurements to run")
    parser.add_argument("--probes", type=int, default=96, help="probes of the mock campaigns")
    parser.add_argument("--latencies", default="1.0,0.2",
                        help="the mock server's seconds per call, one pair of campaigns each; the "
                             "first gives mock_speedup_16_vs_1, the last serves the rerun part")
    parser.add_argument("--concurrency", type=int, default=16, help="compared with concurrency 1")
    parser.add_argument("--local-probes", type=int, default=8, help="probes of the bundled campaign")
    parser.add_argument("--cold-repeats", type=int, default=3, help="cached cold starts (median taken)")
    parser.add_argument("--torch-threads", type=int, default=None,
                        help="torch threads for everything measured (default: torch's, one per core)")
    return parser.parse_args()


def machine() -> dict[str, Any]:
    import torch
    import transformers

    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(), "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "transformers": transformers.__version__,
            # Other jobs on the machine slow the CPU-bound parts: the load when this ran.
            "load_average_1m": round(os.getloadavg()[0], 2)}


# --- the mock server's replies ------------------------------------------------------------------

def examples_index(work: Path):
    """The bundled example contracts, indexed once into WORK/index."""
    from advqa.examples import EXAMPLES_DIR
    from advqa.retrieval import build_index, load_index

    if not (work / "index" / "manifest.json").exists():
        build_index(EXAMPLES_DIR, work / "index")
    return load_index(work / "index")


def _fresh(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    return path


def _calls(run: Path) -> list[dict[str, Any]]:
    from advqa.retrieval.files import read_jsonl

    return [e for e in read_jsonl(run / "traces.jsonl") if e.get("kind") == "model_call"]


def _mock_models(base_url: str) -> dict[str, Any]:
    from advqa.models import load_chat_model

    return {role: load_chat_model("openai:mock", base_url=base_url) for role in ROLES}


def _settings(probes: int, concurrency: int, max_rounds: int = 2, k: int = 4,
              torch_threads: int | None = None):
    from advqa.campaign import CampaignSettings
    from advqa.graph import ProbeSettings

    return CampaignSettings(seeds=probes, concurrency=concurrency, torch_threads=torch_threads,
                            probe=ProbeSettings(max_rounds=max_rounds, k=k))


# --- (a) concurrency against a mock server ------------------------------------------------------

class ServerProcess:
    """The mock server in a process of its own, as a real server would be: in this process its
    request threads would compete with the campaign's threads for the interpreter lock."""

    def __init__(self, latency: float):
        import multiprocessing

        self._connection, child = multiprocessing.Pipe()
        self._process = multiprocessing.get_context("spawn").Process(
            target=_serve, args=(child, latency), daemon=True)

    def __enter__(self) -> ServerProcess:
        self._process.start()
        self.base_url = self._connection.recv()
        return self

    def __exit__(self, *exc) -> None:
        self._connection.send("stop")
        self._process.join(timeout=10)

    def reset(self) -> None:
        self._connection.send("reset")
        self._connection.recv()

    def counts(self) -> tuple[int, int]:
        """(requests seen, most requests in flight at once) since the last reset."""
        self._connection.send("counts")
        return self._connection.recv()


def _serve(connection, latency: float) -> None:
    from advqa.models.mock_server import MockOpenAIServer, loop_reply

    with MockOpenAIServer(latency=latency, reply=loop_reply) as server:
        connection.send(server.base_url)
        while (command := connection.recv()) != "stop":
            if command == "reset":
                server.reset()
                connection.send(None)
            else:
                connection.send((len(server.requests), server.max_in_flight))


def mock_throughput(index, work: Path, args: argparse.Namespace, latency: float) -> dict[str, Any]:
    from advqa.campaign import run_campaign
    from advqa.campaign.threads import probe_torch_threads
    results: dict[str, Any] = {}
    with ServerProcess(latency) as server:
        models = _mock_models(server.base_url)
        # Warm up (embedder, HTTP client) outside the measurement.
        run_campaign(index, _fresh(work / "mock-warmup"), models=models, settings=_settings(2, 2))
        for concurrency in (1, args.concurrency):
            server.reset()
            index.embedder.forget()  # the second run would otherwise find the first one's vectors
            run = _fresh(work / f"mock-c{concurrency}")
            started, cpu = time.perf_counter(), time.process_time()
            settings = _settings(args.probes, concurrency, torch_threads=args.torch_threads)
            stats = run_campaign(index, run, models=models, settings=settings)
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
            requests, max_in_flight = server.counts()
            results[f"concurrency_{concurrency}"] = {
                "probes": stats["probes"], "finished": stats["finished"], "accepted": stats["accepted"],
                "rounds": stats["rounds"], "model_calls": stats["model_calls"],
                "server_requests": requests, "server_max_in_flight": max_in_flight,
                "seconds": round(seconds, 2), "probes_per_second": round(stats["probes"] / seconds, 3),
                "calls_per_second": round(stats["model_calls"] / seconds, 2),
                # This process's CPU time (the campaign; the server runs in another process):
                # the probes' own work, which waiting for the server cannot hide on 2 cores.
                "cpu_seconds": round(cpu, 2), "cpu_seconds_per_probe": round(cpu / stats["probes"], 3),
                "load_average_1m": round(os.getloadavg()[0], 2),
            }
            print(f"mock {latency}s, concurrency {concurrency:>2}: {stats['probes']} probes "
                  f"in {seconds:.1f}s "
                  f"({stats['model_calls']} calls, at most {max_in_flight} in flight)", flush=True)
    one, many = results["concurrency_1"], results[f"concurrency_{args.concurrency}"]
    results["speedup"] = round(many["probes_per_second"] / one["probes_per_second"], 2)
    results["latency_s"] = latency
    # With every role on the server, the probes run with one torch thread (the embedder's).
    results["probe_torch_threads"] = probe_torch_threads(args.torch_threads, models)
    return results


# --- (b) the bundled model: engine against raw batched generate --------------------------------

def local_throughput(index, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    from advqa.agents import ResponseCache
    from advqa.campaign import run_campaign
    from advqa.models import load_chat_model

    model = load_chat_model("bundled:smollm2-135m")
    engine = model.engine
    model.invoke("Say hello.", max_tokens=4)  # load the weights outside the measurement
    batches: list[dict[str, Any]] = []
    generate = engine.generate

    def timed(chats, params, budgets=None):
        started = time.perf_counter()
        completions = generate(chats, params, budgets)
        batches.append({"size": len(chats), "seconds": round(time.perf_counter() - started, 2),
                        "sampling": params.temperature > 0,
                        "output_tokens": sum(c.output_tokens for c in completions),
                        "max_new_tokens": max(budgets or [params.max_new_tokens]),
                        "prompt_tokens": [c.input_tokens for c in completions]})
        return completions

    engine.generate = timed  # the engine's worker calls self.generate: count every batch
    settings = _settings(args.local_probes, args.local_probes, max_rounds=1, k=3)
    run = _fresh(work / "local-run")
    cache_path = work / "local-cache.sqlite"
    cache_path.unlink(missing_ok=True)
    cache = ResponseCache(cache_path)  # empty: every call misses; filled for the rerun below
    started = time.perf_counter()
    stats = run_campaign(index, run, models=dict.fromkeys(ROLES, model), settings=settings, cache=cache)
    campaign_seconds = time.perf_counter() - started
    engine.generate = generate
    calls = [c for c in _calls(run) if not c.get("cached")]
    engine_tokens = sum(c["output_tokens"] for c in calls)
    busy = sum(b["seconds"] for b in batches)
    print(f"local campaign: {len(calls)} calls, {engine_tokens} tokens in {campaign_seconds:.1f}s "
          f"({len(batches)} generate calls, {busy:.1f}s busy)", flush=True)

    budgets = settings.probe.max_tokens
    raw = raw_generate(engine, [(c["prompt"], budgets[c["role"]]) for c in calls])
    for batch in batches:
        batch["padding_share"] = _padding(batch.pop("prompt_tokens"))
    print(f"raw generate: {raw['output_tokens']} tokens in {raw['seconds']:.1f}s", flush=True)

    started = time.perf_counter()
    rerun = run_campaign(index, _fresh(work / "local-rerun"), models=dict.fromkeys(ROLES, model),
                         settings=settings, cache=cache)
    rerun_seconds = time.perf_counter() - started
    cache.close()
    engine_tps = engine_tokens / campaign_seconds
    return {
        "probes": stats["probes"], "accepted": stats["accepted"], "calls": len(calls),
        "campaign_seconds": round(campaign_seconds, 2), "output_tokens": engine_tokens,
        "tokens_per_second": round(engine_tps, 2),
        "generate_calls": len(batches),
        "batches": batches,
        "seconds_in_single_request_batches": round(sum(b["seconds"] for b in batches if b["size"] == 1), 2),
        "padding_share": _padding_share(batches),
        "generate_busy_seconds": round(busy, 2),
        "tokens_per_busy_second": round(engine_tokens / busy, 2) if busy else None,
        "raw": raw,
        "ratio": round(engine_tps / raw["tokens_per_second"], 3),
        "busy_ratio": round(engine_tokens / busy / raw["tokens_per_second"], 3) if busy else None,
        "rerun_model_calls": sum(not c.get("cached") for c in _calls(work / "local-rerun")),
        "rerun_seconds": round(rerun_seconds, 2), "rerun_accepted": rerun["accepted"],
        "max_batch_size": engine.max_batch_size, "dtype": str(engine._load()[0].dtype),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def raw_generate(engine, prompts: list[tuple[str, int]]) -> dict[str, Any]:
    """The same prompts through plain batched `model.generate`: batches of the engine's max batch
    size (similar budgets together), greedy, the reply-only repetition penalty, each reply cut at
    its own budget and counted as the engine counts (up to and with the end-of-sequence token)."""
    import torch
    from transformers import LogitsProcessorList

    from advqa.models.local_chat import ReplyRepetitionPenalty, _eos_ids

    model, tokenizer = engine._load()
    eos = _eos_ids(model, tokenizer)
    ordered = sorted(prompts, key=lambda p: p[1])
    size = engine.max_batch_size
    seconds, tokens = 0.0, 0
    batches = []
    for start in range(0, len(ordered), size):
        batch = ordered[start:start + size]
        texts = [tokenizer.apply_chat_template([{"role": "user", "content": p}], add_generation_prompt=True,
                                               tokenize=False) for p, _ in batch]
        encoded = tokenizer(texts, return_tensors="pt", padding=True, truncation=True,
                            max_length=engine.max_input_tokens, add_special_tokens=False)
        width = encoded["input_ids"].shape[1]
        penalty = LogitsProcessorList([ReplyRepetitionPenalty(1.1, width)])
        began = time.perf_counter()
        with torch.inference_mode():
            output = model.generate(**encoded, max_new_tokens=max(b for _, b in batch), do_sample=False,
                                    temperature=None, top_p=None, top_k=None,
                                    pad_token_id=tokenizer.pad_token_id, logits_processor=penalty)
        took = time.perf_counter() - began
        seconds += took
        made = 0
        for row, (_, budget) in zip(output[:, width:].tolist(), batch):
            row = row[:budget]
            stop = next((i for i, t in enumerate(row) if t in eos), None)
            made += len(row) if stop is None else stop + 1
        tokens += made
        batches.append({"size": len(batch), "seconds": round(took, 2), "output_tokens": made,
                        "max_new_tokens": max(b for _, b in batch),
                        "padding_share": _padding(encoded["attention_mask"].sum(dim=1).tolist())})
    return {"prompts": len(prompts), "output_tokens": tokens, "seconds": round(seconds, 2),
            "tokens_per_second": round(tokens / seconds, 2), "batches": batches,
            "padding_share": _padding_share(batches)}


def _padding(lengths: list[int]) -> float:
    """The share of a left-padded batch's prompt positions that are padding."""
    return round(1 - sum(lengths) / (len(lengths) * max(lengths)), 3) if lengths else 0.0


def _padding_share(batches: list[dict[str, Any]]) -> float:
    """Padding share over all batches, each weighted by its time."""
    total = sum(b["seconds"] for b in batches)
    return round(sum(b["padding_share"] * b["seconds"] for b in batches) / total, 3) if total else 0.0


# --- (c) cold start -----------------------------------------------------------------------------

COLD = """
import json, os, time
began = time.perf_counter()
import torch
torch_s = time.perf_counter() - began
import transformers
transformers_s = time.perf_counter() - began - torch_s
mark = time.perf_counter()
from advqa.models import load_chat_model
advqa_s = time.perf_counter() - mark
if os.environ.get("BENCH_EMBEDDER_FIRST"):  # as `advqa generate` does: the index's embedder first
    from advqa.retrieval import Embedder
    Embedder().encode(["warm up"])
start = time.perf_counter()
model = load_chat_model("bundled:smollm2-135m")
spec_s = time.perf_counter() - start
reply = model.invoke("Say hello in three words.", max_tokens=8)
total = time.perf_counter() - start
print(json.dumps({"cold_start_s": total, "load_chat_model_s": spec_s,
                  "weights_load_s": model.engine.load_seconds,
                  "first_generate_s": total - spec_s - model.engine.load_seconds,
                  "import_torch_s": torch_s, "import_transformers_s": transformers_s,
                  "import_advqa_s": advqa_s, "reply": reply.text}))
"""


# The same steps one by one, to see where a cold start's time goes (separately: timing them
# means importing transformers' auto classes before the clock starts).
PHASES = """
import json, time
from advqa.models import bundled_checkpoint, engine_for
from advqa.models.local_chat import GenerationParams
clock = time.perf_counter
began = clock()
path = str(bundled_checkpoint())
found = clock()
from transformers import AutoModelForCausalLM, AutoTokenizer, LogitsProcessorList
imported = clock()
AutoTokenizer.from_pretrained(path)
tokenizer = clock()
engine = engine_for(path)
model, _ = engine._load()
loaded = clock()
params = GenerationParams(8, 0.0, 0.95, 1.1, 0)
engine.generate([[{"role": "user", "content": "Say hello in three words."}]], params)
first = clock()
engine.generate([[{"role": "user", "content": "Say goodbye in three words."}]], params)
second = clock()
print(json.dumps({"find_checkpoint_s": found - began, "import_transformers_classes_s": imported - found,
                  "tokenizer_load_s": tokenizer - imported,
                  "engine_load_s (tokenizer again, and model)": engine.load_seconds,
                  "first_generate_s": first - loaded,
                  "second_generate_s": second - first, "dtype": str(model.dtype)}))
"""


def cold_start(args: argparse.Namespace) -> dict[str, Any]:
    """Cached and uncached cold starts; the cached one also with one torch thread, because a
    2-core machine with anything else running makes two threads wait on each other, and after
    the embedder has loaded, as in `advqa generate`, which has loaded the index's embedder (and
    with it most of the transformers and torch modules the model needs) before any model."""
    cache = Path(tempfile.mkdtemp(prefix="advqa-cold-"))
    results: dict[str, Any] = {}
    try:
        results["uncached"] = _cold_process(cache)  # empty cache: converts the GGUF file first
        for name, threads, embedder_first in (("cached", None, False), ("cached_one_thread", 1, False),
                                              ("cached_after_embedder", None, True)):
            runs = [_cold_process(cache, threads=threads, embedder_first=embedder_first)
                    for _ in range(args.cold_repeats)]
            median = statistics.median(r["cold_start_s"] for r in runs)
            results[name] = min(runs, key=lambda r: abs(r["cold_start_s"] - median))  # the median run
            results[f"{name}_runs_s"] = [r["cold_start_s"] for r in runs]
            if not embedder_first:
                results[f"{name}_phases"] = _cold_process(cache, PHASES, threads=threads)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    results["load_average_1m"] = round(os.getloadavg()[0], 2)
    print(f"cold start: {results['cached']['cold_start_s']:.2f}s cached "
          f"({results['cached_one_thread']['cold_start_s']:.2f}s with one torch thread, "
          f"{results['cached_after_embedder']['cold_start_s']:.2f}s after the embedder), "
          f"{results['uncached']['cold_start_s']:.2f}s uncached", flush=True)
    return results


def _cold_process(cache: Path, script: str = COLD, threads: int | None = None,
                  embedder_first: bool = False) -> dict[str, Any]:
    env = {**os.environ, "ADVQA_CACHE_DIR": str(cache), "TRANSFORMERS_VERBOSITY": "error",
           "TOKENIZERS_PARALLELISM": "false"}
    if embedder_first:
        env["BENCH_EMBEDDER_FIRST"] = "1"
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)  # torch's default thread count comes from it
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_s"] = time.perf_counter() - began
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()}


# --- (d) a rerun answered by the response cache -------------------------------------------------

def rerun_with_cache(index, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    from advqa.agents import ResponseCache
    from advqa.campaign import run_campaign
    from advqa.models.mock_server import MockOpenAIServer, loop_reply

    path = work / "rerun-cache.sqlite"
    path.unlink(missing_ok=True)
    # All probes start together, so each sees the same accepted questions (none) in both runs.
    settings = _settings(args.concurrency, args.concurrency)
    runs = {}
    with MockOpenAIServer(latency=_latencies(args)[-1], reply=loop_reply) as server:
        models = _mock_models(server.base_url)
        cache = ResponseCache(path)
        try:
            for name in ("first", "rerun"):
                server.reset()
                run = _fresh(work / f"cache-{name}")
                started = time.perf_counter()
                stats = run_campaign(index, run, models=models, settings=settings, cache=cache)
                calls = _calls(run)
                runs[name] = {"seconds": round(time.perf_counter() - started, 2),
                              "server_requests": len(server.requests),
                              "model_calls": sum(not c.get("cached") for c in calls),
                              "cache_hits": sum(bool(c.get("cached")) for c in calls),
                              "accepted": stats["accepted"]}
        finally:
            cache.close()
    print(f"rerun with the cache: {runs['rerun']['model_calls']} model calls "
          f"({runs['rerun']['cache_hits']} from the cache)", flush=True)
    return runs


def _shown(value: Any) -> Any:
    """Paths relative to the checkout, so that the results file reads the same on any machine."""
    if not isinstance(value, Path):
        return value
    path = value.resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _latencies(args: argparse.Namespace) -> list[float]:
    return [float(value) for value in args.latencies.split(",") if value.strip()]


def main() -> None:
    args = parse_args()
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        raise SystemExit(f"unknown part {sorted(unknown)[0]!r} (choose from {', '.join(PARTS)})")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    if args.torch_threads:
        import torch

        torch.set_num_threads(args.torch_threads)
        os.environ["OMP_NUM_THREADS"] = str(args.torch_threads)  # and in the cold-start processes
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = json.loads(args.out.read_text()) if args.out.exists() else {}
    results["machine"] = machine()
    results["settings"] = {k: _shown(v) for k, v in vars(args).items()}
    index = examples_index(work) if set(parts) - {"cold"} else None
    if "mock" in parts:
        results["mock"] = {f"latency_{latency}": mock_throughput(index, work, args, latency)
                           for latency in _latencies(args)}
        speedups = {str(run["latency_s"]): run["speedup"] for run in results["mock"].values()}
        results["mock_speedup_16_vs_1"] = speedups[str(_latencies(args)[0])]
        results["mock_speedup_16_vs_1_by_latency"] = speedups
    if "local" in parts:
        results["local"] = local_throughput(index, work, args)
        results["local_throughput_ratio"] = results["local"]["ratio"]
    if "cold" in parts:
        results["cold_start"] = cold_start(args)
        results["cold_start_cached_s"] = results["cold_start"]["cached"]["cold_start_s"]
        results["cold_start_uncached_s"] = results["cold_start"]["uncached"]["cold_start_s"]
        results["cold_start_cached_one_thread_s"] = results["cold_start"]["cached_one_thread"]["cold_start_s"]
        results["cold_start_cached_after_embedder_s"] = \
            results["cold_start"]["cached_after_embedder"]["cold_start_s"]
    if "rerun" in parts:
        results["rerun"] = rerun_with_cache(index, work, args)
        results["rerun_model_calls"] = results["rerun"]["rerun"]["model_calls"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    summary = {k: results.get(k) for k in ("mock_speedup_16_vs_1", "local_throughput_ratio",
                                           "cold_start_cached_s", "cold_start_cached_one_thread_s",
                                           "cold_start_cached_after_embedder_s", "cold_start_uncached_s",
                                           "rerun_model_calls")}
    print(json.dumps(summary, indent=2))
    print(f"results -> {args.out}")


if __name__ == "__main__":
    main()
