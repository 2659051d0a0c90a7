"""Compare two runs: each role's prompt and the settings (unified diffs), and their funnels."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..agents import PROMPTS_DIR, ROLES
from ..campaign.files import CONFIG
from .data import check_run_dir, read_config, read_stats

SAVED_PROMPTS = "prompts"  # RUN_DIR/prompts/<role>.txt: the prompt texts a run used


@dataclass
class PromptText:
    role: str
    text: str | None
    origin: str  # where the text was read from, and how sure that is the text the run used


def run_prompts(run_dir: str | Path) -> dict[str, PromptText]:
    """The prompt each role used in a run: saved in the run, else what config.toml's source names."""
    run = check_run_dir(Path(run_dir))
    sources = read_config(run).get("prompts") or {}
    prompts = {}
    for role in ROLES:
        saved = run / SAVED_PROMPTS / f"{role}.txt"
        source = str(sources.get(role, ""))
        if saved.is_file():
            prompts[role] = PromptText(role, saved.read_text(encoding="utf-8"),
                                       f"saved in the run ({source})")
        elif source.startswith("advqa:"):
            packaged = PROMPTS_DIR / source.removeprefix("advqa:")
            text = packaged.read_text(encoding="utf-8") if packaged.is_file() else None
            prompts[role] = PromptText(role, text, f"{source}: the packaged file as it is now "
                                                   "(the run did not save its prompt texts)")
        elif source and Path(source).is_file():
            prompts[role] = PromptText(role, Path(source).read_text(encoding="utf-8"),
                                       f"{source} as it is now (the run did not save its prompt texts)")
        else:
            prompts[role] = PromptText(role, None, f"unknown ({source or 'no [prompts] in config.toml'})")
    return prompts


def unified(a: str, b: str, name_a: str, name_b: str, context: int = 3) -> list[str]:
    return list(difflib.unified_diff(a.splitlines(), b.splitlines(), name_a, name_b, n=context,
                                     lineterm=""))


def _config_text(run: Path) -> str:
    path = run / CONFIG
    return path.read_text(encoding="utf-8") if path.is_file() else ""


FUNNEL = [("probes", "probes"), ("finished", "finished"), ("accepted", "accepted"),
          ("accepted before dedup", "accepted_before_dedup"), ("duplicates dropped", "duplicates_dropped"),
          ("exhausted", "exhausted"), ("failed", "failed"), ("errored", "errored"),
          ("acceptance rate", "acceptance_rate"), ("mean rounds", "mean_rounds"),
          ("model calls", "model_calls"), ("tokens", "tokens"),
          ("tokens per accepted", "tokens_per_accepted"), ("wall seconds", "wall_seconds")]


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".")
    return f"{value:,}" if isinstance(value, int) else str(value)


def funnel_table(a: Path, b: Path) -> Table:
    """Both runs' stats side by side, with the difference."""
    stats_a, stats_b = read_stats(a), read_stats(b)
    table = Table(title="Funnel", box=box.SIMPLE_HEAD)
    table.add_column("")
    table.add_column(f"A: {a.name}", justify="right")
    table.add_column(f"B: {b.name}", justify="right")
    table.add_column("B - A", justify="right")
    for label, key in FUNNEL:
        va, vb = stats_a.get(key), stats_b.get(key)
        delta = ""
        if isinstance(va, (int, float)) and isinstance(vb, (int, float)):
            change = vb - va
            rounded = round(change, 4) if isinstance(change, float) else change
            delta = ("+" if change > 0 else "") + _cell(rounded)
        table.add_row(label, _cell(va), _cell(vb), delta)
    return table


def _print_diff(console: Console, lines: list[str]) -> None:
    for line in lines:
        style = ("bold" if line.startswith(("---", "+++")) else "green" if line.startswith("+")
                 else "red" if line.startswith("-") else "cyan" if line.startswith("@@") else "")
        console.print(Text(line, style=style), soft_wrap=True)  # diff lines stay whole


def print_comparison(console: Console, run_a: str | Path, run_b: str | Path, context: int = 3) -> bool:
    """Print prompt and settings diffs and both funnels; True when any prompt or setting differs."""
    a, b = check_run_dir(Path(run_a)), check_run_dir(Path(run_b))
    prompts_a, prompts_b = run_prompts(a), run_prompts(b)
    changed = False
    console.print(Text("Prompts", style="bold underline"))
    for role in ROLES:
        pa, pb = prompts_a[role], prompts_b[role]
        if pa.text is None or pb.text is None:
            console.print(Text(f"{role}: cannot compare (A: {pa.origin}; B: {pb.origin})", style="yellow"))
            continue
        diff = unified(pa.text, pb.text, f"A/{role}.txt", f"B/{role}.txt", context)
        if not diff:
            console.print(Text(f"{role}: same", style="dim"))
            continue
        changed = True
        console.print(Text(f"{role}: changed", style="bold"))
        console.print(Text(f"  A: {pa.origin}\n  B: {pb.origin}", style="dim"))
        _print_diff(console, diff)
    unsaved = [name for name, prompts in (("A", prompts_a), ("B", prompts_b))
               if any(not p.origin.startswith("saved") for p in prompts.values())]
    if unsaved:
        console.print(Text(f"run {' and '.join(unsaved)} did not save its prompt texts: compared with the "
                           "files its config.toml names, as they are now", style="yellow"))
    console.print(Text("Settings (config.toml)", style="bold underline"))
    settings = unified(_config_text(a), _config_text(b), f"A/{a.name}/config.toml", f"B/{b.name}/config.toml",
                       context)
    if settings:
        changed = True
        _print_diff(console, settings)
    else:
        console.print(Text("same", style="dim"))
    console.print(funnel_table(a, b))
    return changed
