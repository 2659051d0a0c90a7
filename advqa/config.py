"""Resolve settings: an explicit value (option or config file) > environment variable > default."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import AdvqaError
from .roles import ROLES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


class ConfigError(AdvqaError):
    """A config file or setting cannot be used; the message names it and the problem."""


def read_config_file(path: str | Path | None) -> dict[str, Any]:
    """Read a TOML config file with optional [campaign], [probe], [models], [endpoints] and [prices]
    tables."""
    if path is None:
        return {}
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"{file}: config file not found")
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{file}: not valid TOML ({error})") from None
    unknown = set(data) - {"campaign", "probe", "models", "index", "endpoints", "prices"}
    if unknown:
        raise ConfigError(f"{file}: unknown table [{sorted(unknown)[0]}] "
                          "(expected [campaign], [probe], [models], [endpoints], [prices])")
    for table in ("endpoints", "prices"):
        if table in data and not isinstance(data[table], dict):
            raise ConfigError(f"{file}: [{table}] must be a table")
    return data


def resolve(explicit: Any, file_value: Any, env: str, default: Any,
            cast: Callable[[str], Any] = str) -> Any:
    """The first of: explicit option, config-file value, $env (cast), default."""
    if explicit is not None:
        return explicit
    if file_value is not None:
        return file_value
    raw = os.environ.get(env)
    if raw not in (None, ""):
        try:
            return cast(raw)
        except ValueError:
            raise ConfigError(f"environment variable {env}={raw!r} is not a valid value") from None
    return default


def resolve_models(explicit: dict[str, str | None], file_models: dict[str, Any],
                   every_role: str | None = None) -> dict[str, str]:
    """A spec per role: --<role> > --model > [models] in the file > $ADVQA_<ROLE> > $ADVQA_MODEL >
    the bundled default."""
    default = "bundled:smollm2-135m"
    if "base_url" in file_models:
        raise ConfigError("[models] base_url: a server's address is set under [endpoints] (base_url = ...), "
                          "for every role or per role")
    models = {}
    file_models = {k: v for k, v in file_models.items() if k in ROLES}
    for role in ROLES:
        models[role] = (explicit.get(role) or every_role or file_models.get(role)
                        or os.environ.get(f"ADVQA_{role.upper()}")
                        or os.environ.get("ADVQA_MODEL") or default)
    return models


def read_guidance(value: str | None) -> str:
    """Guidance is text, or the path of a text file holding it."""
    if not value:
        return ""
    candidate = Path(value)
    if len(value) < 4096 and "\n" not in value and candidate.is_file():
        try:
            return candidate.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as error:
            raise ConfigError(f"{candidate}: cannot read guidance file ({error})") from None
    return value.strip()


def parse_worker(spec: str | None):
    """`I/N` (e.g. "2/4", 1-based) as an advqa.campaign.sharding.Worker; None or "" is no sharding."""
    if spec is None or str(spec).strip() == "":
        return None
    from .campaign.sharding import Worker

    try:
        return Worker.parse(str(spec))
    except ValueError as error:
        raise ConfigError(str(error)) from None


# Endpoint settings: the TOML key, its type, and the environment variable read when neither
# an option nor the file gives it.
ENDPOINT_SETTINGS = {
    "base_url": (str, "OPENAI_BASE_URL"),
    "api_key_env": (str, "ADVQA_API_KEY_ENV"),
    "timeout": (float, "ADVQA_REQUEST_TIMEOUT"),
    "max_retries": (int, "ADVQA_MAX_RETRIES"),
    "max_concurrency": (int, "ADVQA_ENDPOINT_CONCURRENCY"),
    "backoff": (float, "ADVQA_BACKOFF"),
    "max_backoff": (float, "ADVQA_MAX_BACKOFF"),
}


def resolve_endpoints(explicit: dict[str, Any], file_endpoints: dict[str, Any]) -> dict[str, Any]:
    """An Endpoint per role for `openai:` models. Each setting: the command-line option (for
    every role) > [endpoints.<role>] > [endpoints] (every role) > its environment variable >
    the default.

        [endpoints]                      # every role
        timeout = 60
        [endpoints.critic]               # one role
        base_url = "http://gpu-node:8000/v1"
        api_key_env = "VLLM_KEY"         # the key itself stays in the environment
        max_retries = 5
        max_concurrency = 16             # per base URL, shared by the roles that use it
    """
    from .models import Endpoint, ModelError  # lazily: `advqa --help` stays fast

    shared = {k: v for k, v in file_endpoints.items() if not isinstance(v, dict)}
    tables = {k: v for k, v in file_endpoints.items() if isinstance(v, dict)}
    unknown_roles = set(tables) - set(ROLES)
    if unknown_roles:
        raise ConfigError(f"[endpoints.{sorted(unknown_roles)[0]}]: not a role "
                          f"(expected one of {', '.join(ROLES)})")
    _check_endpoint_table("[endpoints]", shared)
    endpoints = {}
    for role in ROLES:
        table = tables.get(role, {})
        _check_endpoint_table(f"[endpoints.{role}]", table)
        values = {}
        for key, (kind, env) in ENDPOINT_SETTINGS.items():
            file_value = table.get(key, shared.get(key))
            value = resolve(explicit.get(key), file_value, env, None, kind)
            if value is not None:
                values[key] = value
        try:
            endpoints[role] = Endpoint(**values)
        except ModelError as error:
            raise ConfigError(f"[endpoints.{role}]: {error}") from None
    return endpoints


def _check_endpoint_table(name: str, table: dict[str, Any]) -> None:
    for key, value in table.items():
        if key == "api_key":
            raise ConfigError(f"{name}: a key is never read from a config file; put it in an "
                              "environment variable and name that with api_key_env")
        if key not in ENDPOINT_SETTINGS:
            raise ConfigError(f"{name}: unknown setting '{key}' "
                              f"(expected {', '.join(ENDPOINT_SETTINGS)})")
        kind = ENDPOINT_SETTINGS[key][0]
        valid = (isinstance(value, str) if kind is str else
                 isinstance(value, int) and not isinstance(value, bool) if kind is int else
                 isinstance(value, (int, float)) and not isinstance(value, bool))
        if not valid:
            expected = {str: "a string", int: "a whole number", float: "a number"}[kind]
            raise ConfigError(f"{name}: {key} = {value!r} is not {expected}")
        if key == "base_url" and not value.startswith(("http://", "https://")):
            raise ConfigError(f"{name}: base_url = {value!r} must start with http:// or https://")


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
