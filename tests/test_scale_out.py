"""Scale-out: seeds sharded between workers, a run directory shared by worker processes, Postgres."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from urllib.parse import urlsplit

import pytest
from conftest import scripted

from advqa.campaign import CampaignSettings, plan_seeds, run_campaign
from advqa.campaign.checkpointers import CheckpointerError, describe, open_checkpointer
from advqa.campaign.sharding import Worker, shard_of
from advqa.campaign.shared_files import RunLock, SharedDataset
from advqa.config import ConfigError, parse_worker
from advqa.graph import ProbeSettings
from advqa.models.mock_server import MockOpenAIServer, loop_reply
from advqa.retrieval import build_index, load_index
from advqa.retrieval.files import read_jsonl

SEEDS = 16
TOPICS = ["delivery", "invoice", "warranty", "audit", "insurance", "termination", "notice", "escrow",
          "royalty", "liability", "assignment", "arbitration", "publicity", "subcontracting"]


class Gate:
    """Holds every reply until the first wave of both workers' requests waits at once, so the two
    processes surely run side by side (each has at most min(4, its share) questions in flight)."""

    def __init__(self, index):
        seeds = [c.id for c in plan_seeds(index, SEEDS)]
        self.wave = sum(min(4, sum(Worker(i, 2).owns(s) for s in seeds)) for i in (1, 2))
        self.waiting = 0
        self.opened = threading.Event()
        self.lock = threading.Lock()

    def __call__(self, body: dict) -> str:
        with self.lock:
            self.waiting += 1
            if self.waiting >= self.wave:
                self.opened.set()
        self.opened.wait(timeout=120)
        return loop_reply(body)


@pytest.fixture(scope="module")
def clause_index(tmp_path_factory, embedder):
    """Four contracts of short clauses, one chunk each: enough seeds to share between workers."""
    folder = tmp_path_factory.mktemp("clauses")
    for d, party in enumerate(["Supplier", "Licensee", "Contractor", "Tenant"]):
        clauses = [f"{i + 1}. {topic.title()}. The {party} handles {topic} matters within "
                   f"{(i + 2) * (d + 3)} days under schedule {d}{i}."
                   for i, topic in enumerate(TOPICS[d: d + 6])]
        (folder / f"contract_{d}.md").write_text("\n\n".join(clauses), encoding="utf-8")
    build_index(folder, folder / "index", embedder=embedder, max_tokens=30, overlap_tokens=0)
    return load_index(folder / "index", embedder=embedder)


def settings() -> CampaignSettings:
    return CampaignSettings(seeds=SEEDS, concurrency=4, dedup_threshold=0.999,
                            probe=ProbeSettings(scorer="judge", max_rounds=1))


def unused_models():
    return {role: scripted("unused") for role in ("questioner", "student", "expert", "critic")}


def cli_args(index, run, base_url):
    return [sys.executable, "-m", "advqa.cli", "generate", "--index", str(index.path), "--out", str(run),
            "--model", "openai:mock", "--base-url", base_url, "--seeds", str(SEEDS), "--max-rounds", "1",
            "--scorer", "judge", "--concurrency", "4", "--dedup-threshold", "0.999"]


def run_workers(commands, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ADVQA_", "OPENAI_"))}
    env["ADVQA_CACHE_DIR"] = str(tmp_path / "cache")  # no response cache shared with other runs
    logs = [(tmp_path / f"worker{i}.out", tmp_path / f"worker{i}.err") for i in range(len(commands))]
    processes = []
    for command, (out, err) in zip(commands, logs):
        with out.open("w") as stdout, err.open("w") as stderr:  # the child keeps its own copies
            processes.append(subprocess.Popen(command, stdout=stdout, stderr=stderr, env=env))
    results = [(p.wait(timeout=600), out.read_text(), err.read_text())
               for p, (out, err) in zip(processes, logs)]
    for code, _, stderr in results:
        assert code == 0, stderr[-2000:]
    return results


def model_calls(run):
    return [e for e in read_jsonl(run / "traces.jsonl") if e["kind"] == "model_call"]


def assert_each_probe_ran_once(calls, seed_ids):
    keys = Counter((e["probe"], e["round"], e["role"], e["attempt"]) for e in calls)
    assert max(keys.values()) == 1, [k for k, n in keys.items() if n > 1]
    assert {e["probe"] for e in calls} == set(seed_ids)  # every seed of the campaign, once


def lines(path):
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()] if path.exists() else []


# --- sharding arithmetic -------------------------------------------------------------------------

def test_workers_partition_the_seeds():
    ids = [f"doc{d}.md#{i:04d}-{uuid.UUID(int=d * 1000 + i).hex[:8]}" for d in range(20) for i in range(40)]
    for count in range(1, 8):
        owners = {seed: [i for i in range(1, count + 1) if Worker(i, count).owns(seed)] for seed in ids}
        assert all(len(o) == 1 for o in owners.values())  # every seed in exactly one share
        shares = Counter(o[0] for o in owners.values())
        assert set(shares) == set(range(1, count + 1))
        assert min(shares.values()) > 0.7 * len(ids) / count  # and the shares are about even
    assert shard_of(ids[0], 4) == shard_of(ids[0], 4)  # stable: sha256, not the salted hash()


def test_plan_is_the_same_on_every_worker(clause_index):
    assert [c.id for c in plan_seeds(clause_index, SEEDS)] == [c.id for c in plan_seeds(clause_index, SEEDS)]


@pytest.mark.parametrize("spec", ["0/3", "4/3", "a/b", "1/0", "2", "1/2/3", "-1/2"])
def test_bad_worker_spec_is_one_line_config_error(spec):
    with pytest.raises(ConfigError) as raised:
        parse_worker(spec)
    assert len(str(raised.value).splitlines()) == 1 and "worker" in str(raised.value)


def test_worker_spec_forms():
    assert parse_worker("2/4") == Worker(2, 4) and str(parse_worker(" 2 / 4 ")) == "2/4"
    assert parse_worker(None) is None and parse_worker("") is None


def test_bad_worker_on_the_command_line(small_index, tmp_path):
    result = subprocess.run([sys.executable, "-m", "advqa.cli", "generate", "--index", str(small_index.path),
                             "--out", str(tmp_path / "r"), "--worker", "4/3"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == ["advqa: error: worker 4/3: I/N needs 1 <= I <= N"]


# --- files shared by processes -------------------------------------------------------------------

def sample(probe_id, document="a.md", question="What is the fee?"):
    return {"messages": [{"role": "user", "content": question}, {"role": "assistant", "content": "x"}],
            "meta": {"probe_id": probe_id, "document": document}}


def test_shared_dataset_writes_each_probe_once(tmp_path):
    one = SharedDataset(tmp_path / "dataset.jsonl", tmp_path / "dups.jsonl", RunLock(tmp_path))
    two = SharedDataset(tmp_path / "dataset.jsonl", tmp_path / "dups.jsonl", RunLock(tmp_path))
    assert one.append(sample("p1"))
    assert not two.append(sample("p1"))  # the other writer sees it before writing
    assert two.append(sample("p2", question="Who pays?"))
    assert one.questions("a.md") == ["What is the fee?", "Who pays?"]
    with (tmp_path / "dataset.jsonl").open("a") as handle:
        handle.write('{"messages": [')  # a writer killed mid-line
    assert one.append(sample("p3"))
    text = (tmp_path / "dataset.jsonl").read_text()
    assert '{"messages": [\n' not in text and len(text.splitlines()) == 3  # the torn tail was cut off
    assert [s["meta"]["probe_id"] for s in read_jsonl(tmp_path / "dataset.jsonl")] == ["p1", "p2", "p3"]
    # Rewritten in place by another worker's dedup, which moved p2 to the duplicates.
    (tmp_path / "dups.jsonl").write_text(json.dumps(sample("p2", question="Who pays?")) + "\n")
    (tmp_path / "new").write_text("".join(line + "\n" for line in text.splitlines() if "p2" not in line))
    os.replace(tmp_path / "new", tmp_path / "dataset.jsonl")
    assert not two.append(sample("p2"))
    assert one.questions("a.md") == ["What is the fee?", "What is the fee?"]


APPENDER = """
import sys
from pathlib import Path
from advqa.campaign.shared_files import RunLock, SharedDataset
run, name = Path(sys.argv[1]), sys.argv[2]
dataset = SharedDataset(run / "dataset.jsonl", run / "dups.jsonl", RunLock(run))
for i in range(150):
    for probe in (f"{name}-{i}", f"shared-{i}"):
        dataset.append({"messages": [{"role": "user", "content": "q" * 9000}],
                        "meta": {"probe_id": probe, "document": "d"}})
"""


def test_processes_appending_at_once_never_tear_or_repeat_a_line(tmp_path):
    run_workers([[sys.executable, "-c", APPENDER, str(tmp_path), name] for name in ("a", "b")], tmp_path)
    rows = [json.loads(x) for x in (tmp_path / "dataset.jsonl").read_text().splitlines()]
    ids = [r["meta"]["probe_id"] for r in rows]
    assert len(ids) == len(set(ids)) == 450  # 150 each, and the 150 both tried written once


# --- checkpointers ------------------------------------------------------------------------------

def test_postgres_url_password_is_hidden():
    assert describe("postgresql://ann:s3cret@db:5432/advqa") == "postgresql://ann:***@db:5432/advqa"
    assert describe("postgres://db/advqa?password=s3cret&sslmode=off") == \
        "postgres://db/advqa?password=%2A%2A%2A&sslmode=off"
    assert describe("postgresql:///advqa") == "postgresql:///advqa"
    assert describe("runs/x/checkpoints.sqlite") == "runs/x/checkpoints.sqlite"


def test_postgres_checkpointer_without_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "langgraph.checkpoint.postgres", None)
    with pytest.raises(CheckpointerError, match=r"pip install 'advqa\[postgres\]'"):
        with open_checkpointer("postgresql://localhost/advqa"):
            pass


def test_unreachable_postgres_is_one_line():
    pytest.importorskip("psycopg", reason="the postgres extra is not installed")
    with pytest.raises(CheckpointerError) as raised:
        with open_checkpointer("postgresql://ann:s3cret@127.0.0.1:9/advqa?connect_timeout=3"):
            pass
    message = str(raised.value)
    assert message.startswith("cannot connect to postgresql://ann:***@127.0.0.1:9/advqa")
    assert "s3cret" not in message and len(message.splitlines()) == 1


# --- workers sharing a run ----------------------------------------------------------------------

def test_two_worker_processes_share_one_run_directory(clause_index, tmp_path):
    run = tmp_path / "run"
    gate = Gate(clause_index)
    with MockOpenAIServer(latency=0.05, reply=gate) as server:
        results = run_workers([cli_args(clause_index, run, server.base_url) + ["--worker", f"{i}/2"]
                               for i in (1, 2)], tmp_path)
    assert gate.opened.is_set()  # both workers had requests in flight at the same time
    planned = [c.id for c in plan_seeds(clause_index, SEEDS)]
    assert len(planned) == SEEDS
    assert_each_probe_ran_once(model_calls(run), planned)
    shares = [json.loads((run / f"stats-{i}-of-2.json").read_text()) for i in (1, 2)]
    assert sorted(p for s in shares for p in s["errors"]) == []
    assert all(s["probes"] > 0 for s in shares)
    assert sum(s["probes"] for s in shares) == sum(s["finished"] for s in shares) == SEEDS
    assert sum(s["model_calls_this_run"] for s in shares) == len(model_calls(run))
    assert sum("campaign" in s for s in shares) >= 1  # the last one to finish completed the campaign
    assert any("advqa campaign" in out for _, out, _ in results)  # its summary of the whole run
    stats = json.loads((run / "stats.json").read_text())
    dataset = lines(run / "dataset.jsonl")
    ids = [s["meta"]["probe_id"] for s in dataset + lines(run / "duplicates.jsonl")]
    assert len(ids) == len(set(ids)) == stats["accepted_before_dedup"] == SEEDS
    assert stats["finished"] == SEEDS and stats["model_calls"] == len(model_calls(run))
    assert stats["accepted"] == len(dataset)
    # Re-run without --worker: everything comes from the checkpoints, nothing changes.
    before = (run / "dataset.jsonl").read_text()
    again = run_campaign(clause_index, run, models=unused_models(), settings=settings())
    assert again["model_calls_this_run"] == 0 and again["finished"] == SEEDS
    assert (run / "dataset.jsonl").read_text() == before


@pytest.fixture
def postgres_database(postgres_server):
    """A fresh database on the test session's PostgreSQL server."""
    psycopg = pytest.importorskip("psycopg", reason="the postgres extra is not installed")
    pytest.importorskip("langgraph.checkpoint.postgres", reason="the postgres extra is not installed")
    admin = psycopg.connect(postgres_server, autocommit=True, connect_timeout=10)
    name = f"advqa_test_{uuid.uuid4().hex[:10]}"
    with admin:
        admin.execute(f"CREATE DATABASE {name}")
        try:
            parts = urlsplit(postgres_server)
            yield f"{parts.scheme}://{parts.netloc}/{name}" + (f"?{parts.query}" if parts.query else "")
        finally:
            admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


def test_workers_on_separate_run_directories_share_a_postgres_checkpointer(clause_index, tmp_path,
                                                                          postgres_database):
    runs = [tmp_path / "machine1", tmp_path / "machine2"]
    gate = Gate(clause_index)
    with MockOpenAIServer(latency=0.05, reply=gate) as server:
        run_workers([cli_args(clause_index, run, server.base_url)
                     + ["--worker", f"{i}/2", "--checkpointer", postgres_database]
                     for i, run in zip((1, 2), runs)], tmp_path)
    assert gate.opened.is_set()
    planned = [c.id for c in plan_seeds(clause_index, SEEDS)]
    assert_each_probe_ran_once(model_calls(runs[0]) + model_calls(runs[1]), planned)
    assert "postgresql://" in (runs[0] / "config.toml").read_text()
    # The worker that finished last merged every sample into its own run directory.
    complete = [r for r in runs if (r / "stats.json").exists()]
    assert complete and json.loads((complete[0] / "stats.json").read_text())["finished"] == SEEDS
    # A fresh run directory on the same database: the whole dataset, no model call.
    merged = run_campaign(clause_index, tmp_path / "merged", checkpointer=postgres_database,
                          models=unused_models(), settings=settings())
    assert merged["model_calls_this_run"] == 0 and merged["finished"] == SEEDS
    ids = [s["meta"]["probe_id"] for s in lines(tmp_path / "merged" / "dataset.jsonl")
           + lines(tmp_path / "merged" / "duplicates.jsonl")]
    assert sorted(ids) == sorted(planned)


def start_worker(command, tmp_path, name):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ADVQA_", "OPENAI_"))}
    env["ADVQA_CACHE_DIR"] = str(tmp_path / "cache")  # no response cache shared with the reference run
    with (tmp_path / f"{name}.out").open("w") as out, (tmp_path / f"{name}.err").open("w") as err:
        return subprocess.Popen(command, stdout=out, stderr=err, env=env)


def samples_by_probe(run):
    """probe id -> question of every sample the campaign kept or dropped as a duplicate."""
    rows = lines(run / "dataset.jsonl") + lines(run / "duplicates.jsonl")
    ids = [r["meta"]["probe_id"] for r in rows]
    assert len(ids) == len(set(ids)), "a probe's sample written twice"
    return {r["meta"]["probe_id"]: r["messages"][0]["content"] for r in rows}


@pytest.mark.parametrize("machines", ["one run directory", "a run directory each"])
def test_three_worker_processes_on_postgres_survive_a_kill_and_match_one_process(clause_index, tmp_path,
                                                                                 postgres_database, machines):
    """Three worker processes, one SIGKILLed mid-run and restarted, on one Postgres database: sharing
    one run directory (one machine), or each in its own (several machines, sharing the database
    alone). Either way the campaign's samples are the single SQLite process's, each once."""
    reference = tmp_path / "single"
    (tmp_path / "single-logs").mkdir()
    with MockOpenAIServer(reply=loop_reply) as server:  # one process, SQLite
        run_workers([cli_args(clause_index, reference, server.base_url)], tmp_path / "single-logs")
    expected = samples_by_probe(reference)
    assert len(expected) == SEEDS

    runs = ({i: tmp_path / "shared" for i in (1, 2, 3)} if machines == "one run directory"
            else {i: tmp_path / f"machine{i}" for i in (1, 2, 3)})
    owned = {i: {c.id for c in plan_seeds(clause_index, SEEDS) if Worker(i, 3).owns(c.id)} for i in (1, 2, 3)}
    logs = tmp_path / "worker-logs"
    logs.mkdir()
    with MockOpenAIServer(latency=0.3, reply=loop_reply) as server:
        commands = {i: cli_args(clause_index, runs[i], server.base_url)
                    + ["--worker", f"{i}/3", "--checkpointer", postgres_database] for i in (1, 2, 3)}
        workers = {i: start_worker(command, logs, f"worker{i}") for i, command in commands.items()}
        # Kill worker 2 once one of its probes has made a model call: mid-run, not before or after.
        deadline = time.monotonic() + 300
        while not (runs[2] / "traces.jsonl").exists() or not any(e["probe"] in owned[2]
                                                                 for e in model_calls(runs[2])):
            assert time.monotonic() < deadline and workers[2].poll() is None, "worker 2 never started"
            time.sleep(0.1)
        workers[2].send_signal(signal.SIGKILL)
        assert workers[2].wait(timeout=60) == -signal.SIGKILL
        codes = [workers[i].wait(timeout=600) for i in (1, 3)]
        restarted = start_worker(commands[2], logs, "worker2-again")
        codes.append(restarted.wait(timeout=600))
        assert codes == [0, 0, 0], [(logs / f"{n}.err").read_text()[-1500:] for n in ("worker1", "worker3",
                                                                                       "worker2-again")]
        # A worker whose campaign differs (here its threshold) is refused before it runs a probe.
        other = tmp_path / "other"
        differing = ["--worker", "1/3", "--checkpointer", postgres_database, "--threshold", "0.9"]
        refused = subprocess.run(cli_args(clause_index, other, server.base_url) + differing,
                                 capture_output=True, text=True, timeout=300,
                                 env={**os.environ, "ADVQA_CACHE_DIR": str(tmp_path / "cache")})
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert "differs from the one its checkpointer holds in probe" in refused.stderr
    assert not (other / "traces.jsonl").exists() or not model_calls(other)
    # stats.json is written once, by the worker that found the campaign finished, and its run
    # directory holds the campaign's samples: the single process's, each once (the killed worker's
    # probes resumed from their Postgres checkpoints).
    complete = sorted({run for run in runs.values() if (run / "stats.json").exists()})
    assert len(complete) == 1
    assert samples_by_probe(complete[0]) == expected
    stats = json.loads((complete[0] / "stats.json").read_text())
    assert stats["finished"] == SEEDS and stats["accepted"] == len(lines(complete[0] / "dataset.jsonl"))
    # The kill cut worker 2 short: its restart had probes left to run, and ran them.
    again = json.loads((runs[2] / "stats-2-of-3.json").read_text())
    assert again["model_calls_this_run"] > 0 and again["finished"] == len(owned[2])
    summaries = [name for name in ("worker1", "worker3", "worker2-again")
                 if "advqa campaign" in (logs / f"{name}.out").read_text()]
    assert len(summaries) == 1
