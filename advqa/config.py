"""Resolve settings: an explicit value (option or config file) > environment variable > default."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .roles import ROLES
from .settings import ConfigError, read_toml, resolve_settings, setting_fields

# The tables of a config file, and what each holds (one file may serve every command).
TABLES = {"campaign": "campaign settings", "probe": "probe settings", "models": "a model spec per role",
          "index": "the index", "endpoints": "OpenAI-compatible servers", "prices": "prices per model",
          "train": "training settings", "eval": "scoring settings"}


def read_config_file(path: str | Path | None) -> dict[str, Any]:
    """Read a TOML config file with optional [campaign], [probe], [models], [endpoints], [prices],
    [train] and [eval] tables."""
    return read_toml(path, TABLES)


def resolve_models(explicit: dict[str, str | None], file_models: dict[str, Any],
                   every_role: str | None = None, sources: dict[str, str] | None = None) -> dict[str, str]:
    """A spec per role: --<role> > --model > [models] in the file > $ADVQA_<ROLE> > $ADVQA_MODEL >
    the bundled default. `sources` receives where each came from."""
    from .models import DEFAULT_MODEL_SPEC

    if "base_url" in file_models:
        raise ConfigError("[models] base_url: a server's address is set under [endpoints] (base_url = ...), "
                          "for every role or per role")
    models = {}
    for role in ROLES:
        env = f"ADVQA_{role.upper()}"
        candidates = ((explicit.get(role), f"--{role}"), (every_role, "--model"),
                      (file_models.get(role), "[models]"), (os.environ.get(env), f"${env}"),
                      (os.environ.get("ADVQA_MODEL"), "$ADVQA_MODEL"), (DEFAULT_MODEL_SPEC, "default"))
        models[role], source = next((value, where) for value, where in candidates if value)
        if sources is not None:
            sources[role] = source
    return models


def run_keys() -> tuple[str, ...]:
    """[campaign] keys that are not CampaignSettings: where a run keeps things and which share it
    runs (RunSettings, and the reply cache: resolve_cache)."""
    from .campaign.settings import RunSettings

    return ("cache", *(spec.name for spec in setting_fields(RunSettings)))


def run_settings(file: dict[str, Any], options: dict | None = None, sources: dict[str, str] | None = None):
    """The RunSettings from options > the config file's [campaign] table > environment > defaults."""
    from .campaign.settings import RunSettings

    names = {spec.name for spec in setting_fields(RunSettings)}
    table = {k: v for k, v in file.get("campaign", {}).items() if k in names}
    return resolve_settings(RunSettings, options=options, table=table, table_name="campaign", sources=sources)


def campaign_settings(file: dict[str, Any], options: dict | None = None,
                      sources: dict[str, dict[str, str]] | None = None):
    """The CampaignSettings (with its ProbeSettings) from options ({class: {field: value}}) > the
    config file's [campaign] and [probe] tables > environment > defaults. `sources` receives where
    each setting came from, per table."""
    from .campaign import CampaignSettings
    from .graph import ProbeSettings

    sources = sources if sources is not None else {}
    options = options or {}
    not_campaign = run_keys()
    campaign_table = {k: v for k, v in file.get("campaign", {}).items() if k not in not_campaign}
    probe = resolve_settings(ProbeSettings, options=options.get(ProbeSettings), table=file.get("probe"),
                             table_name="probe", sources=sources.setdefault("probe", {}))
    return resolve_settings(CampaignSettings, options=options.get(CampaignSettings), table=campaign_table,
                            table_name="campaign", sources=sources.setdefault("campaign", {}), probe=probe)


def parse_worker(spec: str | None):
    """`I/N` (e.g. "2/4", 1-based) as an advqa.campaign.sharding.Worker; None or "" is no sharding."""
    if spec is None or str(spec).strip() == "":
        return None
    from .campaign.sharding import Worker

    try:
        return Worker.parse(str(spec))
    except ValueError as error:
        raise ConfigError(str(error)) from None


def resolve_endpoints(explicit: dict[str, Any], file_endpoints: dict[str, Any],
                      sources: dict[str, dict[str, str]] | None = None) -> dict[str, Any]:
    """An Endpoint per role for `openai:` models. Each setting: the command-line option (for
    every role) > [endpoints.<role>] > [endpoints] (every role) > its environment variable >
    the default. `sources` receives where each role's settings came from.

        [endpoints]                      # every role
        timeout = 60
        [endpoints.critic]               # one role
        base_url = "http://gpu-node:8000/v1"
        api_key_env = "VLLM_KEY"         # the key itself stays in the environment
        max_retries = 5
        max_concurrency = 16             # per base URL, shared by the roles that use it
    """
    from .models import Endpoint  # lazily: `advqa --help` stays fast

    shared = {k: v for k, v in file_endpoints.items() if not isinstance(v, dict)}
    tables = {k: v for k, v in file_endpoints.items() if isinstance(v, dict)}
    unknown_roles = set(tables) - set(ROLES)
    if unknown_roles:
        raise ConfigError(f"[endpoints.{sorted(unknown_roles)[0]}]: not a role "
                          f"(expected one of {', '.join(ROLES)})")
    _check_endpoint_table("endpoints", shared)
    resolve_settings(Endpoint, table=shared, table_name="endpoints")  # its own errors, named as its own
    endpoints = {}
    for role in ROLES:
        name = f"endpoints.{role}" if role in tables else "endpoints"
        _check_endpoint_table(name, tables.get(role, {}))
        found: dict[str, str] = {}
        table = {**shared, **tables.get(role, {})}
        endpoints[role] = resolve_settings(Endpoint, options=explicit, table=table, table_name=name,
                                           sources=found)
        if sources is not None:
            sources[role] = found
    return endpoints


def _check_endpoint_table(name: str, table: dict[str, Any]) -> None:
    """What the resolver cannot know: a key is never read from a file, and a URL needs its scheme."""
    if "api_key" in table:
        raise ConfigError(f"[{name}]: a key is never read from a config file; put it in an "
                          "environment variable and name that with api_key_env")
    base_url = table.get("base_url")
    if isinstance(base_url, str) and not base_url.startswith(("http://", "https://")):
        raise ConfigError(f"[{name}]: base_url = {base_url!r} must start with http:// or https://")


def read_prices(file_prices: dict[str, Any]) -> dict[str, dict[str, float]]:
    """[prices."<model label>"] tables: input_per_million and output_per_million, numbers >= 0."""
    prices = {}
    for model, table in file_prices.items():
        if not isinstance(table, dict):
            raise ConfigError(f'[prices]: "{model}" must be a table, e.g. '
                              f'[prices."{model}"] input_per_million = 0.15')
        unknown = set(table) - {"input_per_million", "output_per_million"}
        if unknown:
            raise ConfigError(f'[prices."{model}"]: unknown setting \'{sorted(unknown)[0]}\' '
                              "(expected input_per_million, output_per_million)")
        for key, value in table.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ConfigError(f'[prices."{model}"]: {key} = {value!r} must be a number >= 0')
        prices[model] = {k: float(v) for k, v in table.items()}
    return prices


def resolve_cache(no_cache: bool, file_value: Any) -> Path | None:
    """Where replies are cached, or None when caching is off: --no-cache, [campaign] cache =
    false (or a path), $ADVQA_NO_CACHE=1, else the default cache file."""
    from .agents.cache import default_cache_path

    if no_cache:
        return None
    if file_value is not None:
        if file_value is False:
            return None
        if file_value is True:
            return default_cache_path()
        if isinstance(file_value, str) and file_value.strip():
            return Path(file_value).expanduser()
        raise ConfigError(f"[campaign]: cache = {file_value!r} must be true, false or a file path")
    if os.environ.get("ADVQA_NO_CACHE", "").strip().lower() in ("1", "true", "yes"):
        return None
    return default_cache_path()
