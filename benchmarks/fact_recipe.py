"""Search a training recipe that stores facts, with two controls built from closed-book questions.

For N contracts of ../shared/cuad_qa/dev.jsonl (those with the most `choice` rows), two control
sets: the *answer key* (each question with its answer: memorisation) and the *restated facts*
(each fact as three statements in other words, no question form, never the question's wording);
and a third, *restated_qa*: each fact as two questions and answers in words of our own.
Each recipe trains the bundled student on each control; each adapter is scored closed-book on
those contracts' questions (`advqa eval --qa`), with learned/forgotten against the base model.

    python benchmarks/fact_recipe.py [--contracts 4] [--recipes facts,default] [--work DIR]
                                     [--out benchmarks/results/fact_recipe.json]

Every stage keeps its output in --work (controls, base scores, each adapter and its scores): run
again, it continues where it stopped.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_QA = ROOT.parent / "shared" / "cuad_qa" / "dev.jsonl"
MODEL = "bundled:smollm2-135m"
ALL_LINEAR = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
ATTENTION = ["q_proj", "k_proj", "v_proj", "o_proj"]
# name -> TrainConfig options. "default" is `advqa train`'s own: since this search, facts_10_epochs
# (every linear layer, lr 1e-3, 10 epochs); before it, attention_2e-4.
RECIPES = {
    "default": {},
    "attention_2e-4": {"learning_rate": 2e-4, "epochs": 2.0, "target_modules": ATTENTION},
    "facts": {"learning_rate": 1e-3, "max_steps": 150, "target_modules": ALL_LINEAR},
    "facts_long": {"learning_rate": 1e-3, "max_steps": 300, "target_modules": ALL_LINEAR},
    "facts_10_epochs": {"learning_rate": 1e-3, "epochs": 10.0, "target_modules": ALL_LINEAR},
    "facts_r64": {"learning_rate": 1e-3, "max_steps": 300, "target_modules": ALL_LINEAR, "lora_r": 64,
                  "lora_alpha": 64},
}


def scores_of(results: dict) -> dict:
    overall = results["overall"]
    return {key: overall.get(key) for key in ("choice_accuracy", "choice_ci", "choice_n",
                                              "yes_no_balanced_accuracy", "yes_no_ci", "yes_no_n")} | (
        {"learned": results["learned"]} if "learned" in results else {})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qa", type=Path, default=SHARED_QA)
    parser.add_argument("--contracts", type=int, default=4)
    parser.add_argument("--recipes", default="facts,default", help=f"comma-separated: {', '.join(RECIPES)}")
    parser.add_argument("--controls", default="answer_key,restated", help="answer_key, restated, restated_qa")
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "fact_recipe")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "fact_recipe.json")
    args = parser.parse_args(argv)

    from advqa.evaluation.closed_book import evaluate_closed_book, read_qa
    from advqa.evaluation.controls import answer_key, choose_contracts, restated_facts, restated_questions
    from advqa.retrieval.files import write_atomic, write_jsonl
    from advqa.training import TrainConfig, train

    rows = read_qa(args.qa)
    contracts = choose_contracts(rows, args.contracts)
    chosen = [r for r in rows if r.document in contracts]
    names = {Path(d).name for d in contracts}
    controls = {"answer_key": write_jsonl(args.work / "answer_key.jsonl", answer_key(chosen)),
                "restated": write_jsonl(args.work / "restated.jsonl", restated_facts(chosen)),
                "restated_qa": write_jsonl(args.work / "restated_qa.jsonl", restated_questions(chosen))}
    result = {"model": MODEL, "contracts": contracts, "rows": len(chosen),
              "kinds": dict(Counter(r.kind for r in chosen)), "recipes": {}, "seconds": {}}
    if args.out.is_file():
        earlier = json.loads(args.out.read_text(encoding="utf-8"))
        if earlier.get("contracts") == contracts:
            result["recipes"], result["seconds"] = earlier.get("recipes", {}), earlier.get("seconds", {})

    def save() -> None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(args.out, json.dumps(result, indent=2) + "\n")  # never half a file of results

    base_file = args.work / "base.json"
    if not base_file.is_file():
        started = time.perf_counter()
        base = evaluate_closed_book(MODEL, args.qa, documents=names)
        base_file.write_text(json.dumps(base), encoding="utf-8")
        result["seconds"]["base_eval"] = round(time.perf_counter() - started, 1)
    result["base"] = scores_of(json.loads(base_file.read_text(encoding="utf-8")))
    save()
    for recipe in args.recipes.split(","):
        for control in args.controls.split(","):
            key = f"{recipe}/{control}"
            folder = args.work / recipe / control
            scores_file = folder / "scores.json"
            if not scores_file.is_file():
                started = time.perf_counter()
                summary = train(controls[control], MODEL, folder / "adapter", TrainConfig(**RECIPES[recipe]))
                trained = time.perf_counter() - started
                scores = evaluate_closed_book(MODEL, args.qa, adapter=folder / "adapter", documents=names,
                                              baseline=base_file)
                scores_file.write_text(json.dumps(scores), encoding="utf-8")
                result["seconds"][key] = {"train": round(trained, 1),
                                          "eval": round(time.perf_counter() - started - trained, 1)}
                result.setdefault("training", {})[key] = {k: summary.get(k) for k in ("steps", "final_loss")
                                                          if k in summary}
            result["recipes"][key] = {"options": RECIPES[recipe],
                                      **scores_of(json.loads(scores_file.read_text(encoding="utf-8")))}
            save()
            print(key, json.dumps(result["recipes"][key]), file=sys.stderr)
    print(json.dumps({"base": result["base"], "recipes": result["recipes"]}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
