"""The `advqa baseline` command: build a raw, paraphrase or EntiGraph corpus at a token budget."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from ..models import DEFAULT_MODEL_SPEC
from .build import KINDS, build_baseline
from .errors import BaselineError


def baseline_command(
    kind: Annotated[str, typer.Argument(help=f"Baseline to build: {', '.join(KINDS)}.")],
    docs: Annotated[Path, typer.Option("--docs", help="Folder of reference documents.")],
    tokens: Annotated[int, typer.Option("--tokens", help="Token budget (student tokenizer).")],
    out: Annotated[Path, typer.Option("--out", help="Corpus JSONL to write; stats and traces go beside it.")],
    generator: Annotated[str, typer.Option(
        "--generator", help="Model spec that writes the text.")] = DEFAULT_MODEL_SPEC,
    seed: Annotated[int, typer.Option(help="Seed for entity-pair order and resampling.")] = 0,
    workers: Annotated[int, typer.Option(help="Model calls in flight at once.")] = 4,
    tokenizer: Annotated[str | None, typer.Option(
        help="Student model spec whose tokenizer counts the budget (default: the bundled model).")] = None,
    paraphrases_per_passage: Annotated[int, typer.Option(help="Rewrites of each passage (paraphrase).")] = 3,
) -> None:
    """Build a baseline training corpus from the documents: their raw text, paraphrases, or
    EntiGraph entity-relation texts, stopping at --tokens tokens."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    try:
        stats = build_baseline(kind, docs, tokens, out, generator=generator, tokenizer=tokenizer,
                               seed=seed, workers=workers,
                               paraphrases_per_passage=paraphrases_per_passage)
    except BaselineError as error:
        print(f"advqa: error: {' '.join(str(error).split())}", file=sys.stderr)
        raise typer.Exit(2) from None
    typer.echo(f"{stats['kind']}: {stats['items']} texts, {stats['synthetic_tokens']} of "
               f"{stats['budget']} tokens from {stats['documents']} documents, {stats['calls']} "
               f"model calls in {stats['seconds']:.1f}s -> {out}")
