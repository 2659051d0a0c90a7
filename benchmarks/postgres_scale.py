"""How many campaign workers one PostgreSQL checkpointer holds, measured on this machine.

Three figures, from one run against a throwaway cluster with fsync on (tests/postgres_server.py),
or the server of --database:

- worker: one worker's campaign against the mock OpenAI-compatible server (its own process, a
  fixed latency per call), checkpointing to Postgres: probes per second; the same campaign on the
  run's SQLite file beside it.
- writes: what that campaign cost the database, per probe: checkpoints (put) and pending-write
  batches (put_writes), committed transactions, rows inserted or updated, WAL bytes
  (pg_stat_database and pg_current_wal_lsn, before and after).
- capacity: every put and put_writes call of that campaign, recorded as it ran, replayed under
  new thread ids by 1, 2, 4, ... client processes at once, as fast as the server takes them:
  probes' worth of checkpoint writes per second. On 2 cores the clients and the server share the
  CPU, so this is a floor for a server with cores of its own.

Workers one Postgres holds = the replay's best probes per second / one worker's probes per second.

    python benchmarks/postgres_scale.py [--out benchmarks/results/postgres_scale.json]
                                        [--probes 96] [--latency 0.2] [--clients 1,2,4,8]

A few minutes on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import copy
import json
import multiprocessing
import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "benchmarks"), str(ROOT / "tests")]

from postgres_server import throwaway_cluster  # noqa: E402
from throughput import ServerProcess, _fresh, _mock_models, _settings, examples_index, machine  # noqa: E402

from advqa.campaign import run_campaign  # noqa: E402
from advqa.campaign.checkpointers import open_checkpointer  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/postgres_scale.json")
    parser.add_argument("--work", type=Path, default=ROOT / "runs/postgres_scale")
    parser.add_argument("--database", default=None,
                        help="a postgresql:// URL to measure instead of a throwaway cluster (its "
                             "checkpoint tables are written to)")
    parser.add_argument("--probes", type=int, default=96, help="probes of the worker's campaign")
    parser.add_argument("--concurrency", type=int, default=16, help="the worker's probes in flight")
    parser.add_argument("--latency", type=float, default=0.2, help="the mock server's seconds per call")
    parser.add_argument("--clients", default="1,2,4,8", help="replaying processes, one measurement each")
    parser.add_argument("--replays", type=int, default=2,
                        help="copies of the campaign's writes each client replays")
    return parser.parse_args()


class RecordingSaver(BaseCheckpointSaver):
    """A checkpointer that passes every call to `inner` and keeps a copy of each write, in order."""

    def __init__(self, inner: BaseCheckpointSaver) -> None:
        super().__init__(serde=inner.serde)
        self.inner = inner
        self.calls: list[tuple[str, tuple]] = []

    def get_tuple(self, config):
        return self.inner.get_tuple(config)

    def list(self, config, *, filter=None, before=None, limit=None):
        return self.inner.list(config, filter=filter, before=before, limit=limit)

    def put(self, config, checkpoint, metadata, new_versions):
        self.calls.append(("put", (_where(config), *copy.deepcopy((checkpoint, metadata, new_versions)))))
        return self.inner.put(config, checkpoint, metadata, new_versions)

    def put_writes(self, config, writes, task_id, task_path=""):
        self.calls.append(("put_writes", (_where(config), copy.deepcopy(list(writes)), task_id, task_path)))
        return self.inner.put_writes(config, writes, task_id, task_path)

    def get_next_version(self, current, channel):
        return self.inner.get_next_version(current, channel)


def _where(config) -> dict[str, Any]:
    """The part of a run's config that a checkpointer reads: which thread, namespace, checkpoint."""
    keys = ("thread_id", "checkpoint_ns", "checkpoint_id")
    return {"configurable": {k: v for k, v in config["configurable"].items() if k in keys}}


def database_counters(url: str) -> dict[str, int]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        row = connection.execute(
            "SELECT xact_commit, tup_inserted + tup_updated, pg_current_wal_lsn() - '0/0'::pg_lsn "
            "FROM pg_stat_database WHERE datname = current_database()").fetchone()
        connection.execute("SELECT pg_stat_clear_snapshot()")
    return {"commits": int(row[0]), "rows_written": int(row[1]), "wal_bytes": int(row[2])}


def settle() -> None:
    time.sleep(1.0)  # pg_stat_database is updated by backends at most every second or at exit


def one_worker(index, work: Path, url: str, args: argparse.Namespace) -> tuple[dict[str, Any], list]:
    """The worker's campaign on Postgres (recorded) and on SQLite: rates and per-probe writes."""
    results: dict[str, Any] = {}
    with ServerProcess(args.latency) as server:
        models = _mock_models(server.base_url)
        run_campaign(index, _fresh(work / "warmup"), models=models, settings=_settings(2, 2))
        for where in ("sqlite", "postgres"):
            index.embedder.forget()
            run = _fresh(work / f"worker-{where}")
            settings = _settings(args.probes, args.concurrency)
            if where == "sqlite":
                started = time.perf_counter()
                stats = run_campaign(index, run, models=models, settings=settings)
                seconds = time.perf_counter() - started
            else:
                settle()
                before = database_counters(url)
                with open_checkpointer(url) as saver:
                    recorder = RecordingSaver(saver)
                    started = time.perf_counter()
                    stats = run_campaign(index, run, models=models, settings=settings, checkpointer=recorder)
                    seconds = time.perf_counter() - started
                settle()
                after = database_counters(url)
                probes = stats["probes"]
                results["writes_per_probe"] = {
                    "put": round(sum(c[0] == "put" for c in recorder.calls) / probes, 1),
                    "put_writes": round(sum(c[0] == "put_writes" for c in recorder.calls) / probes, 1),
                    **{k: round((after[k] - before[k]) / probes, 1) for k in after},
                }
            results[where] = {"probes": stats["probes"], "accepted": stats["accepted"],
                              "rounds": stats["rounds"], "model_calls": stats["model_calls"],
                              "seconds": round(seconds, 2),
                              "probes_per_second": round(stats["probes"] / seconds, 3)}
            print(f"one worker, {where}: {stats['probes']} probes in {seconds:.1f} s", flush=True)
    return results, recorder.calls


_CALLS: list = []  # the recorded calls, inherited by the forked replay processes


def replay(url: str, copies: list[str], ready, start) -> None:
    """Write the recorded campaign's checkpoints again under thread ids prefixed by each copy."""
    with open_checkpointer(url) as saver:
        ready.set()
        start.wait()
        for prefix in copies:
            for kind, arguments in _CALLS:
                config = copy.deepcopy(arguments[0])
                config["configurable"]["thread_id"] = f"{prefix}{config['configurable']['thread_id']}"
                getattr(saver, kind)(config, *arguments[1:])


def capacity(url: str, probes: int, args: argparse.Namespace) -> dict[str, Any]:
    """Probes' worth of checkpoint writes per second, at each number of replaying clients."""
    context = multiprocessing.get_context("fork")
    results: dict[str, Any] = {}
    for clients in [int(c) for c in args.clients.split(",")]:
        ready = [context.Event() for _ in range(clients)]
        start = context.Event()
        copies = [[f"replay-{clients}-{c}-{r}/" for r in range(args.replays)] for c in range(clients)]
        processes = [context.Process(target=replay, args=(url, copies[c], ready[c], start))
                     for c in range(clients)]
        for process in processes:
            process.start()
        for event in ready:
            event.wait(timeout=120)
        settle()
        before = database_counters(url)
        started = time.perf_counter()
        start.set()
        for process in processes:
            process.join()
        seconds = time.perf_counter() - started
        if any(p.exitcode != 0 for p in processes):
            raise SystemExit(f"a replay client failed with {clients} clients")
        settle()
        after = database_counters(url)
        replayed = probes * clients * args.replays
        results[str(clients)] = {
            "probes_replayed": replayed, "seconds": round(seconds, 2),
            "probes_per_second": round(replayed / seconds, 1),
            "calls_per_second": round(len(_CALLS) * clients * args.replays / seconds, 1),
            "commits_per_second": round((after["commits"] - before["commits"]) / seconds, 1),
        }
        print(f"replay, {clients} clients: {replayed / seconds:.1f} probes/s", flush=True)
    return results


def main() -> None:
    args = parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    index = examples_index(args.work)
    with (throwaway_cluster(fsync=True) if args.database is None else nullcontext(args.database)) as url:
        worker, calls = one_worker(index, args.work, url, args)
        _CALLS[:] = calls
        held = capacity(url, worker["postgres"]["probes"], args)
    best = max(held.values(), key=lambda r: r["probes_per_second"])
    results = {
        "machine": machine(),
        "settings": {k: _shown(v) for k, v in vars(args).items() if k != "database"},
        "server": "throwaway cluster, fsync on" if args.database is None else "--database",
        "worker": worker,
        "capacity": held,
        "workers_one_postgres_holds": round(best["probes_per_second"]
                                            / worker["postgres"]["probes_per_second"], 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: results[k] for k in ("worker", "capacity", "workers_one_postgres_holds")},
                     indent=2))


def _shown(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value.relative_to(ROOT)) if value.is_relative_to(ROOT) else str(value)
    return value


if __name__ == "__main__":
    main()
