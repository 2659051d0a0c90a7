"""The `entigraph` baseline (arXiv 2409.07431): entities per document, then texts relating pairs of them."""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from langchain_core.language_models.chat_models import BaseChatModel

from ..agents import Tracer
from ..retrieval import Chunk, Document, chunk_document
from ..retrieval.files import write_atomic
from .entities import code_entities, entities_in_document, mentions, parse_entity_list
from .generation import Job, Tally, invoke_all
from .order import round_robin
from .prompts import document_label, fill, load_prompt, passage_block

# Regex tokens of document text per extraction call (about 1,400 student tokens): one call per
# section rather than per passage keeps extraction a small share of the generation cost.
SECTION_TOKENS = 1200
# Sections asked per document, evenly spaced: a long contract's names are capped at MAX_ENTITIES
# anyway, and asking every section of a 300 kB contract cost more than the whole relation budget.
MAX_SECTIONS = 6
PASSAGE_TOKENS, PASSAGE_OVERLAP = 200, 40
MIN_ENTITIES = 3  # fewer usable names from the model: use code extraction instead
MAX_ENTITIES = 30  # per document: 435 pairs at most
PASSAGES_PER_PAIR = 2
EXTRACTION_MAX_TOKENS = 128
RELATION_MAX_TOKENS = 320


@dataclass(frozen=True)
class DocumentEntities:
    """A document's entities, where they came from ("model" or "code"), and its passages."""

    document: Document
    entities: list[str]
    source: str
    chunks: list[Chunk]


def extract_entities(documents: Sequence[Document], model: BaseChatModel, *, workers: int,
                     tracer: Tracer, tally: Tally) -> list[DocumentEntities]:
    """Ask the model for each section's entities; keep the names that occur in the document.

    A document whose model list leaves fewer than MIN_ENTITIES usable names gets code-extracted
    entities (quoted defined terms, capitalised multi-word terms) instead.
    """
    template = load_prompt("entities")
    sections = [(document, section) for document in documents
                for section in spread(chunk_document(document, SECTION_TOKENS, 0), MAX_SECTIONS)]
    jobs = [Job(role="entities", probe_id=f"entities:{section.id}", max_tokens=EXTRACTION_MAX_TOKENS,
                prompt=fill(template, passage=passage_block(document.id, section.text)),
                meta={"document": document.id})
            for document, section in sections]
    replies = invoke_all(jobs, model, workers=workers, tracer=tracer, tally=tally)
    named: dict[str, list[list[str]]] = {document.id: [] for document in documents}
    for (document, _), reply in zip(sections, replies):
        named[document.id].append(parse_entity_list(reply))
    found = []
    for document in documents:
        chunks = chunk_document(document, PASSAGE_TOKENS, PASSAGE_OVERLAP)
        # Sections' lists interleaved, so the MAX_ENTITIES cap keeps names from every section.
        listed = list(round_robin(named[document.id]))
        entities, source = usable(entities_in_document(listed, document.text), chunks), "model"
        if len(entities) < MIN_ENTITIES:
            entities, source = usable(code_entities(document.text, MAX_ENTITIES), chunks), "code"
        found.append(DocumentEntities(document, entities[:MAX_ENTITIES], source, chunks))
    return found


def save_entities(found: Sequence[DocumentEntities], path: Path) -> None:
    """Each document's entities and where they came from, as JSON (read back by load_entities)."""
    write_atomic(path, json.dumps({entry.document.id: {"source": entry.source, "entities": entry.entities}
                                   for entry in found}, indent=2, ensure_ascii=False) + "\n")


def load_entities(documents: Sequence[Document], path: Path) -> list[DocumentEntities] | None:
    """The entities `save_entities` wrote for these documents; None when the file is missing,
    unreadable or about other documents."""
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
        return [DocumentEntities(document, list(saved[document.id]["entities"]), saved[document.id]["source"],
                                 chunk_document(document, PASSAGE_TOKENS, PASSAGE_OVERLAP))
                for document in documents]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def spread(items: list, count: int) -> list:
    """At most `count` of `items`, evenly spaced, in order."""
    if len(items) <= count:
        return list(items)
    return [items[int((j + 0.5) * len(items) / count)] for j in range(count)]


def usable(names: list[str], chunks: Sequence[Chunk]) -> list[str]:
    """Names some passage mentions (one split across a chunk boundary has no passage to show)."""
    return [name for name in names if any(mentions(chunk.text, name) for chunk in chunks)]


def relation_jobs(documents: Sequence[DocumentEntities], seed: int = 0) -> Iterator[Job]:
    """One job per entity pair, documents interleaved; see pair_jobs for the order within one."""
    template = load_prompt("relation")
    return round_robin(pair_jobs(found, template, seed) for found in documents)


def pair_jobs(found: DocumentEntities, template: str, seed: int) -> Iterator[Job]:
    """Pairs that some passage mentions together first, then the rest, each group shuffled by
    a generator seeded with (seed, document), so a run is reproducible."""
    rng = random.Random(f"{seed}:{found.document.id}")
    where = {entity: [i for i, chunk in enumerate(found.chunks) if mentions(chunk.text, entity)]
             for entity in found.entities}
    together, apart = [], []
    for pair in itertools.combinations(found.entities, 2):
        (together if set(where[pair[0]]) & set(where[pair[1]]) else apart).append(pair)
    rng.shuffle(together)
    rng.shuffle(apart)
    for first, second in together + apart:
        both = sorted(set(where[first]) & set(where[second]))
        picked = both[:PASSAGES_PER_PAIR] or sorted({where[first][0], where[second][0]})
        chunks = [found.chunks[i] for i in picked]
        yield Job(
            role="entigraph", probe_id=f"entigraph:{found.document.id}:{first}|{second}",
            prompt=relation_prompt(template, found.document.id, first, second, chunks),
            max_tokens=RELATION_MAX_TOKENS,
            meta={"kind": "entigraph", "document": found.document.id, "entities": [first, second],
                  "source_chunks": [chunk.id for chunk in chunks], "style": None,
                  "entity_source": found.source},
        )


def relation_prompt(template: str, document: str, first: str, second: str,
                    chunks: Sequence[Chunk]) -> str:
    passages = "\n\n".join(passage_block(document, chunk.text) for chunk in chunks)
    return fill(template, document=document_label(document), entity_a=first, entity_b=second,
                passages=passages)
