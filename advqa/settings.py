"""Settings as dataclass fields that carry their help and environment variable; one resolver for all.

A setting is written once, as a field:

    seeds: int | None = setting(8, "Seed passages in all, spread over documents.", env="ADVQA_SEEDS")

and that gives it a command-line option (`--seeds`, typer, via `settings_options`), a key in
its TOML table (`[campaign] seeds = 8`), an environment variable, help text, and a line in
`advqa config show`. A value comes from the first of: option > config file > environment >
default (`resolve_settings`).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import os
import sys
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from .errors import AdvqaError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULT = "default"


class ConfigError(AdvqaError):
    """A config file or setting cannot be used; the message names it and the problem."""


def setting(default: Any = dataclasses.MISSING, help: str = "", *, env: str | None = None,
            option: str | bool | None = None, parse: Callable[[str], Any] | None = None,
            shown_default: str | None = None, default_factory: Any = dataclasses.MISSING) -> Any:
    """A dataclass field that is a setting.

    `env`: its environment variable (none when not given). `option`: its command-line flag when
    it differs from --<field-name> (False: no option; TOML and environment only). `parse` turns
    a text value (option, file or environment) into the field's value, e.g. "text or a file".
    `shown_default`: what the help says about a default of None.
    """
    metadata = {"help": help, "env": env, "option": option, "parse": parse, "shown_default": shown_default}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def read_text_or_file(value: str | None) -> str:
    """A setting given as text, or as the path of a text file holding it."""
    if not value:
        return ""
    candidate = Path(value)
    if len(value) < 4096 and "\n" not in value and candidate.is_file():
        try:
            return candidate.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as error:
            raise ConfigError(f"{candidate}: cannot read it ({error})") from None
    return value.strip()


def cache_home() -> Path:
    """advqa's cache folder (converted models, the reply cache): $ADVQA_CACHE_DIR, else the user's."""
    from platformdirs import user_cache_dir

    return Path(os.environ.get("ADVQA_CACHE_DIR") or user_cache_dir("advqa"))


def setting_fields(cls: type) -> list[dataclasses.Field]:
    """The fields of a settings dataclass that are settings (made with `setting`)."""
    return [f for f in dataclasses.fields(cls) if "help" in f.metadata]


def value_type(cls: type, name: str) -> type:
    """The plain type of a setting (int for `int | None`), from its annotation."""
    hint = typing.get_type_hints(cls)[name]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and len(args) == 1:
        hint = args[0]
    return typing.get_origin(hint) or hint


def read_toml(path: str | Path | None, tables: dict[str, str] | None = None) -> dict[str, Any]:
    """A TOML config file's tables (None: {}). With `tables` (each known table and what it holds),
    an unknown table or a known one that is not a table is an error."""
    if path is None:
        return {}
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"{file}: config file not found")
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{file}: not valid TOML ({error})") from None
    if tables is not None:
        unknown = sorted(set(data) - set(tables))
        if unknown:
            expected = ", ".join(f"[{t}]" for t in tables)
            raise ConfigError(f"{file}: unknown table [{unknown[0]}] (expected {expected})")
        for table, value in data.items():
            if not isinstance(value, dict):
                raise ConfigError(f"{file}: [{table}] must be a table")
    return data


def resolve_settings(cls: type, *, options: dict[str, Any] | None = None,
                     table: dict[str, Any] | None = None, table_name: str = "",
                     sources: dict[str, str] | None = None, **fixed: Any) -> Any:
    """An instance of `cls` with each setting from the first of: `options` (not None) > `table`
    (the config file's) > its environment variable > the field's default. `fixed` values (e.g. a
    nested settings object) are passed as they are. Where each value came from goes into
    `sources` (field name -> "option", "[table]", "$VAR" or "default")."""
    options = options or {}
    table = dict(table or {})
    names = {f.name for f in setting_fields(cls)}
    unknown = sorted(set(table) - names - set(fixed))
    if unknown:
        raise ConfigError(f"[{table_name}]: unknown setting '{unknown[0]}' "
                          f"(known: {', '.join(sorted(names))})")
    values: dict[str, Any] = dict(fixed)
    for spec in setting_fields(cls):
        name, env, parse = spec.name, spec.metadata["env"], spec.metadata["parse"]
        kind = value_type(cls, name)
        if options.get(name) is not None:
            value, source = options[name], "option"
        elif name in table:
            value, source = _checked(table[name], kind, f"[{table_name}]: {name}"), f"[{table_name}]"
        elif env and os.environ.get(env, "") != "":
            value, source = _from_text(os.environ[env], kind, f"environment variable {env}"), f"${env}"
        else:
            if sources is not None:
                sources[name] = DEFAULT
            continue
        values[name] = parse(value) if parse and isinstance(value, str) else value
        if sources is not None:
            sources[name] = source
    try:
        return cls(**values)
    except (ValueError, TypeError, AdvqaError) as error:
        raise ConfigError(f"[{table_name}]: {error}" if table_name else str(error)) from None


def _checked(value: Any, kind: type, where: str) -> Any:
    """A config-file value of the setting's type (an int where a float goes is fine)."""
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind in (int, float, str, bool, list, dict) and (
            not isinstance(value, kind) or (kind is int and isinstance(value, bool))):
        raise ConfigError(f"{where} = {value!r} is not {_NAMES.get(kind, kind.__name__)}")
    return value


def _from_text(text: str, kind: type, where: str) -> Any:
    try:
        if kind is bool:
            return {"1": True, "true": True, "yes": True, "on": True,
                    "0": False, "false": False, "no": False, "off": False}[text.strip().lower()]
        return kind(text) if kind in (int, float, str) else text
    except (KeyError, ValueError):
        raise ConfigError(f"{where}={text!r} is not {_NAMES.get(kind, kind.__name__)}") from None


_NAMES = {int: "a whole number", float: "a number", str: "text", bool: "true or false",
          list: "a list", dict: "a table"}


def option_flag(spec: dataclasses.Field) -> str | None:
    """A setting's command-line flag, or None when it has none."""
    option = spec.metadata.get("option")
    if option is False:
        return None
    return option or "--" + spec.name.replace("_", "-")


def option_help(cls: type, spec: dataclasses.Field) -> str:
    """The help of a setting's option, with its default and environment variable."""
    default = spec.metadata.get("shown_default")
    if default is None and spec.default is not dataclasses.MISSING and spec.default is not None:
        default = str(spec.default).lower() if isinstance(spec.default, bool) else str(spec.default)
    parts = [spec.metadata["help"]]
    if default:
        parts.append(f"[default: {default}]")
    if spec.metadata.get("env"):
        parts.append(f"[env: {spec.metadata['env']}]")
    return " ".join(parts)


def settings_options(*classes: type) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Give a typer command one option per setting of `classes` (default None, help from the
    field) and pass their values to it as `options`: {class: {field name: value or None}}."""
    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        own = [p for p in inspect.signature(command, eval_str=True).parameters.values()
               if p.name != "options"]
        taken = {p.name for p in own}
        added: dict[str, tuple[type, str]] = {}
        parameters = list(own)
        import typer

        for cls in classes:
            for spec in setting_fields(cls):
                flag = option_flag(spec)
                if flag is None:
                    continue
                if spec.name in taken:
                    raise TypeError(f"{command.__name__}: option {spec.name} is declared twice")
                kind = value_type(cls, spec.name)
                help_text = option_help(cls, spec)
                decls = [f"{flag}/--no-{flag[2:]}"] if kind is bool else [flag]
                annotation = Annotated[kind | None, typer.Option(*decls, help=help_text, show_default=False)]
                parameters.append(inspect.Parameter(spec.name, inspect.Parameter.KEYWORD_ONLY, default=None,
                                                    annotation=annotation))
                added[spec.name] = (cls, spec.name)
                taken.add(spec.name)

        @functools.wraps(command)
        def run(**kwargs: Any) -> Any:
            given: dict[type, dict[str, Any]] = {cls: {} for cls in classes}
            for name, (cls, field_name) in added.items():
                given[cls][field_name] = kwargs.pop(name)
            return command(**kwargs, options=given)

        run.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        run.__annotations__ = {p.name: p.annotation for p in parameters}
        del run.__wrapped__  # typer must read this signature, not the command's
        return run

    return decorate
