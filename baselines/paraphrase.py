"""The `paraphrase` baseline: each passage rewritten k times in varied styles by the generator."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from ..retrieval import Chunk, Document, chunk_document
from .generation import Job
from .order import round_robin, spread_order
from .prompts import Style, fill, load_prompt, load_styles, passage_block
from .tokens import TokenCounter

PASSAGE_TOKENS = 200  # regex tokens, as the index chunks; about 230 student tokens
# A rewrite may run somewhat longer than its passage (a Q&A or bullet list adds words).
LENGTH_FACTOR = 1.5
MIN_REPLY_TOKENS = 64
MAX_REPLY_TOKENS = 512
RESAMPLE_TEMPERATURE = 0.8


def paraphrase_jobs(documents: Sequence[Document], counter: TokenCounter, *, per_passage: int,
                    seed: int = 0) -> Iterator[Job]:
    """Jobs in the order: every passage once (documents interleaved, each document's passages
    spread over it, so that a small budget still rewrites all of each), then every passage again, ...

    Passage i's r-th rewrite uses style (i + r) mod the number of styles, so styles cycle
    over passages and each passage gets `per_passage` different styles while there are
    enough; past that a style repeats with sampling, one seed per repeat (so a local model
    still batches the calls of a repeat together).
    """
    template, styles = load_prompt("paraphrase"), load_styles()
    passages = list(round_robin(spread_order(chunk_document(document, PASSAGE_TOKENS, 0))
                                for document in documents))
    limits = [reply_limit(counter.count(passage.text)) for passage in passages]
    for rewrite in range(per_passage):
        for position, passage in enumerate(passages):
            turn = position + rewrite
            style = styles[turn % len(styles)]
            repeat = rewrite // len(styles)
            options = {"temperature": RESAMPLE_TEMPERATURE, "seed": seed + repeat} if repeat else {}
            yield Job(
                role="paraphrase", probe_id=f"paraphrase:{passage.id}:{style.name}:{repeat}",
                prompt=paraphrase_prompt(template, passage, style), max_tokens=limits[position],
                meta={"kind": "paraphrase", "document": passage.document,
                      "source_chunks": [passage.id], "style": style.name},
                options=options,
            )


def paraphrase_prompt(template: str, passage: Chunk, style: Style) -> str:
    return fill(template, style_instruction=style.instruction,
                passage=passage_block(passage.document, passage.text))


def reply_limit(passage_tokens: int) -> int:
    return max(MIN_REPLY_TOKENS, min(MAX_REPLY_TOKENS, int(passage_tokens * LENGTH_FACTOR)))
