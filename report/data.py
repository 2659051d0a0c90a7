"""Load a run folder into plain dataclasses: probes, their rounds, model calls and passages."""

from __future__ import annotations

import json
import re
import sqlite3
import sys
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any

from ..campaign.agreement import THREAD as AGREEMENT_THREAD
from ..campaign.files import CHECKPOINTS, CONFIG, DATASET, DUPLICATES, STATS, TRACES
from ..retrieval.files import read_jsonl
from .errors import ReportError
from .results import ResultFile, find_results

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

RUN_FILES = (CONFIG, STATS, TRACES, CHECKPOINTS, DATASET)
# How a probe ended, as the report shows it: "duplicate" is accepted but dropped as a near-duplicate,
# "error" raised an exception (retried on resume), "unfinished" was cut short.
OUTCOMES = ("accepted", "duplicate", "exhausted", "failed", "error", "unfinished")
MAX_TEXT = 6000  # characters kept of one text (a reply, a passage); traces.jsonl has the rest
_PASSAGE_BLOCK = re.compile(r'<passage id="(P\d+)" document="[^"\n]*">\n(.*?)\n</passage>', re.DOTALL)
_SEED_BLOCK = re.compile(r"<passage>\n(.*?)\n</passage>", re.DOTALL)


@dataclass
class Call:
    """One model call from traces.jsonl (prompts are left in the traces: they are long)."""

    role: str
    model: str
    attempt: int
    output: str
    input_tokens: int
    output_tokens: int
    seconds: float
    error: str = ""
    cached: bool = False  # answered from the response cache


@dataclass
class PassageRef:
    """A passage the expert saw in a round: its label there (P1...), id, and whether it grounds."""

    label: str
    id: str
    document: str
    cited: bool


@dataclass
class Round:
    """One round of a probe as the report shows it."""

    number: int
    question: str = ""
    student_answer: str = ""
    expert_answer: str = ""
    passages: list[PassageRef] = field(default_factory=list)
    judged: bool = False  # False: the questioner failed, or the round was cut short
    grounded: bool | None = None
    grounding_method: str = ""
    grounding_score: float | None = None
    fabricated_citations: list[str] = field(default_factory=list)
    scores: dict[str, float | None] = field(default_factory=dict)
    divergence: float | None = None
    scorer: str = ""
    critic_grounded: bool | None = None
    feedback: str = ""
    reason: str = ""
    verdict_parsed_with: str = ""
    intended_answer: str = ""  # the answer the questioner intended
    question_type: str = ""
    rejections: list[str] = field(default_factory=list)  # why the round was not accepted
    roundtrip: str = ""  # why the expert's answer is not the intended one ("" when it is)
    student_failure: float | None = None
    route: str = ""  # accepted | revise | exhausted | "" (not routed)
    calls: list[Call] = field(default_factory=list)


@dataclass
class Probe:
    """One seed passage's trajectory."""

    id: str
    document: str
    seed: str  # the seed passage id
    outcome: str  # one of OUTCOMES
    best_round: int = 0
    failure: str = ""
    rounds: list[Round] = field(default_factory=list)

    @property
    def judged(self) -> list[Round]:
        return [r for r in self.rounds if r.judged]

    @property
    def best_divergence(self) -> float | None:
        values = [r.divergence for r in self.judged if r.divergence is not None]
        return max(values) if values else None

    @property
    def calls(self) -> list[Call]:
        return [c for r in self.rounds for c in r.calls]


@dataclass
class PassageText:
    id: str
    document: str
    text: str


@dataclass
class RunData:
    """Everything the report and the trace view show about one run."""

    path: Path
    config: dict[str, Any]
    stats: dict[str, Any]
    probes: list[Probe]
    passages: dict[str, PassageText]
    source: str  # where the trajectories came from: checkpoints, traces, or both
    threshold: float
    max_rounds: int
    results: list[ResultFile] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def documents(self) -> list[str]:
        return sorted({p.document for p in self.probes})

    def outcome_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(OUTCOMES, 0)
        for probe in self.probes:
            counts[probe.outcome] = counts.get(probe.outcome, 0) + 1
        return counts


def clip(text: Any, limit: int = MAX_TEXT) -> str:
    """The text, cut at `limit` characters with a note saying how much is left out."""
    text = "" if text is None else str(text)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [{len(text) - limit} more characters in traces.jsonl]"


def check_run_dir(path: Path) -> Path:
    """`path` as a run folder, or ReportError saying why it is not one."""
    path = Path(path)
    if not path.is_dir():
        raise ReportError(f"{path}: run folder not found")
    if not any((path / name).is_file() for name in RUN_FILES):
        raise ReportError(f"{path}: not a run folder (it has none of {', '.join(RUN_FILES)})")
    return path


def read_config(path: Path) -> dict[str, Any]:
    file = path / CONFIG
    if not file.is_file():
        return {}
    try:
        return tomllib.loads(file.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ReportError(f"{file}: not valid TOML ({error})") from None


def read_stats(path: Path) -> dict[str, Any]:
    file = path / STATS
    if not file.is_file():
        return {}
    try:
        stats = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ReportError(f"{file}: not valid JSON ({error})") from None
    return stats if isinstance(stats, dict) else {}


def read_checkpoints(file: Path) -> dict[str, dict[str, Any]]:
    """The latest state of every probe thread, read-only (a running campaign may hold the file)."""
    if not file.is_file():
        return {}
    from langgraph.checkpoint.sqlite import SqliteSaver

    from ..campaign.checkpointers import serializer

    states: dict[str, dict[str, Any]] = {}
    uri = file.resolve().as_uri()
    for mode in ("?mode=ro", "?immutable=1"):
        try:
            connection = sqlite3.connect(uri + mode, uri=True, check_same_thread=False)
        except sqlite3.Error:
            continue
        try:
            saver = SqliteSaver(connection, serde=serializer())
            saver.is_setup = True  # read-only: never create tables
            threads = [row[0] for row in connection.execute(
                "SELECT DISTINCT thread_id FROM checkpoints WHERE checkpoint_ns = ''")]
            for thread in threads:
                if thread == AGREEMENT_THREAD:  # what a campaign's workers agree on, not a probe
                    continue
                saved = saver.get_tuple({"configurable": {"thread_id": thread}})
                if saved is not None:
                    states[thread] = dict(saved.checkpoint.get("channel_values", {}))
            return states
        except sqlite3.OperationalError:
            continue  # e.g. a WAL file in a read-only folder: try immutable mode
        except sqlite3.DatabaseError as error:
            raise ReportError(f"{file}: cannot read the checkpoints ({error})") from None
        finally:
            connection.close()
    raise ReportError(f"{file}: cannot open the checkpoints database")


def _plain(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    return asdict(value) if is_dataclass(value) else dict(value)


class _Traces:
    """traces.jsonl indexed by probe and round."""

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.order: list[str] = []
        self.by_probe: dict[str, list[dict[str, Any]]] = {}
        for event in events:
            probe = event.get("probe")
            if not isinstance(probe, str):
                continue
            if probe not in self.by_probe:
                self.by_probe[probe] = []
                self.order.append(probe)
            self.by_probe[probe].append(event)

    def of(self, probe: str, kind: str, round_number: int | None = None) -> list[dict[str, Any]]:
        return [e for e in self.by_probe.get(probe, []) if e.get("kind") == kind
                and (round_number is None or e.get("round") == round_number)]

    def rounds_of(self, probe: str) -> list[int]:
        return sorted({e["round"] for e in self.by_probe.get(probe, [])
                       if isinstance(e.get("round"), int) and e["round"] > 0})


def _call(event: dict[str, Any]) -> Call:
    return Call(role=str(event.get("role", "")), model=str(event.get("model", "")),
                attempt=int(event.get("attempt", 1) or 1), output=clip(event.get("output", "")),
                input_tokens=int(event.get("input_tokens", 0) or 0),
                output_tokens=int(event.get("output_tokens", 0) or 0),
                seconds=float(event.get("seconds", 0.0) or 0.0), error=clip(event.get("error", ""), 500),
                cached=bool(event.get("cached")))


def _labelled(passages: Any) -> list[tuple[str, str]]:
    """(label, id) pairs from a retrieval event's passages: {P1: id, ...} or [id, ...]."""
    if isinstance(passages, dict):
        return [(str(k), str(v)) for k, v in passages.items()]
    if isinstance(passages, list):
        return [(f"P{i + 1}", str(v)) for i, v in enumerate(passages)]
    return []


def document_of(passage_id: str) -> str:
    """A chunk id is `<document>#<position>-<hash>`."""
    return passage_id.rsplit("#", 1)[0]


def _round_from_record(record: dict[str, Any], passages: dict[str, PassageText]) -> Round:
    refs = []
    cited = set(record.get("grounding_passages") or [])
    for position, passage in enumerate(record.get("passages") or []):
        item = _plain(passage)
        passages.setdefault(item["id"], PassageText(item["id"], item["document"], clip(item["text"])))
        refs.append(PassageRef(f"P{position + 1}", item["id"], item["document"], item["id"] in cited))
    return Round(
        number=int(record["number"]), question=clip(record.get("question")),
        student_answer=clip(record.get("student_answer")), expert_answer=clip(record.get("expert_answer")),
        passages=refs, judged=True, grounded=record.get("grounded"),
        grounding_method=str(record.get("grounding_method", "")),
        grounding_score=record.get("grounding_score"),
        fabricated_citations=list(record.get("fabricated_citations") or []),
        scores=dict(record.get("scores") or {}), divergence=record.get("divergence"),
        scorer=str(record.get("scorer", "")), critic_grounded=record.get("critic_grounded"),
        feedback=clip(record.get("feedback")), reason=clip(record.get("reason"), 1000),
        verdict_parsed_with=str(record.get("verdict_parsed_with", "")),
        intended_answer=clip(record.get("intended_answer")),
        question_type=str(record.get("question_type", "")),
        rejections=list(record.get("rejections") or []),
        roundtrip=str((record.get("roundtrip") or {}).get("reason", "")),
        student_failure=record.get("student_failure"),
    )


def _last_output(calls: list[dict[str, Any]], role: str, field: str = "") -> str:
    """The last reply of `role`; with `field`, that field of a structured (JSON) reply."""
    outputs = [c.get("output", "") for c in calls if c.get("role") == role and "error" not in c]
    if not outputs:
        return ""
    if not field:
        return outputs[-1]
    try:
        value = json.loads(outputs[-1])
    except (TypeError, ValueError):
        return outputs[-1]
    return str(value.get(field, "")) if isinstance(value, dict) else outputs[-1]


def _retrieved_answer(events: list[dict[str, Any]]) -> str:
    """The expert's answer taken without a model call (one candidate sentence: agents.expert)."""
    return str(events[-1].get("answer", "")) if events else ""


def _round_from_traces(traces: _Traces, probe: str, number: int,
                       passages: dict[str, PassageText]) -> Round:
    """Rebuild a round from its events when the checkpointer does not have it."""
    calls = traces.of(probe, "model_call", number)
    retrieval = [e for e in traces.of(probe, "retrieval", number) if e.get("role") == "expert"]
    judgement = traces.of(probe, "judgement", number)
    question = retrieval[-1].get("question", retrieval[-1].get("query", "")) if retrieval else ""
    labelled = _labelled(retrieval[-1].get("passages")) if retrieval else []
    expert_prompt = next((c.get("prompt", "") for c in reversed(calls) if c.get("role") == "expert"), "")
    texts = dict(_PASSAGE_BLOCK.findall(expert_prompt or ""))
    for label, passage_id in labelled:
        if passage_id not in passages and label in texts:
            passages[passage_id] = PassageText(passage_id, document_of(passage_id), clip(texts[label]))
    round_ = Round(number=number, question=clip(question),
                   student_answer=clip(_last_output(calls, "student")),
                   expert_answer=clip(_last_output(calls, "expert", "answer") or _retrieved_answer(
                       traces.of(probe, "expert_answer_retrieved", number))),
                   intended_answer=clip(_last_output(calls, "questioner", "answer")))
    if judgement:
        event = judgement[-1]
        cited = set(event.get("grounding_passages") or [])
        round_.passages = [PassageRef(label, pid, document_of(pid), pid in cited) for label, pid in labelled]
        round_.judged = True
        round_.grounded = event.get("grounded")
        round_.grounding_method = str(event.get("grounding_method", ""))
        round_.fabricated_citations = list(event.get("fabricated_citations") or [])
        round_.scores = dict(event.get("scores") or {})
        round_.divergence = event.get("divergence")
        round_.scorer = str(event.get("scorer", ""))
        round_.critic_grounded = event.get("critic_grounded")
        round_.verdict_parsed_with = str(event.get("verdict_parsed_with", ""))
        round_.feedback = clip(str(event.get("feedback", "")))
        round_.reason = clip(str(event.get("reason", "")), 1000)
        round_.question_type = str(event.get("question_type", ""))
        round_.rejections = list(event.get("rejections") or [])
        round_.roundtrip = str(event.get("roundtrip", ""))
        round_.student_failure = event.get("student_failure")
    else:
        round_.passages = [PassageRef(label, pid, document_of(pid), False) for label, pid in labelled]
    return round_


def _seed_from_traces(traces: _Traces, probe: str, passages: dict[str, PassageText]) -> None:
    if probe in passages:
        return
    for call in traces.of(probe, "model_call"):
        if call.get("role") == "questioner":
            found = _SEED_BLOCK.search(call.get("prompt", "") or "")
            if found:
                passages[probe] = PassageText(probe, document_of(probe), clip(found.group(1)))
            return


def _index_passages(config: dict[str, Any], wanted: set[str], passages: dict[str, PassageText]) -> None:
    """Passage texts from the run's index folder, when config.toml names one that still exists."""
    folder = (config.get("index") or {}).get("path")
    if not folder or not wanted - set(passages):
        return
    chunks = Path(folder) / "chunks.jsonl"
    if not chunks.is_file():
        return
    for record in read_jsonl(chunks):
        if record.get("id") in wanted and record["id"] not in passages:
            passages[record["id"]] = PassageText(record["id"], str(record.get("document", "")),
                                                 clip(record.get("text", "")))


def _probe(probe_id: str, values: dict[str, Any] | None, traces: _Traces, duplicates: set[str],
           passages: dict[str, PassageText]) -> Probe:
    values = values or {}
    seed = _plain(values.get("seed")) if values.get("seed") is not None else {}
    if seed:
        passages.setdefault(seed["id"], PassageText(seed["id"], seed["document"], clip(seed["text"])))
    rounds = {r.number: r for r in (_round_from_record(_plain(x), passages)
                                    for x in values.get("rounds") or [])}
    for number in traces.rounds_of(probe_id):
        if number not in rounds:
            rounds[number] = _round_from_traces(traces, probe_id, number, passages)
    for number, round_ in rounds.items():
        round_.calls = [_call(e) for e in traces.of(probe_id, "model_call", number)]
        routes = traces.of(probe_id, "route", number)
        if routes:
            round_.route = str(routes[-1].get("outcome", ""))
    ordered = [rounds[n] for n in sorted(rounds)]
    outcome = str(values.get("outcome") or "")
    failure = str(values.get("failure") or "")
    if outcome not in ("accepted", "exhausted", "failed"):
        failed = traces.of(probe_id, "probe_failed")
        errors = traces.of(probe_id, "probe_error")
        routed = [r.route for r in ordered if r.route in ("accepted", "exhausted")]
        if failed:
            outcome, failure = "failed", str(failed[-1].get("reason", ""))
        elif routed:
            outcome = routed[-1]
        elif errors:
            outcome, failure = "error", str(errors[-1].get("error", ""))
        else:
            outcome = "unfinished"
    if outcome == "accepted" and probe_id in duplicates:
        outcome = "duplicate"
    judged = [r for r in ordered if r.judged]
    for round_ in judged:  # routing decisions the traces did not record
        if not round_.route:
            later = any(r.number > round_.number for r in ordered)
            round_.route = ("revise" if later else
                            outcome if outcome in ("accepted", "exhausted") else
                            "accepted" if outcome == "duplicate" else "")
    best = int(values.get("best_round") or 0)
    if not best and judged:
        best = max(judged, key=lambda r: (bool(r.grounded), r.divergence or 0.0)).number
    document = seed.get("document") or document_of(probe_id)
    return Probe(id=probe_id, document=document, seed=seed.get("id", probe_id), outcome=outcome,
                 best_round=best, failure=clip(failure, 1000), rounds=ordered)


def _checkpoint_file(run: Path, config: dict[str, Any]) -> Path:
    """RUN_DIR/checkpoints.sqlite, or the SQLite file config.toml names when the run used another
    (a recorded default path is the run's own file, perhaps from before the folder was moved)."""
    default = run / CHECKPOINTS
    recorded = str((config.get("campaign") or {}).get("checkpointer", ""))
    if default.is_file() or not recorded or "://" in recorded or Path(recorded).name == default.name:
        return default
    other = Path(recorded)
    return other if other.is_file() else default


def _fallback_stats(probes: list[Probe], events: list[dict[str, Any]]) -> dict[str, Any]:
    """What stats.json would say, for runs that have none (e.g. one killed before it was written)."""
    per_role: dict[str, dict[str, float]] = {}
    for event in events:
        if event.get("kind") == "model_call":
            role = per_role.setdefault(str(event.get("role")), {"calls": 0, "input_tokens": 0,
                                                                 "output_tokens": 0, "seconds": 0.0})
            role["calls"] += 1
            role["input_tokens"] += int(event.get("input_tokens", 0) or 0)
            role["output_tokens"] += int(event.get("output_tokens", 0) or 0)
            role["seconds"] = round(role["seconds"] + float(event.get("seconds", 0) or 0), 3)
    counts = dict.fromkeys(OUTCOMES, 0)
    for probe in probes:
        counts[probe.outcome] += 1
    finished = counts["accepted"] + counts["duplicate"] + counts["exhausted"] + counts["failed"]
    return {"probes": len(probes), "finished": finished, "accepted": counts["accepted"],
            "accepted_before_dedup": counts["accepted"] + counts["duplicate"],
            "duplicates_dropped": counts["duplicate"], "exhausted": counts["exhausted"],
            "failed": counts["failed"], "errored": counts["error"],
            "model_calls": sum(r["calls"] for r in per_role.values()),
            "tokens": sum(r["input_tokens"] + r["output_tokens"] for r in per_role.values()),
            "per_role": per_role}


def load_run(path: str | Path, extra_results: list[Path] | tuple[Path, ...] = ()) -> RunData:
    """Read a run folder: trajectories from the checkpointer, completed from traces.jsonl."""
    run = check_run_dir(Path(path))
    config = read_config(run)
    stats = read_stats(run)
    events = read_jsonl(run / TRACES)
    traces = _Traces(events)
    states = read_checkpoints(_checkpoint_file(run, config))
    duplicates = {str((s.get("meta") or {}).get("probe_id")) for s in read_jsonl(run / DUPLICATES)}
    passages: dict[str, PassageText] = {}
    order = list(traces.order) + sorted(set(states) - set(traces.order))
    probes = [_probe(pid, states.get(pid), traces, duplicates, passages) for pid in order]
    for probe in probes:
        _seed_from_traces(traces, probe.id, passages)
    wanted = {ref.id for p in probes for r in p.rounds for ref in r.passages} | {p.seed for p in probes}
    _index_passages(config, wanted, passages)
    notes = []
    recorded = str((config.get("campaign") or {}).get("checkpointer", ""))
    if recorded.startswith(("postgres://", "postgresql://")):
        notes.append("the checkpoints are in a Postgres database: trajectories are rebuilt from traces.jsonl")
    if not stats:
        stats = _fallback_stats(probes, events)
        notes.append("stats.json is missing: the figures are computed from the traces and checkpoints")
    source = ("checkpoints and traces" if states and events else "checkpoints" if states
              else "traces" if events else "none")
    probe_settings = config.get("probe") or {}
    thresholds = [e.get("threshold") for e in events if e.get("kind") == "route"]
    threshold = float(probe_settings.get("threshold", thresholds[-1] if thresholds else 0.5))
    max_rounds = int(probe_settings.get("max_rounds", 0) or 0) or max(
        (r.number for p in probes for r in p.rounds), default=1)
    return RunData(path=run, config=config, stats=stats, probes=probes, passages=passages,
                   source=source, threshold=threshold, max_rounds=max_rounds,
                   results=find_results(run, list(extra_results)), notes=notes)
