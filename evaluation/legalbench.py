"""LegalBench tasks: read and validate a task folder (or the hub), list tasks, sample rows."""

from __future__ import annotations

import csv
import fnmatch
import random
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from .errors import EvaluationError

BINARY_LABELS = ["No", "Yes"]
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
# A few-shot example's answer line in a base prompt: "Label: Yes", "Answer: No", "A: Yes".
_EXAMPLE_ANSWER = re.compile(r"^\s*(?:Label|Answer|A)\s*:\s*(\S.*?)\s*$", re.MULTILINE)
HUB_DATASET = "nguha/legalbench"
BASE_PROMPT_URL = "https://raw.githubusercontent.com/HazyResearch/legalbench/main/tasks/{name}/base_prompt.txt"


@dataclass
class Task:
    """One LegalBench task: test rows to score, train rows, the few-shot prompt and its labels."""

    name: str
    rows: list[dict[str, str]]
    train_rows: list[dict[str, str]]
    base_prompt: str
    labels: list[str]
    columns: list[str]

    @property
    def placeholders(self) -> list[str]:
        """The row columns the base prompt fills in, in order of first use."""
        return prompt_columns(self.base_prompt)


def prompt_columns(base_prompt: str) -> list[str]:
    """The `{{column}}` names a base prompt uses, in order of first use."""
    return list(dict.fromkeys(PLACEHOLDER.findall(base_prompt)))


def tasks_folder(root: Path | str) -> Path:
    """The folder holding one sub-folder per task: ROOT/tasks when it exists, else ROOT itself."""
    root = Path(root)
    if not root.is_dir():
        raise EvaluationError(f"{root}: LegalBench folder not found")
    return root / "tasks" if (root / "tasks").is_dir() else root


def list_tasks(root: Path | str, patterns: list[str] | str) -> list[str]:
    """Names of the task folders under `root` matching any fnmatch pattern ("cuad_*", "contract_qa")."""
    if isinstance(patterns, str):
        patterns = split_patterns(patterns)
    if not patterns:
        raise EvaluationError("no task given: pass patterns such as 'cuad_*,contract_qa'")
    folder = tasks_folder(root)
    names = sorted(p.name for p in folder.iterdir() if (p / "base_prompt.txt").is_file())
    chosen: list[str] = []
    for pattern in patterns:
        # An exact name is kept even without a base prompt, so that load_task says what is missing.
        exact = (folder / pattern).is_dir() and not any(c in pattern for c in "*?[")
        matched = [pattern] if exact else [n for n in names if fnmatch.fnmatchcase(n, pattern)]
        if not matched:
            raise EvaluationError(f"{folder}: no task matches '{pattern}'")
        chosen.extend(n for n in matched if n not in chosen)
    return chosen


def split_patterns(text: str) -> list[str]:
    """'cuad_*, contract_qa' -> ['cuad_*', 'contract_qa']."""
    return [part.strip() for part in text.split(",") if part.strip()]


def load_task(root: Path | str, name: str) -> Task:
    """Read tasks/<name>/{base_prompt.txt,test.tsv,train.tsv} and check them against each other.

    Errors name the file (and line): a missing folder or file, an empty file, a missing column
    (`answer`, and every column the base prompt uses), an answer outside the task's labels.
    train.tsv may be absent (the few-shot examples are already in the base prompt).
    """
    folder = tasks_folder(root) / name
    if not folder.is_dir():
        raise EvaluationError(f"{folder}: task folder not found")
    prompt_path = folder / "base_prompt.txt"
    if not prompt_path.is_file():
        raise EvaluationError(f"{prompt_path}: file not found")
    base_prompt = prompt_path.read_text(encoding="utf-8-sig")
    if not base_prompt.strip():
        raise EvaluationError(f"{prompt_path}: file is empty")
    required = ["answer", *prompt_columns(base_prompt)]
    test_path = folder / "test.tsv"
    if not test_path.is_file():
        raise EvaluationError(f"{test_path}: file not found")
    columns, test_rows = read_tsv(test_path, required)
    train_path = folder / "train.tsv"
    train_rows = read_tsv(train_path, ["answer"])[1] if train_path.is_file() else []
    labels = task_labels(base_prompt, train_rows, test_rows)
    for path, rows in ((train_path, train_rows), (test_path, test_rows)):
        check_answers(path, rows, labels)
    return Task(name=name, rows=strip_line_numbers(test_rows), train_rows=strip_line_numbers(train_rows),
                base_prompt=base_prompt, labels=labels, columns=columns)


def load_task_from_hub(name: str, base_prompt: str | None = None) -> Task:
    """Load a task from the Hugging Face hub (`nguha/legalbench`); needs the `datasets` package.

    The hub holds the rows only; the base prompt comes from `base_prompt` or, when it is not
    given, from LegalBench's GitHub repository.
    """
    try:
        from datasets import load_dataset
    except ImportError:
        raise EvaluationError("LegalBench from the hub needs `datasets`: pip install datasets") from None
    try:
        splits = load_dataset(HUB_DATASET, name)
    except Exception as error:  # noqa: BLE001 - the hub raises many types; the user needs one line
        raise EvaluationError(f"{HUB_DATASET}/{name}: cannot load it: {first_line(error)}") from None
    base_prompt = base_prompt if base_prompt is not None else fetch_base_prompt(name)
    rows = {split: [{k: str(v) for k, v in row.items()} for row in splits[split]]
            for split in ("train", "test") if split in splits}
    if not rows.get("test"):
        raise EvaluationError(f"{HUB_DATASET}/{name}: no test rows")
    source = f"{HUB_DATASET}/{name}"
    for split, needed in (("test", ["answer", *prompt_columns(base_prompt)]), ("train", ["answer"])):
        missing = [column for column in needed if rows.get(split) and column not in rows[split][0]]
        if missing:
            raise EvaluationError(f"{source}/{split}: missing column {', '.join(missing)}")
    numbered = {split: [dict(r, _line=str(i + 1)) for i, r in enumerate(v)] for split, v in rows.items()}
    labels = task_labels(base_prompt, numbered.get("train", []), numbered["test"])
    for split, split_rows in numbered.items():
        check_answers(Path(f"{source}/{split}"), split_rows, labels)
    return Task(name=name, rows=strip_line_numbers(numbered["test"]),
                train_rows=strip_line_numbers(numbered.get("train", [])), base_prompt=base_prompt,
                labels=labels, columns=list(rows["test"][0]))


def fetch_base_prompt(name: str) -> str:
    """LegalBench's base_prompt.txt for `name`, from its GitHub repository."""
    import urllib.request

    url = BASE_PROMPT_URL.format(name=name)
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.read().decode("utf-8")
    except OSError as error:
        raise EvaluationError(f"{url}: cannot fetch the base prompt ({first_line(error)}); "
                              f"pass base_prompt or use a local LegalBench folder") from None


def read_tsv(path: Path, required: list[str]) -> tuple[list[str], list[dict[str, str]]]:
    """Read a LegalBench TSV (header row, CSV-style quoting); each row keeps its line as `_line`."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t")
        try:
            header = next(reader, None)
            if header is None:
                raise EvaluationError(f"{path}: file is empty")
            header = [column.strip() for column in header]
            missing = [column for column in required if column not in header]
            if missing:
                raise EvaluationError(f"{path}: missing column {', '.join(missing)} "
                                      f"(columns: {', '.join(header)})")
            rows = []
            start = reader.line_num + 1
            for values in reader:
                if any(v.strip() for v in values):
                    if len(values) != len(header):
                        raise EvaluationError(f"{path}:{start}: {len(values)} fields, "
                                              f"the header has {len(header)}")
                    rows.append({**dict(zip(header, values)), "_line": str(start)})
                start = reader.line_num + 1
        except csv.Error as error:
            raise EvaluationError(f"{path}:{reader.line_num}: {error}") from None
    if not rows:
        raise EvaluationError(f"{path}: no rows under the header")
    return header, rows


def example_labels(base_prompt: str) -> list[str]:
    """The answers of the few-shot examples written in a base prompt ("Label: Yes" lines)."""
    return list(dict.fromkeys(_EXAMPLE_ANSWER.findall(base_prompt)))


def is_binary(labels: list[str]) -> bool:
    return bool(labels) and {label.lower() for label in labels} <= {"yes", "no"}


def task_labels(base_prompt: str, train_rows: list[dict], test_rows: list[dict]) -> list[str]:
    """The task's label set: Yes/No when the prompt's examples (else the train answers) are Yes/No;
    otherwise the distinct answers of train and test."""
    evidence = example_labels(base_prompt) or [row["answer"].strip() for row in train_rows]
    if is_binary(evidence):
        return list(BINARY_LABELS)
    return sorted({row["answer"].strip() for row in [*train_rows, *test_rows]})


def check_answers(path: Path, rows: list[dict[str, str]], labels: list[str]) -> None:
    """Reject an answer outside `labels`; for Yes/No tasks "yes " or "NO" is normalised in place."""
    canonical = {label.lower(): label for label in labels} if labels == BINARY_LABELS else \
        {label: label for label in labels}
    for row in rows:
        answer = row["answer"].strip()
        key = answer.lower() if labels == BINARY_LABELS else answer
        if key not in canonical:
            expected = " or ".join(labels) if labels == BINARY_LABELS else ", ".join(labels)
            kind = "this Yes/No task" if labels == BINARY_LABELS else "this task"
            raise EvaluationError(f"{path}:{row['_line']}: answer '{answer}' is not a label of "
                                  f"{kind} (expected {expected})")
        row["answer"] = canonical[key]


def strip_line_numbers(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    return [{k: v for k, v in row.items() if k != "_line"} for row in rows]


def sample_rows(rows: list[dict[str, str]], limit: int | None, seed: int = 0) -> list[dict[str, str]]:
    """`limit` rows stratified by answer: proportional shares (largest remainder), at least one
    per label when `limit` allows, drawn with a fixed seed; returned in their original order."""
    if limit is None or limit >= len(rows):
        return list(rows)
    if limit <= 0:
        raise EvaluationError(f"--limit must be positive, not {limit}")
    groups: dict[str, list[int]] = defaultdict(list)
    for position, row in enumerate(rows):
        groups[row["answer"]].append(position)
    quotas = stratum_quotas({label: len(members) for label, members in groups.items()}, limit)
    rng = random.Random(seed)
    chosen: list[int] = []
    for label in sorted(groups):
        chosen.extend(rng.sample(groups[label], quotas[label]))
    return [rows[position] for position in sorted(chosen)]


def stratum_quotas(sizes: dict[str, int], limit: int) -> dict[str, int]:
    """Split `limit` over strata in proportion to `sizes`, at least one each when limit allows."""
    total = sum(sizes.values())
    exact = {label: limit * size / total for label, size in sizes.items()}
    quotas = {label: int(share) for label, share in exact.items()}
    if limit >= len(sizes):
        quotas = {label: max(1, quota) for label, quota in quotas.items()}
    # Largest remainder first; ties go to the larger stratum, then the label name, so it is stable.
    order = sorted(sizes, key=lambda label: (quotas[label] - exact[label], -sizes[label], label))
    while sum(quotas.values()) < limit:
        for label in order:
            if sum(quotas.values()) < limit and quotas[label] < sizes[label]:
                quotas[label] += 1
    floor = 1 if limit >= len(sizes) else 0
    while sum(quotas.values()) > limit:
        reducible = [label for label in sorted(quotas) if quotas[label] > floor]
        quotas[max(reducible, key=lambda label: quotas[label] - exact[label])] -= 1
    return quotas


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
