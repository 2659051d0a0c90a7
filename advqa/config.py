"""Resolve settings: an explicit value (option or config file) > environment variable > default."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROLES = ("questioner", "student", "expert", "critic")


class ConfigError(Exception):
    """A config file or setting cannot be used; the message names it and the problem."""


def read_config_file(path: str | Path | None) -> dict[str, Any]:
    """Read a TOML config file with optional [campaign], [probe] and [models] tables."""
    if path is None:
        return {}
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"{file}: config file not found")
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{file}: not valid TOML ({error})") from None
    unknown = set(data) - {"campaign", "probe", "models", "index"}
    if unknown:
        raise ConfigError(f"{file}: unknown table [{sorted(unknown)[0]}] "
                          "(expected [campaign], [probe], [models])")
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
