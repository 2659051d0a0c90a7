"""Build a folder of CUAD contracts for a campaign: links to ../shared's files, and documents.json
giving each contract's title and parties as ../shared/cuad_qa names them.

    python benchmarks/cuad_corpus.py --contracts 8 --out runs/cuad8/docs
    advqa generate --docs runs/cuad8/docs --out runs/cuad8 --seeds-per-doc 10

The contracts are the dev half's with the most closed-book question rows (`choice` rows first,
then all rows, then by name), so a campaign's samples can be checked against those questions.
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared"
QA = SHARED / "cuad_qa" / "dev.jsonl"
CONTRACTS = SHARED / "legalbench" / "contracts"
_NAMED = re.compile(r"^In the (.+?) between (.+?) and (.+?):\s")


def read_rows(path: Path = QA) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def choose_contracts(rows: list[dict], count: int) -> list[str]:
    """The `count` contracts with the most `choice` rows, then the most rows, then by name."""
    choice = Counter(r["document"] for r in rows if r["kind"] == "choice")
    total = Counter(r["document"] for r in rows)
    return sorted(total, key=lambda d: (-choice[d], -total[d], d))[:count]


def card_of(rows: list[dict], document: str) -> dict:
    """{"title", "parties"} from the opening that names the contract in its questions."""
    for row in rows:
        if row["document"] == document and (match := _NAMED.match(row["question"])):
            return {"title": match.group(1), "parties": [match.group(2), match.group(3)]}
    return {"title": Path(document).stem, "parties": []}


def build(out: Path, count: int) -> list[str]:
    rows = read_rows()
    chosen = choose_contracts(rows, count)
    out.mkdir(parents=True, exist_ok=True)
    cards = {}
    for document in chosen:
        link = out / Path(document).name
        if not link.exists():
            link.symlink_to(CONTRACTS / document)
        cards[link.name] = card_of(rows, document)
    text = json.dumps(cards, indent=2, ensure_ascii=False) + "\n"
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
