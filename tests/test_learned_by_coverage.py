"""Crossing what each method learned closed-book with what its corpus states (the coverage sheets)."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import load_script

ROOT = Path(__file__).resolve().parents[1]
DOC = "cuad/ACME_2020-EX-10.1-SUPPLY AGREEMENT.txt"

FACT_SHEET = """# Coverage audit

| # | dev id | contract | category | right | contract states it? | advqa states it? | paraphrase states it? |
|---|---|---|---|---|---|---|---|
| 1 | d-1 | Acme | Agreement Date | 1/2/20 | YES | YES (advqa line 1): "made on 2 January 2020" | no |
| 2 | d-2 | Acme | Renewal Term | 1 year | YES | no | YES* (para line 3): "renews yearly", wrong party |

## Totals
"""

YES_SHEET = """# Coverage of Yes clauses

| contract (short) | file | yes_no rows | Yes | No | advqa samples |
|---|---|---|---|---|---|
| Acme | ACME_2020…SUPPLY AGREEMENT | 3 | 2 | 1 | 2 |

## Yes rows

| # | contract | category | contract clause (short quote) | advqa | paraphrase | notes |
|---|---|---|---|---|---|---|
| 1 | Acme | Insurance | 7.1 "Supplier shall insure" | **yes**: L2 "Supplier" | **wrong**: L4 "Buyer" | |
| 2 | Acme | Audit Rights | 8.1 "Buyer may audit" | partial: L2 | no | |
"""


def _row(id_, kind, category, answer_text):
    choices = {"Agreement Date": ["1/2/20", "3/4/21"], "Renewal Term": ["1 year", "2 years"]}.get(
        category, ["Yes", "No"])
    return {"id": id_, "document": DOC, "category": category, "kind": kind,
            "question": f"In the Supply Agreement: {category}?", "choices": choices,
            "answer": choices.index(answer_text)}


def _scores(predicted: dict[str, int], rows) -> dict:
    return {"predictions": {r["id"]: {"predicted": predicted[r["id"]], "answer": r["answer"]} for r in rows}}


def test_learned_rows_are_split_by_whether_the_corpus_states_them(tmp_path):
    module = load_script(ROOT / "benchmarks/learned_by_coverage.py", "learned_by_coverage")

    rows = [_row("d-1", "choice", "Agreement Date", "1/2/20"),
            _row("d-2", "choice", "Renewal Term", "1 year"), _row("y-1", "yes_no", "Insurance", "Yes"),
            _row("y-2", "yes_no", "Audit Rights", "Yes"),
            _row("n-1", "yes_no", "Exclusivity", "No")]
    qa = tmp_path / "dev.jsonl"
    qa.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    keep = tmp_path / "keep"
    (keep / "scores" / "base").mkdir(parents=True)
    (keep / "fact_coverage.md").write_text(FACT_SHEET, encoding="utf-8")
    (keep / "yes_no_coverage.md").write_text(YES_SHEET, encoding="utf-8")
    wrong = {r["id"]: 1 - r["answer"] for r in rows}
    (keep / "scores" / "base" / "closed_book.json").write_text(json.dumps(_scores(wrong, rows)))
    # advqa_dpo trains on advqa's samples: its seeds learn the date and the insurance clause (stated by
    # advqa's corpus), one of them the renewal term too (not stated), and one forgets nothing.
    for seed, extra in ((0, {}), (1, {"d-2": 0})):
        folder = keep / "scores" / "advqa_dpo" / f"seed{seed}"
        folder.mkdir(parents=True)
        predicted = wrong | {"d-1": 0, "y-1": 0} | extra
        (folder / "closed_book.json").write_text(json.dumps(_scores(predicted, rows)))
    (keep / "scores" / "raw" / "seed0").mkdir(parents=True)  # no column in the sheets: left out
    (keep / "scores" / "raw" / "seed0" / "closed_book.json").write_text(json.dumps(_scores(wrong, rows)))

    assert module.main(["--keep", str(keep), "--qa", str(qa)]) == 0
    result = json.loads((keep / "learned_by_coverage.json").read_text())
    assert set(result) == {"advqa_dpo"}
    groups = result["advqa_dpo"]
    assert groups["value, stated"] == {"rows": 1, "base_wrong": 1, "learned": 1, "forgotten": 0, "seeds": 2}
    assert groups["value, not stated"]["learned"] == 0.5
    assert groups["Yes, stated"]["learned"] == 1 and groups["Yes, not stated"]["rows"] == 1
    assert groups["Yes, not stated"]["learned"] == 0 and groups["No"]["rows"] == 1
    # a cell marked "YES*" (the fact right, something else in the sample wrong) counts as stated
    assert module.value_coverage(FACT_SHEET)["d-2"] == {"advqa": False, "paraphrase": True}
