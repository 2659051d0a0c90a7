"""A human audit of a run: a sheet of its accepted samples to mark, and the precision it measures."""

from __future__ import annotations

import csv
import io
import math
import random
from dataclasses import dataclass
from pathlib import Path

from ..campaign.files import DATASET
from ..retrieval.files import read_jsonl, write_atomic
from .data import check_run_dir, load_run
from .errors import ReportError

COLUMNS = ("probe_id", "document", "question_type", "question", "expert_answer", "intended_answer",
           "cited_passages", "student_answer", "correct", "note")
SCORED_SHEET = "audit*.csv"  # scored sheets in the run folder are shown in its report
_YES = {"1", "y", "yes", "true", "correct", "right", "x"}
_NO = {"0", "n", "no", "false", "incorrect", "wrong"}


@dataclass
class AuditScore:
    """A scored sheet: how many samples were marked and how many of them are correct."""

    path: Path
    marked: int
    correct: int
    unmarked: int

    @property
    def precision(self) -> float:
        return self.correct / self.marked if self.marked else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_interval(self.correct, self.marked)

    def as_dict(self) -> dict:
        low, high = self.interval
        return {"sheet": self.path.name, "marked": self.marked, "correct": self.correct,
                "unmarked": self.unmarked, "precision": round(self.precision, 4),
                "interval": [round(low, 4), round(high, 4)]}


def wilson_interval(successes: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    """The 95% Wilson score interval of a proportion (sound for small samples and for 0 or all)."""
    if trials == 0:
        return 0.0, 1.0
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return max(0.0, centre - half), min(1.0, centre + half)


def write_audit_sheet(run_dir: Path, out: Path, sample: int | None = None, seed: int = 0) -> int:
    """Write a CSV with one row per accepted sample (all, or `sample` of them drawn with `seed`):
    the question, the expert's answer, the text of the passages it cites, the student's answer and
    an empty `correct` column to fill with yes or no. Returns the number of rows."""
    run = check_run_dir(run_dir)
    samples = read_jsonl(run / DATASET)
    if not samples:
        raise ReportError(f"{run}: no accepted samples to audit (dataset.jsonl is empty or missing)")
    if sample is not None and sample < len(samples):
        samples = random.Random(seed).sample(samples, sample)
    passages = load_run(run).passages
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS)
    writer.writeheader()
    for item in samples:
        meta = item["meta"]
        cited = [f"[{pid}] {passages[pid].text if pid in passages else '(text not found)'}"
                 for pid in meta.get("grounding_passages", [])]
        writer.writerow({
            "probe_id": meta["probe_id"], "document": meta["document"],
            "question_type": meta.get("question_type", ""), "question": item["messages"][0]["content"],
            "expert_answer": item["messages"][1]["content"],
            "intended_answer": meta.get("intended_answer", ""),
            "cited_passages": "\n\n".join(cited), "student_answer": meta.get("student_answer", ""),
            "correct": "", "note": "",
        })
    write_atomic(Path(out), buffer.getvalue())
    return len(samples)


def score_audit_sheet(path: Path) -> AuditScore:
    """Read a filled sheet: `correct` is yes/no (also y/n, 1/0, true/false); empty rows are unmarked."""
    path = Path(path)
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise ReportError(f"{path}: cannot read the audit sheet ({error})") from None
    if rows and "correct" not in rows[0]:
        raise ReportError(f"{path}: not an audit sheet (no 'correct' column)")
    marked = correct = unmarked = 0
    for number, row in enumerate(rows, start=2):
        mark = (row.get("correct") or "").strip().lower()
        if not mark:
            unmarked += 1
        elif mark in _YES:
            marked, correct = marked + 1, correct + 1
        elif mark in _NO:
            marked += 1
        else:
            raise ReportError(f"{path}:{number}: 'correct' must be yes or no, not {mark!r}")
    return AuditScore(path, marked, correct, unmarked)


def find_scored_sheets(run_dir: Path) -> list[AuditScore]:
    """The scored audit sheets in a run folder (audit*.csv with at least one marked row)."""
    scores = []
    for path in sorted(Path(run_dir).glob(SCORED_SHEET)):
        try:
            score = score_audit_sheet(path)
        except ReportError:
            continue
        if score.marked:
            scores.append(score)
    return scores
