"""`advqa config show`: every setting as a run would resolve it, and where each value came from."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .config import campaign_settings, read_config_file, resolve_endpoints, resolve_models, run_settings
from .settings import resolve_settings, setting_fields

config_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                         help="Show the settings a run would use.")
out = Console()


@config_app.command("show")
def show_command(
    config: Annotated[Path | None, typer.Option(help="TOML config file, as given to the commands.")] = None,
) -> None:
    """Print each setting's value and its source: option, [table] in --config, $VARIABLE or default."""
    from .evaluation.settings import EvalSettings
    from .training import load_train_config

    file = read_config_file(config)
    sources: dict[str, dict[str, str]] = {}
    campaign = campaign_settings(file, sources=sources)
    run = run_settings(file, sources=sources.setdefault("run", {}))
    model_sources: dict[str, str] = {}
    models = resolve_models({}, file.get("models", {}), None, sources=model_sources)
    endpoint_sources: dict[str, dict[str, str]] = {}
    endpoints = resolve_endpoints({}, file.get("endpoints", {}), sources=endpoint_sources)
    train_sources: dict[str, str] = {}
    train = load_train_config(config if "train" in file else None, sources=train_sources)

    sections = [("campaign", campaign, sources["campaign"]), ("campaign", run, sources["run"]),
                ("probe", campaign.probe, sources["probe"])]
    table = Table(title=f"advqa settings ({config or 'no config file'})")
    table.add_column("setting", no_wrap=True)
    table.add_column("value", overflow="fold")
    table.add_column("from", no_wrap=True)
    for name, settings, found in sections:
        _add_rows(table, name, settings, found)
    for role, spec in models.items():
        table.add_row(f"models.{role}", escape(spec), escape(model_sources[role]))
    # An endpoint per role only where it differs from every role's (the [endpoints] table).
    shared = endpoints[next(iter(endpoints))]
    _add_rows(table, "endpoints", shared, endpoint_sources[next(iter(endpoints))])
    for role, endpoint in endpoints.items():
        if endpoint != shared:
            _add_rows(table, f"endpoints.{role}", endpoint, endpoint_sources[role])
    _add_rows(table, "train", train, train_sources)
    eval_sources: dict[str, str] = {}
    scoring = resolve_settings(EvalSettings, table=file.get("eval"), table_name="eval", sources=eval_sources)
    _add_rows(table, "eval", scoring, eval_sources)
    out.print(table)


def _add_rows(table: Table, section: str, settings: Any, sources: dict[str, str]) -> None:
    for spec in setting_fields(type(settings)):
        value = getattr(settings, spec.name)
        source = sources.get(spec.name, "default")
        table.add_row(f"{section}.{spec.name}", escape(_shown(value)), escape(source))


def _shown(value: Any) -> str:
    from .campaign.checkpointers import describe, is_postgres

    if dataclasses.is_dataclass(value):
        return type(value).__name__
    if is_postgres(value):  # a checkpointer's URL: its password hidden
        return describe(value)
    if isinstance(value, str):
        return repr(value) if value == "" or "\n" in value else value
    return str(value)
