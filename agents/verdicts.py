"""Parse the critic's verdict from plain text: JSON or labelled lines, repairing near-misses."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

_LABELS = {
    "divergence": "divergence", "score": "divergence", "disagreement": "divergence",
    "grounded": "grounded", "grounding": "grounded", "supported": "grounded",
    "feedback": "feedback", "suggestion": "feedback", "textual gradient": "feedback",
    "reason": "reason", "reasoning": "reason", "explanation": "reason", "rationale": "reason",
}
_LABEL_LINE = re.compile(
    r"^\s*[-*#>\s]*\**\s*(" + "|".join(sorted(_LABELS, key=len, reverse=True)) + r")\s*\**\s*[:=\-–]\s*(.*)$",
    re.IGNORECASE,
)


@dataclass
class Verdict:
    """What the critic said. `divergence` is None when no number could be read."""

    divergence: float | None = None
    grounded: bool | None = None
    feedback: str = ""
    reason: str = ""
    parsed_with: str = "none"  # "json", "labels" or "none"


def parse_verdict(text: str) -> Verdict:
    """Read a verdict from a critic reply; `parsed_with == "none"` when it has no divergence."""
    for parser, name in ((_from_json, "json"), (_from_labels, "labels")):
        fields = parser(text)
        if fields is not None and parse_score(fields.get("divergence")) is not None:
            return Verdict(
                divergence=parse_score(fields.get("divergence")),
                grounded=parse_yes_no(fields.get("grounded")),
                feedback=str(fields.get("feedback") or "").strip(),
                reason=str(fields.get("reason") or "").strip(),
                parsed_with=name,
            )
    return Verdict()


def parse_score(value: object) -> float | None:
    """A divergence in [0, 1] from 0.7, "0.7", ".7", "70%", "7/10", "7 out of 10", "high"."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        number = float(value)
        return _scale(number, percent=False)
    text = str(value).strip().lower()
    if match := re.match(r"^\s*(\d+(?:\.\d+)?)\s*(?:/|out of)\s*(\d+(?:\.\d+)?)", text):
        numerator, denominator = float(match.group(1)), float(match.group(2))
        return min(max(numerator / denominator, 0.0), 1.0) if denominator else None
    if match := re.match(r"^\s*(-?\d*\.?\d+)\s*(%?)", text):
        return _scale(float(match.group(1)), percent=bool(match.group(2)))
    words = {"none": 0.0, "low": 0.25, "medium": 0.5, "moderate": 0.5, "high": 0.75,
             "very high": 0.9, "complete": 1.0, "total": 1.0}
    for word, score in sorted(words.items(), key=lambda item: -len(item[0])):
        if text.startswith(word):
            return score
    return None


def parse_yes_no(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value or "").strip().lower().strip("*.\"' ")
    if re.match(r"^(yes|true|y|1|grounded|supported)\b", text):
        return True
    if re.match(r"^(no|false|n|0|not|ungrounded|unsupported)\b", text):
        return False
    return None


def _scale(number: float, *, percent: bool) -> float | None:
    if percent or 10 < number <= 100:
        number /= 100
    elif 1 < number <= 10:
        number /= 10
    if number < 0 or number > 1:
        return None
    return number


def _from_json(text: str) -> dict | None:
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return None
    blob = text[start : end + 1]
    for candidate in (blob, _repair_json(blob)):
        try:
            data = json.loads(candidate)
        except json.JSONDecodeError:
            continue
        if isinstance(data, dict):
            return {_LABELS.get(str(k).lower().strip(), str(k).lower()): v for k, v in data.items()}
    return None


def _repair_json(blob: str) -> str:
    blob = re.sub(r"(?<![\w\"])'|'(?![\w])", '"', blob)  # single-quoted strings
    blob = re.sub(r",\s*([}\]])", r"\1", blob)  # trailing commas
    return re.sub(r"([{,]\s*)([A-Za-z_]+)\s*:", r'\1"\2":', blob)  # bare keys


def _from_labels(text: str) -> dict | None:
    fields: dict[str, str] = {}
    current = None
    for line in text.splitlines():
        match = _LABEL_LINE.match(line)
        if match:
            current = _LABELS[match.group(1).lower()]
            if current in fields:  # a second verdict block: keep the first
                current = None
                continue
            fields[current] = match.group(2).strip().strip("*").strip()
        elif current in ("feedback", "reason") and line.strip():
            fields[current] += " " + line.strip()
    return fields or None
