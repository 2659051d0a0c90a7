"""Show passages to a model as delimited data blocks labelled P1..Pk, and map labels back to ids."""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..retrieval import Passage

_TAG = re.compile(r"<\s*/?\s*passage", re.IGNORECASE)
# Chat-template markers ("<|im_end|>", "</s>"): a tokenizer reads them in text as real special
# tokens, so document text holding one could end the user turn and open a system turn.
_SPECIAL = re.compile(r"<(?=\|)|<(?=/?s>)")


def passage_label(position: int) -> str:
    return f"P{position + 1}"


def neutralise(text: str) -> str:
    """Document text is data: it must not open or close a passage block of its own, nor hold a
    chat-template marker."""
    return _SPECIAL.sub("‹", _TAG.sub(lambda m: m.group(0).replace("<", "‹"), text))


def document_name(passage: Passage) -> str:
    """A passage's document id as it may appear inside a quoted attribute."""
    return neutralise(passage.document).replace('"', "'")


def format_passages(passages: Sequence[Passage]) -> str:
    """Render passages as <passage id="P1" document="..."> blocks."""
    blocks = []
    for position, passage in enumerate(passages):
        blocks.append(f'<passage id="{passage_label(position)}" document="{document_name(passage)}">\n'
                      f"{neutralise(passage.text.strip())}\n</passage>")
    return "\n\n".join(blocks)


def format_seed(passage: Passage) -> str:
    """The questioner's seed passage, delimited like the expert's."""
    return f"<passage>\n{neutralise(passage.text.strip())}\n</passage>"
