"""kill -9 at random moments: a re-run completes with every accepted sample exactly once.

The real command lines, `advqa generate --docs D --out RUN --config cfg.toml ...` and then
`advqa report RUN`, run in child processes (forked by tests/crash_driver.py, which has advqa and
the embedding model loaded already) against a MockOpenAIServer answering every role with
scripted, deterministic replies. Each scenario, in fresh run directories, kills the run with
SIGKILL again and again, at moments drawn uniformly over how long the run would take (measured
on an uninterrupted run), checking after every kill that no rewritten file is half-written,
until a run completes; then kills a no-op re-run and the report once each, and checks the
whole run directory against an uninterrupted reference run. One scenario also kills at chosen moments of
the narrow windows (mid dataset append, between the index's files, mid stats/report/config
write, between the dedup's two rewrites, between two steps of a probe) by making the child kill
itself there. POSIX only (fork, /proc/self/fd).
"""

from __future__ import annotations

import json
import os
import queue
import random
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import zlib
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from advqa.agents import PROMPTS_DIR
from advqa.examples import EXAMPLES_DIR
from advqa.models.mock_server import MockOpenAIServer, loop_reply
from advqa.retrieval import RetrievalError, load_index

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

pytestmark = pytest.mark.skipif(not hasattr(os, "fork") or not Path("/proc/self/fd").is_dir(),
                                reason="the fork server needs fork and /proc/self/fd")

DRIVER = Path(__file__).with_name("crash_driver.py")
DOCUMENTS = ("mutual_nda.md", "supply_agreement.md", "employment_noncompete.md")
SEED = 20240611
PHASES = ("indexing", "config", "probing", "appending", "dedup", "stats", "report")
SEEDS = 12
MAX_KILLED_RUNS = 12  # runs killed in a row before one is let finish
CORPUS_CHARS = 5000

# --- scripted models ------------------------------------------------------------------------------
# Every reply is a function of the seed passage and the round only (never of timing or of what
# other probes did), so every run of the campaign accepts the same probes with the same questions.

WORD = re.compile(r"[A-Za-z][A-Za-z'-]{3,}")
PHRASES = ("does the agreement provide on", "condition does the agreement set on")
# Its long tail is of words the grounding check takes as generic ("clause", "parties", ...).
DUPLICATE = ("{opening} does the agreement provide on {words} under each clause, section, term and "
             "provision of the agreements between the parties (question {item})?")


def _tag(key: str) -> int:
    return zlib.crc32(key.encode("utf-8"))


def question_for(sentence: str, answer: str, opening: str, round_index: int) -> str:
    words = list(dict.fromkeys(w.lower() for w in WORD.findall(sentence.replace(answer, " "))))[:8]
    tag = _tag(" ".join(words))
    if tag % 10 >= 6:  # near-duplicates of each other: dedup keeps the first
        return DUPLICATE.format(opening=opening, words=" and ".join(words[:5]), item=tag % 997)
    return f"{opening} {PHRASES[round_index]} {' and '.join(words)}?"  # round 2 asks anew


def divergence_for(question: str) -> float:
    if "provision of the agreements between the parties" in question:
        return 0.9
    round_index = 1 if PHRASES[1] in question else 0
    kind = _tag(question.split(PHRASES[round_index], 1)[-1]) % 10
    if kind < 4:
        return 0.9  # accepted at round 1
    if kind < 7:
        return 0.85 if round_index == 1 else 0.2  # accepted at round 2
    return 0.15  # exhausted


def reply(body: dict) -> str:
    """The mock server's loop replies, with questions and divergences that vary by seed and round."""
    prompt = body["messages"][-1]["content"]
    time.sleep(0.01 * (_tag(prompt[-200:]) % 3))  # 0.02-0.04 s per call with the server's latency
    spec = (body.get("response_format") or {}).get("json_schema") or {}
    if spec.get("name") == "expert":  # it reads past a near-duplicate's generic tail
        tail = re.compile(r" under each clause, .*? \(question \d+\)")
        body = {**body, "messages": [{**m, "content": tail.sub("", m["content"])} for m in body["messages"]]}
    answer = loop_reply(body)
    if spec.get("name") == "critic":
        question = re.search(r"^Question: (.*)$", prompt, re.MULTILINE).group(1).strip()
        return json.dumps({**json.loads(answer), "divergence": divergence_for(question)})
    if spec.get("name") == "questioner":
        reply = json.loads(answer)
        sentence = re.findall(r'Sentence: "(.*)"', prompt)[-1]
        opening = re.match(r"\^\(\?:([^|)]+)", spec["schema"]["properties"]["question"]["pattern"]).group(1)
        round_index = 0 if "none yet" in prompt else 1
        question = question_for(sentence, reply["answer"], opening, round_index)
        return json.dumps({**reply, "question": question})
    return answer


# --- the fork server ------------------------------------------------------------------------------

class ForkServer:
    """tests/crash_driver.py in a subprocess: forks one child per command line."""

    def __init__(self, log: Path, env: dict[str, str]):
        self._stderr = open(log, "wb")
        self.process = subprocess.Popen([sys.executable, str(DRIVER)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=self._stderr, env=env)
        self._messages: dict[str, queue.Queue] = {}
        self._lock = threading.Lock()
        self._ready: queue.Queue = queue.Queue()
        self._ids = iter(range(1, 1_000_000))
        threading.Thread(target=self._read, daemon=True).start()
        try:
            self._ready.get(timeout=300)
        except queue.Empty:
            self.close()
            raise RuntimeError(f"the fork server did not start: {log.read_text()[-2000:]}") from None

    def _read(self) -> None:
        for line in self.process.stdout:
            message = json.loads(line)
            if message.get("ready"):
                self._ready.put(message)
            else:
                self._queue(message["id"]).put(message)

    def _queue(self, ident: str) -> queue.Queue:
        with self._lock:
            return self._messages.setdefault(ident, queue.Queue())

    def start(self, argv: list[str], out: Path, env: dict[str, str] | None = None,
              crash: str | None = None) -> Child:
        ident = str(next(self._ids))
        command = {"id": ident, "argv": argv, "out": str(out), "env": env or {}, "crash": crash}
        with self._lock:
            self.process.stdin.write((json.dumps(command) + "\n").encode())
            self.process.stdin.flush()
        started = self._queue(ident).get(timeout=30)
        return Child(ident, started["pid"], time.monotonic(), self._queue(ident), out)

    def close(self) -> None:
        try:
            self.process.stdin.close()
            self.process.wait(timeout=30)
        finally:
            self._stderr.close()


@dataclass
class Child:
    ident: str
    pid: int
    started: float
    messages: queue.Queue
    out: Path
    code: int | None = None

    def wait(self, timeout: float | None = None) -> int | None:
        """The exit status (-9: killed), or None if still running after `timeout` seconds."""
        if self.code is None:
            try:
                self.code = self.messages.get(timeout=timeout)["exit"]
            except queue.Empty:
                return None
        return self.code

    def kill(self) -> None:
        if self.wait(0) is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass  # it ended just now, and was reaped: its exit status is on its way

    def seconds(self) -> float:
        return time.monotonic() - self.started

    def wait_for_phase(self, name: str, timeout: float = 180) -> bool:
        """Wait until the child enters phase `name` (True) or ends first (False)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if f"@@phase {name} " in self.text():
                return True
            if self.wait(0.01) is not None:
                return False
        raise AssertionError(f"the child never reached {name}: {self.log()}")

    def phase(self) -> str:
        """The phase the child was in when it ended (its last phase marker)."""
        phases = re.findall(r"^@@phase (\S+)", self.text(), re.MULTILINE)
        return phases[-1] if phases else "startup"

    def marks(self) -> dict[str, float]:
        """When the child first entered each phase, and exited (monotonic seconds)."""
        marks: dict[str, float] = {}
        for kind, name, when in re.findall(r"^@@(phase|exit) (\S+) ([\d.]+)$", self.text(), re.MULTILINE):
            marks.setdefault(name if kind == "phase" else "exit", float(when))
        return marks

    def text(self) -> str:
        """What the child wrote so far (nothing before it opened its log)."""
        try:
            return self.out.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log(self) -> str:
        return self.text()[-3000:]


# --- invariants -----------------------------------------------------------------------------------

def jsonl_rows(path: Path, *, torn_tail_allowed: bool) -> list[dict]:
    """Every line of a JSONL file, parsed; a partial last line only when `torn_tail_allowed`."""
    if not path.exists():
        return []
    data = path.read_bytes()
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    elif torn_tail_allowed:
        lines.pop()  # a torn last line: the next run cuts it off
    else:
        raise AssertionError(f"{path}: ends in a partial line {lines[-1][:80]!r}")
    rows = []
    for number, line in enumerate(lines, start=1):
        try:
            rows.append(json.loads(line))
        except ValueError as error:
            raise AssertionError(f"{path}:{number}: not JSON ({error}): {line[:80]!r}") from None
    return rows


def check_rewritten_files(run: Path, embedder) -> None:
    """Files advqa rewrites parse or are absent, whenever the process was killed."""
    for name in ("stats.json",):
        if (run / name).exists():
            assert isinstance(json.loads((run / name).read_text(encoding="utf-8")), dict), name
    if (run / "config.toml").exists():
        config = tomllib.loads((run / "config.toml").read_text(encoding="utf-8"))
        assert config["models"]["critic"] == "openai:mock"
    for prompt in (run / "prompts").glob("*.txt"):
        assert prompt.read_text(encoding="utf-8") == (PROMPTS_DIR / prompt.name).read_text(encoding="utf-8")
    if (run / "report.html").exists():
        assert (run / "report.html").read_text(encoding="utf-8").rstrip().endswith("</html>")
    index = run / "index"
    if (index / "manifest.json").exists():
        # A manifest only ever sits next to the data it describes: the index loads, whole.
        loaded = load_index(index, embedder=embedder)
        manifest = json.loads((index / "manifest.json").read_text(encoding="utf-8"))
        assert len(loaded) == manifest["chunk_count"] > 0
        assert set(manifest["documents"]) == set(DOCUMENTS)
    elif index.exists():
        with pytest.raises(RetrievalError, match="manifest is missing"):
            load_index(index, embedder=embedder)
    for name in ("dataset.jsonl", "duplicates.jsonl", "traces.jsonl"):
        jsonl_rows(run / name, torn_tail_allowed=True)


def check_completed_run(run: Path, reference: dict, embedder) -> None:
    """The invariants of a run that completed after any number of kills."""
    check_rewritten_files(run, embedder)
    dataset = jsonl_rows(run / "dataset.jsonl", torn_tail_allowed=False)
    duplicates = jsonl_rows(run / "duplicates.jsonl", torn_tail_allowed=False)
    kept = [row["meta"]["probe_id"] for row in dataset]
    dropped = [row["meta"]["probe_id"] for row in duplicates]
    assert sorted(kept + dropped) == sorted(set(kept + dropped)), "a sample was written twice"
    assert sorted(kept) == reference["kept"], "the dataset differs from the uninterrupted run's"
    assert sorted(dropped) == reference["dropped"]
    questions = {row["meta"]["probe_id"]: row["messages"][0]["content"] for row in dataset + duplicates}
    assert questions == reference["questions"]
    traces = jsonl_rows(run / "traces.jsonl", torn_tail_allowed=False)
    assert traces and all(isinstance(event, dict) for event in traces)
    stats = json.loads((run / "stats.json").read_text(encoding="utf-8"))
    assert stats["accepted"] == len(dataset) and stats["duplicates_dropped"] == len(duplicates)
    assert stats["probes"] == stats["finished"] == SEEDS and stats["errored"] == 0
    assert stats["accepted_before_dedup"] == len(dataset) + len(duplicates)
    assert {key: stats[key] for key in reference["outcomes"]} == reference["outcomes"], \
        "probes ended otherwise than in the uninterrupted run: was a killed probe restarted, not resumed?"
    config = tomllib.loads((run / "config.toml").read_text(encoding="utf-8"))
    assert config["index"]["chunks"] == reference["chunks"]
    assert sorted(p.name for p in (run / "prompts").iterdir()) == sorted(
        f"{role}.txt" for role in ("questioner", "student", "expert", "critic"))
    html = (run / "report.html").read_text(encoding="utf-8")
    assert html.rstrip().endswith("</html>") and all(probe in html for probe in kept)
    with sqlite3.connect(run / "checkpoints.sqlite") as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        threads = {row[0] for row in connection.execute("SELECT DISTINCT thread_id FROM checkpoints")}
    assert len(threads) == SEEDS
    index = load_index(run / "index", embedder=embedder)
    assert len(index) == reference["chunks"]
    assert index.search("notice of termination", k=3)
    leftovers = [p.name for p in run.rglob("*.tmp")]
    assert not leftovers, f"staging files left behind: {leftovers}"


# --- scenarios ------------------------------------------------------------------------------------

@dataclass
class Tally:
    """What the scenarios did, counted from both scenario threads."""

    kills: Counter = field(default_factory=Counter)  # phase -> random kill points
    injected: Counter = field(default_factory=Counter)  # phase -> self-kills at chosen moments
    runs: Counter = field(default_factory=Counter)  # launches, completed
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, counter: str, key: str) -> None:
        with self.lock:
            getattr(self, counter)[key] += 1


@dataclass
class Setup:
    root: Path
    server: ForkServer
    config: Path
    embedder: object
    tally: Tally
    t_generate: float = 0.0  # an uninterrupted run of a fresh directory: embedding and the campaign
    t_campaign: float = 0.0  # its probes: from writing config.toml to writing stats.json
    t_noop: float = 0.0  # the same command again once complete: index checked, dedup, stats, report
    t_report: float = 0.0

    def expected_seconds(self, run: Path) -> float:
        """How long the next run in `run` would take uninterrupted, from what is there: the
        whole run while the index is incomplete (it embeds everything again), else a no-op run
        plus the share of the campaign whose probes have not finished yet."""
        if not (run / "index" / "manifest.json").exists():
            return self.t_generate
        return self.t_noop + self.t_campaign * (1 - len(finished_probes(run)) / SEEDS)

    def generate_argv(self, run: Path, docs: Path, extra: list[str]) -> list[str]:
        return ["generate", "--docs", str(docs), "--out", str(run), "--config", str(self.config),
                "--seeds", str(SEEDS), "--max-rounds", "2", "--scorer", "judge",
                "--dedup-threshold", "0.68", *extra]


def finished_probes(run: Path) -> set[str]:
    return {event.get("probe") for event in jsonl_rows(run / "traces.jsonl", torn_tail_allowed=True)
            if event.get("kind") == "route" and event.get("outcome") in ("accepted", "exhausted")}


def copy_documents(folder: Path) -> Path:
    """The opening clauses (about CORPUS_CHARS characters) of three example contracts: enough
    chunks for the seeds, few enough to embed in a few seconds on one thread."""
    folder.mkdir(parents=True)
    for name in DOCUMENTS:
        text, kept = (EXAMPLES_DIR / name).read_text(encoding="utf-8"), ""
        for paragraph in text.split("\n\n"):
            if len(kept) > CORPUS_CHARS:
                break
            kept += paragraph + "\n\n"
        (folder / name).write_text(kept, encoding="utf-8")
    return folder


def launch(setup: Setup, argv: list[str], log: Path, env: dict[str, str], *,
           kill_after: float | None = None, after_phase: str | None = None,
           crash: str | None = None) -> Child:
    """Run a command line; with `kill_after`, SIGKILL it that many seconds after it starts (or
    after it enters `after_phase`) unless it ended by then."""
    child = setup.server.start(argv, log, env, crash)
    setup.tally.add("runs", "launched")
    if kill_after is not None and (after_phase is None or child.wait_for_phase(after_phase)):
        if child.wait(kill_after) is None:
            child.kill()
    code = child.wait(180)
    assert code is not None, f"{argv[0]} hangs: {child.log()}"
    assert code in (0, -signal.SIGKILL), f"{argv[0]} failed with {code}: {child.log()}"
    if code == 0:
        setup.tally.add("runs", "completed")
    return child


def scenario(setup: Setup, name: str, reference: dict, *, extra: list[str], kills: int,
             rng: random.Random, injected: list[str] = ()) -> None:
    """Episodes until `kills` random kill points: each a fresh run directory, killed again and
    again until a run of the campaign completes, then killed once in a no-op re-run and once in
    `advqa report`, then completed and checked. The first episode first meets the `injected`
    chosen crashes, and its report one too."""
    killed = 0
    for episode in range(1, 100):
        if killed >= kills:
            break
        folder = setup.root / f"{name}-{episode}"
        docs = copy_documents(folder / "docs")
        run = folder / "run"
        env = {"ADVQA_RESPONSE_CACHE": str(folder / "responses.sqlite")}
        argv = setup.generate_argv(run, docs, extra)
        logs = (folder / f"generate-{number:02d}.log" for number in range(1, 1000))
        for spec in injected if episode == 1 else ():
            child = launch(setup, argv, next(logs), env, crash=spec)
            assert child.code == -signal.SIGKILL, f"{spec} never happened: {child.log()}"
            assert f"@@crash {spec}" in child.log()
            setup.tally.add("injected", child.phase())
            check_after_crash(run, spec)
            check_rewritten_files(run, setup.embedder)
        embedding_kills = runs = 0
        while True:  # until the campaign completes
            runs += 1
            if runs > MAX_KILLED_RUNS:  # timing is the machine's: let a run finish at last
                child = launch(setup, argv, next(logs), env)
                assert child.code == 0, f"the campaign does not complete: {child.log()}"
                break
            # A run killed while embedding keeps nothing of it (the index is written at the end),
            # and under load embedding may take longer than a whole run did alone: after one
            # such kill, the next kill falls after the index is done, so the campaign moves on.
            index_done = (run / "index" / "manifest.json").exists()
            after, seconds = None, setup.expected_seconds(run)
            if not index_done and embedding_kills:
                after, seconds = "config", setup.t_noop + setup.t_campaign * (
                    1 - len(finished_probes(run)) / SEEDS)
            # Drawn a little past the expected end, so that some runs complete before their kill
            # even when the machine is slower than when the durations were measured.
            child = launch(setup, argv, next(logs), env, kill_after=rng.uniform(0.0, 1.2 * seconds),
                           after_phase=after)
            check_rewritten_files(run, setup.embedder)
            if child.code == 0:
                break
            killed += 1
            setup.tally.add("kills", child.phase())
            embedding_kills += not index_done and child.phase() == "indexing"
        check_completed_run(run, reference, setup.embedder)
        killed += kill_until_killed(setup, argv, run, env, rng, setup.t_noop, logs)
        child = launch(setup, argv, next(logs), env)
        assert child.code == 0
        check_completed_run(run, reference, setup.embedder)
        report_argv = ["report", str(run)]
        logs = (folder / f"report-{number:02d}.log" for number in range(1, 1000))
        if injected and episode == 1:
            spec = "tear:report.html:1"
            child = launch(setup, report_argv, next(logs), env, crash=spec)
            assert child.code == -signal.SIGKILL and f"@@crash {spec}" in child.log()
            setup.tally.add("injected", child.phase())
            check_rewritten_files(run, setup.embedder)
        killed += kill_until_killed(setup, report_argv, run, env, rng, setup.t_report, logs)
        child = launch(setup, report_argv, next(logs), env)
        assert child.code == 0
        check_completed_run(run, reference, setup.embedder)
        setup.tally.add("runs", "run directories")


def kill_until_killed(setup: Setup, argv: list[str], run: Path, env: dict[str, str], rng: random.Random,
                      seconds: float, logs) -> int:
    """Run `argv` until one run is killed (at a moment drawn over `seconds`): one kill point."""
    for _ in range(10):
        child = launch(setup, argv, next(logs), env, kill_after=rng.uniform(0.0, seconds))
        check_rewritten_files(run, setup.embedder)
        if child.code:
            setup.tally.add("kills", child.phase())
            return 1
    raise AssertionError(f"{argv[0]} always completed before its kill, in {seconds:.2f}s")


def check_after_crash(run: Path, spec: str) -> None:
    """What each chosen crash must leave behind (besides check_rewritten_files)."""
    mode, name, _ = spec.split(":")
    if name in ("dataset.jsonl", "traces.jsonl") and mode == "tear":
        assert not (run / name).read_bytes().endswith(b"\n"), "the append was not torn"
    if name in ("index.faiss", "chunks.jsonl"):
        assert not (run / "index" / "manifest.json").exists()
    if mode == "tear" and name in ("stats.json", "config.toml", "manifest.json"):
        folder = run / "index" if name == "manifest.json" else run
        assert list(folder.glob(f".{name}.*.tmp")), "the staging file should hold the torn write"


# Chosen moments, in the order one run meets them.
INJECTED = [
    "tear:chunks.jsonl:1",           # mid-write of the index's chunk file
    "after-replace:index.faiss:1",   # new vectors in place, old manifest gone, chunks not yet
    "tear:manifest.json:1",          # the index's commit point, half-written
    "tear:config.toml:1",
    "after-put-writes:revise:1",     # a probe's round-1 route done, its next checkpoint not written
    "tear:dataset.jsonl:2",          # the second accepted sample of this run, half-appended
    "tear:traces.jsonl:25",
    "tear:dataset.jsonl:1",          # a torn line again, on top of a repaired one
    "after-replace:dataset.jsonl:1",  # dedup rewrote the dataset, duplicates.jsonl not yet
    "tear:duplicates.jsonl:1",
    "tear:stats.json:1",
    "before-replace:stats.json:1",
]


def quiet_when_killed(mock: MockOpenAIServer) -> None:
    """A client killed mid-request resets its connection: expected here, not worth a traceback."""
    report = mock._server.handle_error

    def handle_error(request, client_address) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            report(request, client_address)

    mock._server.handle_error = handle_error


def test_kill_nine_at_random_moments_loses_and_duplicates_nothing(tmp_path, embedder):
    began = time.monotonic()
    rng = random.Random(SEED)
    tally = Tally()
    with MockOpenAIServer(latency=0.02, reply=reply) as mock:
        quiet_when_killed(mock)
        config = tmp_path / "cfg.toml"
        config.write_text('[models]\nquestioner = "openai:mock"\nstudent = "openai:mock"\n'
                          'expert = "openai:mock"\ncritic = "openai:mock"\n\n'
                          f'[endpoints]\nbase_url = "{mock.base_url}"\napi_key_env = "ADVQA_CRASH_KEY"\n'
                          # A request the server never answers (seen twice in ~10 runs: a child
                          # waiting with 0 model calls) is retried after 10 s, not 120 s.
                          "max_retries = 2\nbackoff = 0.01\ntimeout = 10.0\n", encoding="utf-8")
        env = {**os.environ, "ADVQA_CRASH_KEY": "sk-crash-test", "PYTHONUNBUFFERED": "1"}
        server = ForkServer(tmp_path / "fork-server.log", env)
        try:
            setup = Setup(tmp_path, server, config, embedder, tally)
            # The uninterrupted reference run: what every scenario must end with, and how long
            # a run takes (the kill times are drawn over it); then the same command again, a
            # no-op that must change nothing, and the report.
            folder = tmp_path / "reference"
            docs = copy_documents(folder / "docs")
            run = folder / "run"
            argv = setup.generate_argv(run, docs, [])
            env = {"ADVQA_RESPONSE_CACHE": str(folder / "responses.sqlite")}
            child = launch(setup, argv, folder / "generate.log", env)
            assert child.code == 0, child.log()
            setup.t_generate, marks = child.seconds(), child.marks()
            dataset = jsonl_rows(run / "dataset.jsonl", torn_tail_allowed=False)
            duplicates = jsonl_rows(run / "duplicates.jsonl", torn_tail_allowed=False)
            reference = {
                "kept": sorted(row["meta"]["probe_id"] for row in dataset),
                "dropped": sorted(row["meta"]["probe_id"] for row in duplicates),
                "questions": {row["meta"]["probe_id"]: row["messages"][0]["content"]
                              for row in dataset + duplicates},
                "chunks": len(load_index(run / "index", embedder=embedder)),
            }
            stats = json.loads((run / "stats.json").read_text())
            reference["outcomes"] = {key: stats[key] for key in ("exhausted", "failed", "accepted_at_round")}
            # The script must exercise every path: accepted, revised, exhausted, dedup.
            assert len(reference["kept"]) >= 4 and reference["dropped"], reference
            assert stats["exhausted"] >= 1 and stats["accepted_at_round"].get("2"), stats
            child = launch(setup, argv, folder / "generate-again.log", env)
            assert child.code == 0, child.log()
            setup.t_noop, setup.t_campaign = child.seconds(), marks["stats"] - marks["config"]
            child = launch(setup, ["report", str(run)], folder / "report.log", {})
            assert child.code == 0, child.log()
            setup.t_report = child.seconds()
            check_completed_run(run, reference, embedder)

            scenarios = [
                dict(name="injected", extra=[], kills=5, injected=INJECTED),
                dict(name="cached", extra=[], kills=16),
                dict(name="uncached", extra=["--no-cache", "--concurrency", "3"], kills=16),
                dict(name="cached-1", extra=["--concurrency", "1"], kills=16),
            ]
            rngs = [random.Random(rng.random()) for _ in scenarios]
            with ThreadPoolExecutor(max_workers=2) as pool:
                futures = [pool.submit(scenario, setup, reference=reference, rng=r, **s)
                           for s, r in zip(scenarios, rngs)]
                for future in futures:
                    future.result()
        finally:
            server.close()
    seconds = time.monotonic() - began
    total = sum(tally.kills.values())
    print(f"\ncrash safety: {total} random kill points {dict(tally.kills)}, "
          f"{sum(tally.injected.values())} chosen ones {dict(tally.injected)}; {tally.runs['launched']} runs "
          f"({tally.runs['completed']} completed) in {tally.runs['run directories']} run directories; "
          f"an uninterrupted run {setup.t_generate:.1f}s "
          f"(campaign {setup.t_campaign:.1f}s), a no-op one {setup.t_noop:.1f}s, report "
          f"{setup.t_report:.1f}s; {seconds:.0f}s in all")
    assert total >= 50
    for phase in PHASES:
        assert tally.kills[phase] + tally.injected[phase] >= 1, f"no kill landed in {phase}"
    assert tally.kills["indexing"] and tally.kills["probing"], tally.kills
