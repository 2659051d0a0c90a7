"""Build a folder of CUAD contracts for a campaign: links to ../shared's files, and documents.json
giving each contract's title and parties as ../shared/cuad_qa names them.

    python benchmarks/cuad_corpus.py --contracts 8 --out runs/cuad8/docs
    advqa generate --docs runs/cuad8/docs --out runs/cuad8 --seeds-per-doc 10

The contracts are the dev half's with the most closed-book question rows (then the most `choice`
rows, then by name), so a campaign's samples can be checked against those questions.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared"
QA = SHARED / "cuad_qa" / "dev.jsonl"
CONTRACTS = SHARED / "legalbench" / "contracts"


def build(out: Path, count: int) -> list[str]:
    from advqa.evaluation.closed_book import read_qa
    from advqa.evaluation.controls import choose_contracts, contract_cards

    rows = read_qa(QA)
    chosen = choose_contracts(rows, count)
    out.mkdir(parents=True, exist_ok=True)
    for document in chosen:
        link = out / Path(document).name
        if not link.exists():
            link.symlink_to(CONTRACTS / document)
    text = json.dumps(contract_cards(rows, chosen), indent=2, ensure_ascii=False) + "\n"
    (out / "documents.json").write_text(text, encoding="utf-8")
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contracts", type=int, default=8)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    for document in build(args.out, args.contracts):
        print(document)


if __name__ == "__main__":
    main()
