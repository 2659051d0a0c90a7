"""The command line: bad input is one clear line and a non-zero exit, never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest


def advqa(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "advqa.cli", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=300)


@pytest.mark.parametrize("args, message", [
    (["index", "/no/such/folder", "--out", "{tmp}/i"], "no/such/folder"),
    (["generate", "--index", "{tmp}/missing", "--out", "{tmp}/r"], "missing"),
    (["generate", "--out", "{tmp}/r"], "give exactly one of --index"),
    (["generate", "--index", "{index}", "--out", "{tmp}/r", "--threshold", "1.5"],
     "threshold must be between 0 and 1"),
    (["generate", "--index", "{index}", "--out", "{tmp}/r", "--prompts", "{tmp}/prompts"],
     "missing the placeholder {question}"),
    (["generate", "--index", "{index}", "--out", "{tmp}/r", "--config", "{tmp}/bad.toml"],
     "not valid TOML"),
    (["generate", "--index", "{index}", "--out", "{tmp}/r", "--student", "bundled:nope"],
     "unknown bundled model"),
])
def test_bad_input_is_one_line(args, message, tmp_path, small_index):
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "student.txt").write_text("no placeholder here")
    (tmp_path / "bad.toml").write_text("[campaign\nseeds = ")
    filled = [a.format(tmp=tmp_path, index=small_index.path) for a in args]
    result = advqa(*filled)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_help_lists_commands():
    result = advqa("--help")
    assert result.returncode == 0
    for command in ("index", "generate", "demo"):
        assert command in result.stdout


def test_help_shows_bracketed_text_such_as_defaults_and_table_names():
    from typer.testing import CliRunner

    from advqa.cli import app

    result = CliRunner().invoke(app, ["generate", "--help"], terminal_width=200)
    assert result.exit_code == 0
    assert "Rounds per probe. [default: 3]" in result.output
    assert "[campaign]" in result.output
