"""Prompts for a LegalBench row: the task's own few-shot prompt, or a zero-shot chat message."""

from __future__ import annotations

import re

from .legalbench import BINARY_LABELS, PLACEHOLDER, Task

PROMPT_STYLES = ("few-shot", "zero-shot")
# The instance block's closing cue with nothing after it: "Label:", "Answer:", "A:".
_ANSWER_CUE = re.compile(r"\n[^\n{}]{1,20}:\s*$")


def fill(template: str, row: dict[str, str]) -> str:
    """Replace each `{{column}}` with the row's value, in one pass (a value is never re-filled)."""
    return PLACEHOLDER.sub(lambda match: row[match.group(1)], template)


def few_shot_prompt(task: Task, row: dict[str, str]) -> str:
    """LegalBench's prompt for `row`: the examples, then the row, ending with the answer cue."""
    return fill(task.base_prompt, row).rstrip()


def instruction(task: Task) -> str:
    """The base prompt's first paragraph: what the task asks."""
    return task.base_prompt.strip().split("\n\n")[0].strip()


def answer_request(labels: list[str]) -> str:
    if labels == BINARY_LABELS:
        return "Answer Yes or No."
    return f"Answer with one of: {', '.join(labels)}."


def zero_shot_messages(task: Task, row: dict[str, str]) -> list[dict[str, str]]:
    """One user message: the task's instruction, the row's fields as the base prompt lays them out
    (without the examples or the answer cue), and which labels to answer with."""
    blocks = task.base_prompt.strip().split("\n\n")
    if len(blocks) > 1:
        instance = fill(_ANSWER_CUE.sub("", "\n" + blocks[-1]), row).strip()
    else:
        instance = "\n".join(f"{column}: {row[column]}" for column in task.placeholders)
    content = f"{instruction(task)}\n\n{instance}\n\n{answer_request(task.labels)}"
    return [{"role": "user", "content": content}]
