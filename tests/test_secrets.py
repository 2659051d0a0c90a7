"""An API key reaches the server and nothing else: no run file, cache, report, log or error message."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from advqa.models.mock_server import MockOpenAIServer, loop_reply

SECRET = "sk-advqa-secret-4f9c2e7d1b"
def files_under(*folders: Path) -> list[Path]:
    return [path for folder in folders for path in folder.rglob("*") if path.is_file()]


def test_the_key_is_sent_but_never_written(small_index, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    config = tmp_path / "advqa.toml"
    env = {**os.environ, "ADVQA_TEST_SECRET_KEY": SECRET, "OPENAI_API_KEY": SECRET,
           "ADVQA_RESPONSE_CACHE": str(cache / "responses.sqlite")}
    with MockOpenAIServer(latency=0.0, failures=1, failure_status=503, reply=loop_reply) as server:
        config.write_text('[models]\nquestioner = "openai:mock"\nstudent = "openai:mock"\n'
                          'expert = "openai:mock"\ncritic = "openai:mock"\n\n'
                          f'[endpoints]\nbase_url = "{server.base_url}"\n'
                          'api_key_env = "ADVQA_TEST_SECRET_KEY"\n'
                          'max_retries = 2\nbackoff = 0.01\n', encoding="utf-8")
        run = subprocess.run(
            [sys.executable, "-m", "advqa.cli", "generate", "--index", str(small_index.path),
             "--out", str(tmp_path / "run"), "--seeds", "2", "--max-rounds", "1", "--config", str(config)],
            capture_output=True, text=True, env=env, timeout=300)
        assert run.returncode == 0, run.stderr
        report = subprocess.run([sys.executable, "-m", "advqa.cli", "report", str(tmp_path / "run")],
                                capture_output=True, text=True, env=env, timeout=120)
        assert report.returncode == 0, report.stderr
    assert server.requests and all(r.authorization == f"Bearer {SECRET}" for r in server.requests)
    # The same config against a server that is gone: the error message must not carry the key either.
    failed = subprocess.run(
        [sys.executable, "-m", "advqa.cli", "generate", "--index", str(small_index.path),
         "--out", str(tmp_path / "gone"), "--seeds", "1", "--max-rounds", "1", "--config", str(config),
         "--no-cache"], capture_output=True, text=True, env=env, timeout=300)
    assert failed.returncode != 0 and "cannot connect" in failed.stderr

    written = files_under(tmp_path / "run", tmp_path / "gone", cache)
    assert {p.name for p in written} >= {"config.toml", "traces.jsonl", "stats.json", "dataset.jsonl",
                                         "report.html", "checkpoints.sqlite", "responses.sqlite"}
    for path in written:
        assert SECRET.encode() not in path.read_bytes(), path
    for output in (run.stdout, run.stderr, report.stdout, report.stderr, failed.stdout, failed.stderr):
        assert SECRET not in output
