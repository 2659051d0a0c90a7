"""Runs in the terminal with rich: a panel per probe, a table per round, a campaign's summary tables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from ..campaign.files import DATASET
from .data import OUTCOMES, Probe, Round, RunData
from .errors import ReportError

STYLES = {"accepted": "green", "duplicate": "magenta", "exhausted": "yellow", "failed": "red",
          "error": "bright_black", "unfinished": "bright_black", "revise": "cyan"}


def select(run: RunData, *, probe: str | None = None, outcome: str | None = None,
           document: str | None = None) -> list[Probe]:
    """Probes matching an id (exact, else a substring), an outcome and a document (substring)."""
    if outcome is not None and outcome not in OUTCOMES:
        raise ReportError(f"--outcome: '{outcome}' is not one of {', '.join(OUTCOMES)}")
    chosen = run.probes
    if probe:
        exact = [p for p in chosen if p.id == probe]
        chosen = exact or [p for p in chosen if probe.lower() in p.id.lower()]
        if not chosen:
            raise ReportError(f"no probe id contains '{probe}' in {run.path}")
    if outcome:
        chosen = [p for p in chosen if p.outcome == outcome]
    if document:
        chosen = [p for p in chosen if document.lower() in p.document.lower()]
    return chosen


def summary_table(run: RunData) -> Table:
    """One line per outcome, with the run's settings that decide acceptance."""
    counts = run.outcome_counts()
    table = Table(title=f"{run.path} ({run.source})", box=box.SIMPLE_HEAD, show_header=True)
    for name in ("probes", *[o for o in OUTCOMES if counts[o]], "threshold", "max rounds"):
        table.add_column(name, justify="right")
    cells = [Text(str(counts[o]), style=STYLES[o]) for o in OUTCOMES if counts[o]]
    table.add_row(str(len(run.probes)), *cells, f"{run.threshold:.2f}", str(run.max_rounds))
    return table


def _labelled(label: str, value: str, style: str = "") -> Text:
    text = Text(f"{label}: ", style="bold")
    text.append(value, style=style)
    return text


def render_round(round_: Round, threshold: float, passages: dict | None = None) -> RenderableType:
    route = round_.route or ("no question" if not round_.judged else "")
    title = Text(f"Round {round_.number}", style="bold")
    if route:
        title.append(f"  → {route}", style=STYLES.get(route, "red"))
    if round_.divergence is not None:
        sign = "≥" if round_.divergence >= threshold else "<"
        title.append(f"  divergence {round_.divergence:.3f} {sign} {threshold:.2f}")
        title.append("  grounded" if round_.grounded else "  not grounded",
                     style="green" if round_.grounded else "red")
        if round_.grounding_method:
            title.append(f" ({round_.grounding_method})", style="dim")
    parts: list[RenderableType] = [title]
    if round_.question:
        parts.append(_labelled("Q", round_.question, "bold"))
    if round_.judged or round_.student_answer or round_.expert_answer:
        answers = Table(box=box.SIMPLE_HEAD, expand=True, pad_edge=False)
        answers.add_column("Student (question only)", ratio=1, style="yellow")
        answers.add_column("Expert (from the passages)", ratio=1, style="cyan")
        answers.add_row(Text(round_.student_answer or "(empty)"), Text(round_.expert_answer or "(empty)"))
        parts.append(answers)
    if round_.judged:
        critic = Table.grid(padding=(0, 1))
        critic.add_column(style="dim", no_wrap=True)
        critic.add_column()
        scores = "  ".join(f"{k} {'–' if v is None else f'{v:.2f}'}" for k, v in round_.scores.items())
        critic.add_row("scores", Text(f"{scores}  ({round_.scorer})"))
        if round_.verdict_parsed_with == "none":
            critic.add_row("verdict", Text("critic reply unreadable: code scorers and code feedback",
                                           style="red"))
        if round_.fabricated_citations:
            critic.add_row("fabricated", Text(", ".join(round_.fabricated_citations), style="red"))
        if round_.reason:
            critic.add_row("reason", Text(round_.reason))
        critic.add_row("feedback", Text(round_.feedback or "–"))
        parts.append(critic)
    for ref in round_.passages:
        line = Text(f"  {ref.label} ", style="bold")
        line.append(ref.id, style="dim")
        if ref.cited:
            line.append("  cited", style="green")
        parts.append(line)
        if passages is not None and ref.id in passages:
            parts.append(Text("    " + passages[ref.id].text.replace("\n", "\n    "), style="dim"))
    if round_.calls:
        tokens = sum(c.input_tokens + c.output_tokens for c in round_.calls)
        retries = sum(1 for c in round_.calls if c.attempt > 1)
        parts.append(Text(f"  {len(round_.calls)} model calls ({retries} retries), {tokens:,} tokens, "
                          f"{sum(c.seconds for c in round_.calls):.1f} s", style="dim"))
        if not round_.judged:
            for call in round_.calls:
                reply = Text(f"  {call.role} attempt {call.attempt}: ", style="dim")
                reply.append(call.error or call.output or "(empty)")
                parts.append(reply)
    return Group(*parts)


def render_probe(probe: Probe, threshold: float, passages: dict | None = None) -> Panel:
    title = Text(f" {probe.outcome} ", style=f"bold reverse {STYLES.get(probe.outcome, '')}")
    title.append(f" {probe.id}")
    body: list[RenderableType] = []
    if probe.failure:
        body.append(Text(probe.failure, style="red"))
    if passages is not None and probe.seed in passages:
        body.append(Text("seed passage:", style="bold"))
        body.append(Text(passages[probe.seed].text, style="dim"))
    for round_ in probe.rounds:
        if body:
            body.append(Rule(style="dim"))
        body.append(render_round(round_, threshold, passages))
    if not body:
        body.append(Text("no round recorded", style="dim"))
    return Panel(Group(*body), title=title, title_align="left", subtitle=Text(probe.document),
                 subtitle_align="right", border_style=STYLES.get(probe.outcome, "white"))


def print_trace(run: RunData, console: Console, *, probe: str | None = None, outcome: str | None = None,
                document: str | None = None, show_passages: bool = False, limit: int | None = None) -> int:
    """Print the selected trajectories; returns how many were printed."""
    chosen = select(run, probe=probe, outcome=outcome, document=document)
    console.print(summary_table(run))
    shown = chosen[:limit] if limit else chosen
    for item in shown:
        console.print(render_probe(item, run.threshold, run.passages if show_passages else None))
    note = f"{len(shown)} of {len(run.probes)} probes shown"
    if len(shown) < len(chosen):
        note += f" ({len(chosen) - len(shown)} more match; raise --limit)"
    console.print(Text(note, style="dim"))
    return len(shown)


def campaign_table(stats: dict[str, Any], run_dir: Path, seconds: float) -> Table:
    """The campaign's totals: probes and their outcomes, model calls, tokens, cost, time, files."""
    table = Table(title="advqa campaign", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    rows = [
        ("probes", f"{stats['finished']} of {stats['probes']} finished"),
        ("accepted", f"{stats['accepted']} ({stats['duplicates_dropped']} duplicates dropped)"),
        ("exhausted / failed / errored", f"{stats['exhausted']} / {stats['failed']} / {stats['errored']}"),
        ("acceptance rate", f"{stats['acceptance_rate']:.0%}"),
        ("mean rounds", f"{stats['mean_rounds']:.2f}"),
        ("model calls", f"{stats['model_calls']} ({stats['model_calls_this_run']} this run, "
                        f"{stats.get('cache_hits', 0)} from the cache)"),
        ("tokens", f"{stats['tokens']:,}"),
        *([("cost", f"{stats['cost']:.4f}" + (f" (no price for {', '.join(stats['unpriced_models'])})"
                                               if stats.get("unpriced_models") else ""))]
          if "cost" in stats else []),
        ("time", f"{seconds:.1f}s"),
        ("dataset", str(run_dir / DATASET)),
        ("traces / stats", f"{run_dir / 'traces.jsonl'}, {run_dir / 'stats.json'}"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table


def quality_lines(quality: dict[str, Any], run_dir: Path) -> list[str]:
    """What the summary says about the data's quality: why rounds were turned down, how often the
    round trip held, the schema parse rates, and how to measure precision."""
    if not quality:
        return []
    lines = []
    rejections = quality.get("rejections") or {}
    if rejections:
        lines.append("rejected: " + ", ".join(f"{k} {v}" for k, v in rejections.items()))
    rates = [(name, quality.get(key)) for name, key in (("round trip agrees", "roundtrip_agreement_rate"),
                                                       ("grounded", "fact_grounding_rate"),
                                                       ("student already right", "student_correct_rate"))]
    lines.append("of judged rounds: " + ", ".join(f"{n} {v:.0%}" for n, v in rates if v is not None))
    parse = quality.get("schema_parse_rate") or {}
    if parse:
        lines.append("replies that followed their schema: " + ", ".join(
            f"{role} {r['parsed']}/{r['calls']}" for role, r in parse.items()))
    lines.append(f"precision: write an audit sheet with `advqa audit {run_dir}`, mark it, then "
                 f"`advqa audit --score {run_dir / 'audit.csv'}`")
    return lines


def role_table(stats: dict[str, Any]) -> Table:
    """Calls, cache hits, errors, retries, tokens, seconds (and cost, when priced) per role."""
    priced = "cost" in stats
    table = Table(title="model calls per role")
    # Two-line headers keep the table, cost included, within 80 columns (a pipe, CI logs).
    for column in ("role", "calls", "cached", "errors /\nretries", "tokens\nin", "tokens\nout", "seconds",
                   *(["cost"] if priced else [])):
        table.add_column(column, justify="left" if column == "role" else "right", no_wrap=True)
    for role, row in stats.get("per_role", {}).items():
        cost = f"{row['cost']:.4f}" if "cost" in row else "no price"
        table.add_row(role, str(row["calls"]), str(row.get("cache_hits", 0)),
                      f"{row.get('errors', 0)} / {row.get('retries', 0)}", f"{row['input_tokens']:,}",
                      f"{row['output_tokens']:,}", f"{row['seconds']:.1f}", *([cost] if priced else []))
    return table
