"""Build one baseline corpus (raw, paraphrase or entigraph) at a token budget: JSONL, stats, traces."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel

from ..agents import JsonlTracer, Tracer
from ..models import DEFAULT_MODEL_SPEC, ModelError, ModelSpec, load_chat_model, model_label
from ..retrieval import Document, RetrievalError, load_documents
from ..retrieval.cards import document_cards
from ..retrieval.files import fsync_folder, read_jsonl
from .entigraph import extract_entities, load_entities, relation_jobs, save_entities
from .errors import BaselineError
from .generation import Item, Tally, generate_items, skip_kept
from .output import stats_path, traces_path, write_item, write_stats
from .paraphrase import paraphrase_jobs
from .raw import raw_items
from .tokens import TokenCounter

KINDS = ("paraphrase", "entigraph", "raw")


def build_baseline(kind: str, docs: str | Path, tokens: int, out: str | Path, *,
                   generator: ModelSpec = DEFAULT_MODEL_SPEC, tokenizer: str | None = None,
                   seed: int = 0, workers: int = 4, paraphrases_per_passage: int = 3) -> dict[str, Any]:
    """Write a `kind` corpus of at most `tokens` tokens (the student's tokenizer, see
    TokenCounter) built from the documents in `docs` to `out` as {"text", "meta"} JSONL lines.

    Next to it: `<out stem>.stats.json` (also returned) and `<out stem>.traces.jsonl` (one
    event per model call). `generator` is a model spec or a ready LangChain chat model;
    `raw` makes no model calls.
    """
    check_settings(kind, tokens, workers, paraphrases_per_passage)
    out = Path(out)
    if out.is_dir():
        raise BaselineError(f"{out}: --out must name a file, not a folder")
    documents = read_documents(docs)
    counter = TokenCounter(tokenizer)
    out.parent.mkdir(parents=True, exist_ok=True)
    traces = traces_path(out)
    kept = kept_items(out)
    if not kept:
        traces.unlink(missing_ok=True)
    tracer = JsonlTracer(traces)
    model = None if kind == "raw" else load_generator(generator)
    tally = Tally()
    started = time.perf_counter()
    extra: dict[str, Any] = {}
    items = corpus_items(kind, documents, counter, tokens, model, seed=seed, workers=workers,
                         paraphrases_per_passage=paraphrases_per_passage, tracer=tracer, tally=tally,
                         extra=extra, headers=document_headers(docs, documents), kept=kept,
                         entities_file=out.with_suffix(".entities.json"))
    per_document = write_items(out, items, documents)
    stats = {
        "kind": kind, "documents": len(documents),
        "items": sum(entry["items"] for entry in per_document.values()),
        "synthetic_tokens": sum(entry["tokens"] for entry in per_document.values()),
        "budget": tokens, "tokenizer": counter.label,
        "generator": None if model is None else model_label(model),
        "seed": seed, "workers": workers, "resumed_items": extra.pop("resumed_items", 0),
        "seconds": round(time.perf_counter() - started, 3), "calls": tally.calls,
        "generator_output_tokens": tally.output_tokens, "empty_replies": tally.empty_replies,
        **extra, "per_document": per_document,
        "files": {"corpus": str(out), "stats": str(stats_path(out)), "traces": str(traces),
                  **({"entities": str(out.with_suffix(".entities.json"))} if kind == "entigraph" else {})},
    }
    write_stats(out, stats)
    return stats


def corpus_items(kind: str, documents: Sequence[Document], counter: TokenCounter, tokens: int,
                 model: BaseChatModel | None, *, seed: int, workers: int, paraphrases_per_passage: int,
                 tracer: Tracer, tally: Tally, extra: dict[str, Any],
                 headers: dict[str, str] | None = None, kept: Sequence[Item] = (),
                 entities_file: Path | None = None) -> Iterator[Item]:
    """The items of one kind, lazily; settings worth recording in the stats go into `extra`.

    `kept` (the items of a cut-off build) are reused when these jobs made them, in this order;
    entigraph's entity lists are kept in `entities_file` for that.
    """
    if kind == "raw":
        return raw_items(documents, counter, tokens, headers)
    assert model is not None
    if kind == "paraphrase":
        extra["paraphrases_per_passage"] = paraphrases_per_passage
        jobs = paraphrase_jobs(documents, counter, per_passage=paraphrases_per_passage, seed=seed)
    else:
        # A cut-off build's own entity lists: extracted again, they might differ, and its kept
        # items (texts about pairs of them) would not be these jobs' output.
        found = load_entities(documents, entities_file) if kept and entities_file else None
        if found is None:
            found = extract_entities(documents, model, workers=workers, tracer=tracer, tally=tally)
            if entities_file:
                save_entities(found, entities_file)
        extra["entities"] = {entry.document.id: {"source": entry.source, "count": len(entry.entities)}
                             for entry in found}
        jobs = relation_jobs(found, seed)
    if kept and sum(item.meta["tokens"] for item in kept) <= tokens:
        jobs = list(jobs)  # walked again when the kept items turn out not to be theirs
        remaining = skip_kept(jobs, kept)
        jobs, kept = (jobs, ()) if remaining is None else (remaining, kept)
    else:
        kept = ()
    extra["resumed_items"] = len(kept)
    return generate_items(jobs, model, counter, tokens, workers=workers, tracer=tracer, tally=tally,
                          headers=headers, kept=kept)


def document_headers(docs: str | Path, documents: Sequence[Document]) -> dict[str, str]:
    """"From the <title> between <A> and <B>:" for each document: a text names its contract, as an
    advqa question does, so that a question naming the contract can reach what the text says."""
    return {doc_id: f"From {card.name}:\n" for doc_id, card in document_cards(docs, documents).items()}


def check_settings(kind: str, tokens: int, workers: int, paraphrases_per_passage: int) -> None:
    if kind not in KINDS:
        raise BaselineError(f"unknown baseline kind '{kind}' (expected {', '.join(KINDS)})")
    if tokens <= 0:
        raise BaselineError(f"--tokens must be a positive number of tokens, got {tokens}")
    if workers < 1:
        raise BaselineError(f"--workers must be at least 1, got {workers}")
    if paraphrases_per_passage < 1:
        raise BaselineError(f"paraphrases_per_passage must be at least 1, got {paraphrases_per_passage}")


def read_documents(docs: str | Path) -> list[Document]:
    try:
        return load_documents(docs)
    except RetrievalError as error:
        raise BaselineError(f"--docs {error}") from None


def load_generator(generator: ModelSpec) -> BaseChatModel:
    try:
        # A blank reply is counted (empty_replies) and skipped, not retried until the build fails.
        return load_chat_model(generator, retry_empty=False)
    except ModelError as error:
        raise BaselineError(f"--generator {generator}: {error}") from None


def kept_items(out: Path) -> list[Item]:
    """The items a cut-off build of `out` left in `<out>.partial` (a torn last line dropped)."""
    return [Item(entry["text"], entry["meta"]) for entry in read_jsonl(out.with_name(out.name + ".partial"))]


def write_items(out: Path, items: Iterator[Item], documents: Sequence[Document]) -> dict[str, dict]:
    """Stream items to `<out>.partial`, then rename it to `out`; items and tokens per document."""
    per_document = {document.id: {"items": 0, "tokens": 0} for document in documents}
    partial = out.with_name(out.name + ".partial")
    with partial.open("w", encoding="utf-8") as handle:
        for item in items:
            write_item(handle, item)
            per_document[item.meta["document"]]["items"] += 1
            per_document[item.meta["document"]]["tokens"] += item.meta["tokens"]
        handle.flush()
        os.fsync(handle.fileno())  # on disk before the rename, so a crash never leaves half a corpus
    partial.replace(out)
    fsync_folder(out.parent)
    return per_document

