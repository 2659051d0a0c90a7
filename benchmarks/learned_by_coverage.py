"""What each method learned closed-book, split by whether its corpus states the fact (the coverage sheets).

The sample-efficiency run keeps two sheets read by hand: `fact_coverage.md` (the value rows, by
dev id) and `yes_no_coverage.md` (the clause behind each Yes row, by contract and category), with a
column per corpus saying whether it states the fact. A row the base model got wrong that a corpus
states and its adapters still get wrong is the training recipe's loss; a row the corpus never
states cannot be learned from it (coverage). This crosses the sheets with every kept adapter's
closed-book predictions:

    python benchmarks/learned_by_coverage.py [--keep benchmarks/results/sample_efficiency]
                                             [--out KEEP/learned_by_coverage.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from statistics import mean
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
KEEP = ROOT / "benchmarks" / "results" / "sample_efficiency"
SHARED_QA = ROOT.parent / "shared" / "cuad_qa" / "dev.jsonl"
SHEET_COLUMN = {"advqa_dpo": "advqa"}  # a method whose corpus is another's: advqa's samples as pairs


def table_rows(markdown: str, first_header: str) -> list[dict[str, str]]:
    """The rows of the markdown table whose header row begins `| <first_header> |`, by header name."""
    lines = markdown.splitlines()
    for start, line in enumerate(lines):
        cells = _cells(line)
        if cells and cells[0] == first_header:
            header = cells
            rows = []
            for row in lines[start + 2:]:
                if not row.startswith("|"):
                    break
                rows.append(dict(zip(header, _cells(row))))
            return rows
    raise ValueError(f"no table with a first column '{first_header}'")


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")] if line.startswith("|") else []


def stated(cell: str) -> bool:
    """A sheet's cell says the corpus states the fact: "YES ...", "**yes**: ...", "YES* ..." (right, with
    a wrong statement later in the sample); "no", "partial" and "wrong" do not."""
    return cell.lstrip("*").strip().lower().startswith("yes")


def value_coverage(sheet: str) -> dict[str, dict[str, bool]]:
    """dev id -> {corpus: states it} from fact_coverage.md."""
    coverage = {}
    for row in table_rows(sheet, "#"):
        columns = {name.removesuffix(" states it?"): stated(cell) for name, cell in row.items()
                   if name.endswith(" states it?") and name != "contract states it?"}
        coverage[row["dev id"]] = columns
    return coverage


def yes_coverage(sheet: str, documents: list[str]) -> dict[tuple[str, str], dict[str, bool]]:
    """(contract file name, category) -> {corpus: states the clause} from yes_no_coverage.md."""
    files = {}
    for row in table_rows(sheet, "contract (short)"):
        head, _, tail = row["file"].partition("…")
        matches = [d for d in documents if Path(d).stem.startswith(head) and Path(d).stem.endswith(tail)]
        if len(matches) == 1:
            files[row["contract (short)"]] = Path(matches[0]).name
    coverage = {}
    for row in table_rows(sheet, "#"):
        corpora = [name for name in row if name not in ("#", "contract", "category", "notes")
                   and not name.startswith("contract clause")]
        coverage[(files[row["contract"]], row["category"])] = {name: stated(row[name]) for name in corpora}
    return coverage


def row_groups(rows: list[dict[str, Any]], corpus: str, values: dict, yeses: dict) -> dict[str, set[str]]:
    """Row ids by kind and by whether `corpus` states their fact; the No rows have no clause to state."""
    groups: dict[str, set[str]] = {name: set() for name in (
        "value, stated", "value, not stated", "Yes, stated", "Yes, not stated", "No")}
    for row in rows:
        if row["kind"] == "choice" and row["id"] in values:
            groups["value, stated" if values[row["id"]].get(corpus) else "value, not stated"].add(row["id"])
        elif row["kind"] == "yes_no" and row["choices"][row["answer"]].lower() == "no":
            groups["No"].add(row["id"])
        elif row["kind"] == "yes_no":
            clause = yeses.get((Path(row["document"]).name, row["category"]), {})
            groups["Yes, stated" if clause.get(corpus) else "Yes, not stated"].add(row["id"])
    return groups


def crossing(base: dict, seeds: list[dict], groups: dict[str, set[str]]) -> dict[str, dict[str, Any]]:
    """Per group: rows, rows the base got wrong, and the mean over seeds of those learned and of the
    base's right rows forgotten."""
    right = {i: p["predicted"] == p["answer"] for i, p in base["predictions"].items()}
    out = {}
    for name, ids in groups.items():
        wrong_before = [i for i in ids if not right[i]]
        right_before = [i for i in ids if right[i]]

        def correct(run: dict, i: str) -> bool:
            return run["predictions"][i]["predicted"] == run["predictions"][i]["answer"]

        out[name] = {"rows": len(ids), "base_wrong": len(wrong_before),
                     "learned": round(mean(sum(correct(r, i) for i in wrong_before) for r in seeds), 2),
                     "forgotten": round(mean(sum(not correct(r, i) for i in right_before) for r in seeds), 2),
                     "seeds": len(seeds)}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, default=KEEP)
    parser.add_argument("--qa", type=Path, default=SHARED_QA)
    parser.add_argument("--out", type=Path, default=None, help="[default: KEEP/learned_by_coverage.json]")
    args = parser.parse_args(argv)
    scores = args.keep / "scores"
    if not (scores / "base" / "closed_book.json").is_file():
        raise SystemExit(f"{scores / 'base' / 'closed_book.json'}: the base model is not scored yet")
    base = json.loads((scores / "base" / "closed_book.json").read_text(encoding="utf-8"))
    qa = [json.loads(line) for line in args.qa.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = [row for row in qa if row["id"] in base["predictions"]]
    documents = sorted({row["document"] for row in rows})
    values = value_coverage((args.keep / "fact_coverage.md").read_text(encoding="utf-8"))
    yeses = yes_coverage((args.keep / "yes_no_coverage.md").read_text(encoding="utf-8"), documents)
    sheets = set().union(*(columns.keys() for columns in values.values()))

    results: dict[str, Any] = {}
    for folder in sorted(p for p in scores.iterdir() if p.is_dir() and p.name != "base"):
        corpus = SHEET_COLUMN.get(folder.name, folder.name)
        runs = [json.loads(f.read_text(encoding="utf-8"))
                for f in sorted(folder.glob("seed*/closed_book.json"))]
        if corpus in sheets and runs:
            results[folder.name] = crossing(base, runs, row_groups(rows, corpus, values, yeses))
    out = args.out or args.keep / "learned_by_coverage.json"
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print("| method | rows | n | base wrong | learned | forgotten |\n|---|---|---|---|---|---|")
    for method, groups in results.items():
        for name, g in groups.items():
            print(f"| {method} ({g['seeds']} seeds) | {name} | {g['rows']} | {g['base_wrong']} | "
                  f"{g['learned']} | {g['forgotten']} |")
    print(f"written: {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
