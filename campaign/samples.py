"""Turn an accepted probe into a chat fine-tuning sample (which is also a preference pair)."""

from __future__ import annotations

import re
from dataclasses import asdict, is_dataclass
from typing import Any

_CITATION_GROUP = re.compile(r"\s*[\[(]\s*P\d{1,3}(?:\s*[,;]\s*P\d{1,3})*\s*[\])]")


def strip_citations(answer: str) -> str:
    """Remove [P1]-style labels: they mean nothing to the student at training or test time."""
    return re.sub(r"\s+([.,;:])", r"\1", _CITATION_GROUP.sub("", answer)).strip()


def as_dict(value: Any) -> dict[str, Any]:
    return asdict(value) if is_dataclass(value) else dict(value)


def make_sample(values: dict[str, Any]) -> dict[str, Any]:
    """The dataset line for an accepted probe's final state."""
    rounds = [as_dict(r) for r in values["rounds"]]
    chosen = next(r for r in rounds if r["number"] == values["best_round"])
    seed = as_dict(values["seed"])
    return {
        "messages": [
            {"role": "user", "content": chosen["question"]},
            {"role": "assistant", "content": strip_citations(chosen["expert_answer"])},
        ],
        "meta": {
            "probe_id": values["probe_id"],
            "document": seed["document"],
            "seed_passage": seed["id"],
            "grounding_passages": chosen["grounding_passages"],
            "grounded_by": chosen["grounding_method"],
            "divergence": chosen["divergence"],
            "scorer": chosen["scorer"],
            "scores": chosen["scores"],
            "round": chosen["number"],
            "rounds": len(rounds),
            "expert_answer": chosen["expert_answer"],
            "expert_quotes": chosen.get("expert_quotes", []),
            "student_answer": chosen["student_answer"],
            "intended_answer": chosen.get("intended_answer", ""),
            "question_type": chosen.get("question_type", ""),
            "focus": chosen.get("focus", ""),
            "roundtrip": chosen.get("roundtrip", {}),
            "student_agreement": chosen.get("student_agreement", {}),
            "student_failure": chosen.get("student_failure"),
            "failure_method": chosen.get("failure_method", ""),
            "critic_consistent": chosen.get("critic_consistent"),
        },
    }
