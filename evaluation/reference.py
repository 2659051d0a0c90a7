"""A reference corpus from the CUAD contracts behind LegalBench cuad_* rows, and its document list."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path
from typing import Any

from ..retrieval.files import write_atomic
from .errors import EvaluationError
from .legalbench import list_tasks, load_task

DOCUMENT_MAP = Path("contracts") / "cuad_document_map.tsv"
REFERENCE_FILE = "reference.json"


def build_reference_corpus(legalbench_root: Path | str, tasks: list[str] | str, out_dir: Path | str,
                           max_contracts: int | None = None, seed: int = 0) -> dict[str, Any]:
    """Copy the CUAD contracts that the rows (test and train) of the matching cuad_* tasks come from
    into `out_dir`, with `reference.json` mapping each LegalBench document_name to its file there.

    With `max_contracts`, contracts are picked greedily to cover as many tasks as possible, ties
    (and the rest, once every task is covered) going to the contract with the most test rows, then
    in a seeded random order, so that many evaluation rows come from reference contracts.
    Returns a summary.
    """
    root, out_dir = Path(legalbench_root), Path(out_dir)
    names = [name for name in list_tasks(root, tasks) if name.startswith("cuad_")]
    if not names:
        raise EvaluationError(f"{root}: no cuad_* task among '{tasks}' (only they name CUAD contracts)")
    if max_contracts is not None and max_contracts < 1:
        raise EvaluationError(f"--max-contracts must be positive, not {max_contracts}")
    contract_files = read_document_map(root)
    document_tasks: dict[str, set[str]] = {}
    test_rows: dict[str, int] = {}
    for name in names:
        task = load_task(root, name)
        for row in [*task.rows, *task.train_rows]:
            document_tasks.setdefault(row["document_name"], set()).add(name)
        for row in task.rows:
            test_rows[row["document_name"]] = test_rows.get(row["document_name"], 0) + 1
    unmapped = sorted(d for d in document_tasks if d not in contract_files)
    mapped = {d: t for d, t in document_tasks.items() if d in contract_files}
    chosen = choose_documents(mapped, max_contracts, seed, test_rows)

    prepare_out_dir(out_dir)
    documents = {}
    for document in chosen:
        source = contract_files[document]
        write_atomic(out_dir / source.name, source.read_bytes())
        documents[document] = source.name
    record = {"legalbench": str(root), "tasks": names, "max_contracts": max_contracts, "seed": seed,
              "documents": documents}
    write_atomic(out_dir / REFERENCE_FILE, json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    covered = {name: sum(name in mapped[d] for d in chosen) for name in names}
    return {"out_dir": str(out_dir), "contracts": len(set(documents.values())), "documents": documents,
            "tasks": names, "documents_per_task": covered,
            "test_rows": sum(test_rows.get(d, 0) for d in chosen),
            "tasks_covered": sum(count > 0 for count in covered.values()), "unmapped": unmapped}


def build_contract_corpus(legalbench_root: Path | str, contracts: list[str],
                          out_dir: Path | str) -> dict[str, Any]:
    """Copy the named CUAD contracts (paths relative to LegalBench's contracts/ folder, as cuad_qa's
    `document` field gives them) into `out_dir`, with `reference.json` mapping each LegalBench
    document_name of those contracts to its file there, so `evaluate(..., only_reference=True)`
    scores the LegalBench rows that come from them."""
    root, out_dir = Path(legalbench_root), Path(out_dir)
    folder = root / DOCUMENT_MAP.parent
    missing = [c for c in contracts if not (folder / c).is_file()]
    if missing:
        raise EvaluationError(f"{folder / missing[0]}: contract file not found")
    wanted = {(folder / c).resolve() for c in contracts}
    prepare_out_dir(out_dir)
    for contract in contracts:
        source = folder / contract
        write_atomic(out_dir / source.name, source.read_bytes())
    documents = {name: file.name for name, file in read_document_map(root).items()
                 if file.resolve() in wanted}
    record = {"legalbench": str(root), "contracts": list(contracts), "documents": documents}
    write_atomic(out_dir / REFERENCE_FILE, json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    return record


def read_document_map(root: Path) -> dict[str, Path]:
    """document_name -> contract text file, from contracts/cuad_document_map.tsv."""
    path = root / DOCUMENT_MAP
    if not path.is_file():
        raise EvaluationError(f"{path}: file not found")
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t")
        missing = {"document_name", "contract_file"} - set(reader.fieldnames or [])
        if missing:
            raise EvaluationError(f"{path}: missing column {', '.join(sorted(missing))}")
        mapping = {}
        for row in reader:
            file = path.parent / row["contract_file"]
            if not file.is_file():
                raise EvaluationError(f"{path}:{reader.line_num}: contract file {file} not found")
            mapping[row["document_name"]] = file
    return mapping


def choose_documents(document_tasks: dict[str, set[str]], limit: int | None, seed: int,
                     test_rows: dict[str, int] | None = None) -> list[str]:
    """All documents, or `limit` of them: greedy task coverage first, then the most test rows,
    then a seeded random order."""
    test_rows = test_rows or {}
    order = sorted(document_tasks)
    random.Random(seed).shuffle(order)
    if limit is None or limit >= len(order):
        return sorted(order)
    rank = {document: position for position, document in enumerate(order)}
    covered: set[str] = set()
    chosen: list[str] = []
    remaining = list(order)
    while len(chosen) < limit:
        best = max(remaining, key=lambda d: (len(document_tasks[d] - covered), test_rows.get(d, 0), -rank[d]))
        chosen.append(best)
        remaining.remove(best)
        covered |= document_tasks[best]
    return sorted(chosen)


def prepare_out_dir(out_dir: Path) -> None:
    """Create `out_dir`; a folder from an earlier build loses its old contracts, anything else is refused."""
    record = out_dir / REFERENCE_FILE
    if out_dir.is_dir() and any(out_dir.iterdir()):
        if not record.is_file():
            raise EvaluationError(f"{out_dir}: folder is not empty and holds no {REFERENCE_FILE}; "
                                  f"choose a new folder")
        for file in read_reference(out_dir)["documents"].values():
            (out_dir / file).unlink(missing_ok=True)
    out_dir.mkdir(parents=True, exist_ok=True)


def read_reference(path: Path | str) -> dict[str, Any]:
    """The record build_reference_corpus wrote (`path`: the folder or its reference.json)."""
    path = Path(path)
    file = path / REFERENCE_FILE if path.is_dir() else path
    if not file.is_file():
        raise EvaluationError(f"{file}: file not found (build it with `advqa reference`)")
    try:
        record = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise EvaluationError(f"{file}: not valid JSON ({error.msg}, line {error.lineno})") from None
    if not isinstance(record, dict) or not isinstance(record.get("documents"), dict):
        raise EvaluationError(f"{file}: no 'documents' mapping")
    return record


def read_reference_documents(path: Path | str) -> set[str]:
    """The LegalBench document_names whose contracts are in a reference corpus."""
    return set(read_reference(path)["documents"])
