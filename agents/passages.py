"""Show passages to a model as delimited data blocks labelled P1..Pk, and map labels back to ids."""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..retrieval import Passage

_TAG = re.compile(r"<\s*/?\s*passage", re.IGNORECASE)


def passage_label(position: int) -> str:
    return f"P{position + 1}"


def neutralise(text: str) -> str:
    """Document text is data: it must not open or close a passage block of its own."""
    return _TAG.sub(lambda m: m.group(0).replace("<", "‹"), text)


def format_passages(passages: Sequence[Passage]) -> str:
    """Render passages as <passage id="P1" document="..."> blocks."""
    blocks = []
    for position, passage in enumerate(passages):
        document = neutralise(passage.document).replace('"', "'")
        blocks.append(f'<passage id="{passage_label(position)}" document="{document}">\n'
                      f"{neutralise(passage.text.strip())}\n</passage>")
    return "\n\n".join(blocks)


def format_seed(passage: Passage) -> str:
    """The questioner's seed passage, delimited like the expert's."""
    return f"<passage>\n{neutralise(passage.text.strip())}\n</passage>"
