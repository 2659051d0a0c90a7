"""Settings written once as dataclass fields: option, TOML key, environment variable, help, and
`advqa config show`, all from the field; option > config file > environment > default."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import typer
from typer.testing import CliRunner

from advqa.campaign import CampaignSettings
from advqa.campaign.settings import RunSettings
from advqa.cli import app
from advqa.config import campaign_settings, read_config_file
from advqa.graph import ProbeSettings
from advqa.settings import (
    ConfigError,
    option_flag,
    resolve_settings,
    setting,
    setting_fields,
    settings_options,
)


@dataclass
class Knobs:
    """A settings class of the test's own: one field is all a new setting needs."""

    depth: int = setting(3, "How deep to look.", env="TEST_KNOBS_DEPTH")
    label: str = setting("plain", "What to call it.", env="TEST_KNOBS_LABEL")
    strict: bool = setting(False, "Refuse near misses.", env="TEST_KNOBS_STRICT")


def test_a_field_gives_an_option_with_its_help_a_toml_key_and_an_environment_variable(tmp_path,
                                                                                     monkeypatch):
    command = typer.Typer(rich_markup_mode=None)

    @command.command()
    @settings_options(Knobs)
    def run(config: str = "", *, options: dict) -> None:
        table = read_config_file(config or None).get("probe", {})  # any known table serves
        sources: dict[str, str] = {}
        knobs = resolve_settings(Knobs, options=options[Knobs], table=table, table_name="probe",
                                 sources=sources)
        print(knobs.depth, knobs.label, knobs.strict, sources["depth"], sources["label"], sources["strict"])

    help_text = CliRunner().invoke(command, ["--help"], terminal_width=200).output
    assert "--depth" in help_text and "How deep to look. [default: 3] [env: TEST_KNOBS_DEPTH]" in help_text
    assert "--strict / --no-strict" in help_text
    assert CliRunner().invoke(command, []).output.split() == ["3", "plain", "False", "default", "default",
                                                             "default"]
    monkeypatch.setenv("TEST_KNOBS_DEPTH", "5")
    monkeypatch.setenv("TEST_KNOBS_STRICT", "yes")
    file = tmp_path / "advqa.toml"
    file.write_text('[probe]\ndepth = 7\nlabel = "filed"\n', encoding="utf-8")
    assert CliRunner().invoke(command, ["--config", str(file)]).output.split() == [
        "7", "filed", "True", "[probe]", "[probe]", "$TEST_KNOBS_STRICT"]
    given = CliRunner().invoke(command, ["--config", str(file), "--depth", "9", "--no-strict"])
    assert given.output.split() == ["9", "filed", "False", "option", "[probe]", "option"]


def test_bad_values_are_one_line_errors_naming_where_they_came_from(monkeypatch):
    with pytest.raises(ConfigError, match=r"^\[probe\]: depth = 'deep' is not a whole number$"):
        resolve_settings(Knobs, table={"depth": "deep"}, table_name="probe")
    with pytest.raises(ConfigError, match=r"unknown setting 'width'"):
        resolve_settings(Knobs, table={"width": 2}, table_name="probe")
    monkeypatch.setenv("TEST_KNOBS_STRICT", "maybe")
    with pytest.raises(ConfigError, match=r"TEST_KNOBS_STRICT='maybe' is not true or false"):
        resolve_settings(Knobs)
    monkeypatch.delenv("TEST_KNOBS_STRICT")
    with pytest.raises(ConfigError, match=r"^\[campaign\]: concurrency must be at least 1$"):
        campaign_settings({"campaign": {"concurrency": 0}})


def test_every_campaign_and_probe_setting_is_an_option_of_generate_and_a_line_of_config_show(tmp_path,
                                                                                              monkeypatch):
    generate_help = CliRunner().invoke(app, ["generate", "--help"], terminal_width=300).output
    for cls in (CampaignSettings, ProbeSettings, RunSettings):
        for spec in setting_fields(cls):
            flag = option_flag(spec)
            assert flag is None or flag in generate_help, spec.name
    file = tmp_path / "advqa.toml"
    file.write_text('[campaign]\nseeds = 20\ncache = false\nworker = "2/4"\n[probe]\nthreshold = 0.6\n'
                    '[train]\nepochs = 3\n[eval]\ndtype = "bfloat16"\n', encoding="utf-8")
    monkeypatch.setenv("ADVQA_CONCURRENCY", "6")
    monkeypatch.setenv("ADVQA_CHECKPOINTER", "postgresql://ann:s3cret@db-host/advqa")
    shown = CliRunner().invoke(app, ["config", "show", "--config", str(file)], terminal_width=200)
    assert shown.exit_code == 0, shown.output
    lines = {line.split("│")[1].strip(): [cell.strip() for cell in line.split("│")[2:4]]
             for line in shown.output.splitlines() if line.count("│") == 4}
    assert lines["campaign.seeds"] == ["20", "[campaign]"]
    assert lines["campaign.concurrency"] == ["6", "$ADVQA_CONCURRENCY"]
    assert lines["campaign.dedup_threshold"] == ["0.92", "default"]
    # Where the run keeps its probes and which share it runs (RunSettings); a URL's password hidden.
    assert lines["campaign.worker"] == ["2/4", "[campaign]"]
    value, source = lines["campaign.checkpointer"]  # the table may fold a long value onto more lines
    assert value.startswith("postgresql://ann:***@db") and source == "$ADVQA_CHECKPOINTER"
    assert "s3cret" not in shown.output
    assert lines["probe.threshold"] == ["0.6", "[probe]"]
    assert lines["train.epochs"] == ["3.0", "[train]"] and lines["eval.dtype"] == ["bfloat16", "[eval]"]
    assert lines["models.critic"] == ["bundled:smollm2-135m", "default"]
    assert {f"campaign.{s.name}" for s in setting_fields(CampaignSettings)} <= set(lines)
    bad = CliRunner().invoke(app, ["config", "show", "--config", str(tmp_path / "missing.toml")])
    assert isinstance(bad.exception, ConfigError) and "config file not found" in str(bad.exception)
