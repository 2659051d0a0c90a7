"""The baselines' prompt files: load, check and fill `{name}` placeholders, and the paraphrase styles."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..agents.passages import neutralise

PROMPTS_DIR = Path(__file__).parent / "prompts"
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def load_prompt(name: str) -> str:
    return (PROMPTS_DIR / f"{name}.txt").read_text(encoding="utf-8")


def fill(template: str, **values: str) -> str:
    """Fill every placeholder; a value's own braces stay as they are."""
    missing = sorted(set(_PLACEHOLDER.findall(template)) - set(values))
    if missing:
        raise KeyError(f"prompt placeholders without a value: {', '.join(missing)}")
    return _PLACEHOLDER.sub(lambda match: str(values[match.group(1)]), template)


def passage_block(document: str, text: str) -> str:
    """Document text as a <passage> block; the text cannot open or close a block itself."""
    return f'<passage document="{document_label(document)}">\n{neutralise(text.strip())}\n</passage>'


def document_label(document: str) -> str:
    """A document id fit to stand inside double quotes in a prompt."""
    return neutralise(document).replace('"', "'")


@dataclass(frozen=True)
class Style:
    name: str
    instruction: str


def load_styles() -> list[Style]:
    """Paraphrase styles from paraphrase_styles.txt: `name: instruction` lines, `#` comments."""
    styles = []
    for line in load_prompt("paraphrase_styles").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, instruction = line.partition(":")
            styles.append(Style(name.strip(), instruction.strip()))
    return styles
