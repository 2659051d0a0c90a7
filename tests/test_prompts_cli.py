"""`advqa prompts export` and `advqa prompts diff`, and the prompt texts a campaign saves."""

from __future__ import annotations

import pytest
from report_runs import scripted_run, synthetic_run, with_prompts
from typer.testing import CliRunner

from advqa.agents import PROMPTS_DIR, ROLES, PromptError, load_prompts
from advqa.cli import app
from advqa.report.prompt_diff import run_prompts


def invoke(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_campaign_saves_its_prompt_texts(small_index, tmp_path):
    scripted_run(small_index, tmp_path / "run", seeds=2)
    templates = load_prompts().templates
    for role in ROLES:
        assert (tmp_path / "run" / "prompts" / f"{role}.txt").read_text(encoding="utf-8") == templates[role]
    # The saved folder is a valid --prompts folder, and diff reads it as the run's own texts.
    assert load_prompts(tmp_path / "run" / "prompts").templates == templates
    assert run_prompts(tmp_path / "run")["critic"].origin.startswith("saved in the run")


def test_export_writes_the_prompt_files(tmp_path):
    result = invoke("prompts", "export", tmp_path / "p")
    assert result.exit_code == 0, result.output
    for role in ROLES:
        assert (tmp_path / "p" / f"{role}.txt").read_text() == (PROMPTS_DIR / f"{role}.txt").read_text()
    (tmp_path / "p" / "critic.txt").write_text("edited {question}")
    again = invoke("prompts", "export", tmp_path / "p")
    assert isinstance(again.exception, PromptError) and "--force" in str(again.exception)
    assert (tmp_path / "p" / "critic.txt").read_text() == "edited {question}"  # not overwritten
    assert invoke("prompts", "export", tmp_path / "p", "--force").exit_code == 0
    assert (tmp_path / "p" / "critic.txt").read_text() == (PROMPTS_DIR / "critic.txt").read_text()


def test_export_from_a_run(tmp_path):
    run = tmp_path / "run"
    synthetic_run(run, probes=4, rounds=1, documents=1, pool=4)
    edited = load_prompts().templates["expert"] + "\nBe brief.\n"
    with_prompts(run, expert=edited)
    result = invoke("prompts", "export", tmp_path / "p", "--from", run)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "p" / "expert.txt").read_text() == edited
    assert load_prompts(tmp_path / "p").templates["expert"] == edited


@pytest.fixture
def two_runs(tmp_path):
    a, b = tmp_path / "run_a", tmp_path / "run_b"
    synthetic_run(a, probes=20, rounds=2, documents=2, pool=20)
    synthetic_run(b, probes=10, rounds=3, documents=2, pool=20, seed=1)
    templates = load_prompts().templates
    with_prompts(a)
    with_prompts(b, critic=templates["critic"].replace("Feedback", "Advice", 1) + "Be strict.\n")
    return a, b


def test_diff_shows_prompts_settings_and_funnels(two_runs):
    a, b = two_runs
    result = invoke("prompts", "diff", a, b)
    assert result.exit_code == 0, result.output
    text = result.output
    assert "critic: changed" in text and "+Be strict." in text
    assert "questioner: same" in text and "expert: same" in text
    assert "-max_rounds = 2" in text and "+max_rounds = 3" in text
    assert "Funnel" in text and "run_a" in text and "run_b" in text
    assert "-10" in text  # probes: 20 -> 10


def test_diff_without_saved_prompts_compares_their_sources(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    synthetic_run(a, probes=4, rounds=1, documents=1, pool=4)
    synthetic_run(b, probes=4, rounds=1, documents=1, pool=4)
    assert "the run did not save its prompt texts" in run_prompts(a)["student"].origin
    result = invoke("prompts", "diff", a, b)
    assert result.exit_code == 0, result.output
    assert all(f"{role}: same" in result.output for role in ROLES)


def test_diff_of_a_folder_that_is_not_a_run(tmp_path):
    from advqa.report import ReportError

    result = invoke("prompts", "diff", tmp_path, tmp_path)
    assert isinstance(result.exception, ReportError)
