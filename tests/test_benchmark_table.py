"""The sample-efficiency results rendered as the README's markdown tables."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import load_script

ROOT = Path(__file__).resolve().parents[1]


def closed_book(choice, yes_no, seeds, learned=None):
    figures = {"choice_accuracy": choice, "yes_no_balanced_accuracy": yes_no,
               "ci": {"choice": [choice - 0.1, choice + 0.1], "yes_no": [yes_no - 0.05, yes_no + 0.05]},
               "spread": {"choice": [choice - 0.02, choice + 0.02], "yes_no": [yes_no, yes_no]},
               "seeds": [{"seed": s} for s in range(seeds)]}
    return figures | ({"learned": learned[0], "forgotten": learned[1]} if learned else {})


def test_methods_show_mean_interval_and_spread_and_stages_their_time_per_adapter(tmp_path, capsys):
    table = load_script(ROOT / "benchmarks/sample_efficiency_table.py", "sample_efficiency_table")
    results = {"settings": {"keep": str(tmp_path)}, "methods": {
        "base": {"synthetic_tokens": 0, "macro_balanced_accuracy": 0.574, "macro_ci95": [0.48, 0.64],
                 "closed_book": closed_book(0.19, 0.45, 1) | {"seeds": [{"seed": 0}]}},
        "advqa": {"synthetic_tokens": 11655, "macro_balanced_accuracy": 0.45, "macro_ci95": [0.38, 0.54],
                  "macro_spread": [0.447, 0.456], "closed_book": closed_book(0.2344, 0.46, 2, (48.0, 77.5))},
        "raw": {"synthetic_tokens": 11655, "macro_balanced_accuracy": 0.5, "closed_book": {"seeds": []}},
    }}
    (tmp_path / "results.json").write_text(json.dumps(results))
    (tmp_path / "timings.json").write_text('{"advqa": {"generate": 100, "train": 3000, "evaluate": 180}}')
    assert table.main(["--results", str(tmp_path / "results.json")]) == 0
    lines = capsys.readouterr().out.splitlines()
    advqa = next(line for line in lines if line.startswith("| advqa | 11,655 | 2 |"))
    assert "0.23 [0.13, 0.33] (0.21-0.25)" in advqa and "48 / 77.5" in advqa
    assert not any(line.startswith("| raw |") for line in lines)  # nothing scored yet: no row
    assert "| advqa | 100 | 3,000 (1,500) | 180 (90) |" in lines
    assert table.main(["--results", str(tmp_path / "missing.json")]) == 2
