"""Bad input, one test per row of the README's "Bad input" table: one line naming the file and the
problem, a non-zero exit when nothing useful can be done, never a traceback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from advqa.cli import main
from advqa.retrieval import load_index
from advqa.retrieval.index import write_index

GOOD = "# Lease\n\nThe tenant pays 900 euros of rent on the first day of every month.\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01" + bytes(200)


def advqa(capsys, *args) -> tuple[int, str]:
    """Run the real entry point (advqa.cli.main) in this process: (exit code, stderr)."""
    argv = sys.argv
    sys.argv = ["advqa", *map(str, args)]
    try:
        main()
        code = 0
    except SystemExit as exit:
        code = exit.code or 0
    finally:
        sys.argv = argv
    return code, capsys.readouterr().err


def assert_error(code: int, err: str, *fragments: str) -> str:
    """Exit 2 with one `advqa: error:` line holding every fragment, and no traceback."""
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("advqa: error:")]
    assert code == 2 and len(lines) == 1, err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def assert_reported(code: int, err: str, *lines: str) -> None:
    """Exit 0 (the other files were indexed) with each expected report line on stderr."""
    assert "Traceback" not in err, err
    assert code == 0, err
    for line in lines:
        assert line in err.splitlines(), err


def folder(root: Path, files: dict[str, str | bytes]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return root


def indexed_documents(index_dir: Path) -> list[str]:
    return list(json.loads((index_dir / "manifest.json").read_text(encoding="utf-8"))["documents"])


def test_missing_folder(tmp_path):
    # Through a real `python -m advqa.cli` process: stderr is exactly one line.
    result = subprocess.run([sys.executable, "-m", "advqa.cli", "index", str(tmp_path / "nowhere"),
                             "--out", str(tmp_path / "index")], capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"advqa: error: {tmp_path / 'nowhere'}: documents folder does not exist"]


def test_empty_folder(tmp_path, capsys):
    (tmp_path / "docs").mkdir()
    assert_error(*advqa(capsys, "index", tmp_path / "docs", "--out", tmp_path / "index"),
                 f"{tmp_path / 'docs'}: the documents folder is empty")


def test_folder_with_no_supported_files(tmp_path, capsys):
    docs = folder(tmp_path / "docs", {"data.csv": "a,b\n", "image.png": PNG, ".hidden.txt": "x"})
    assert_error(*advqa(capsys, "index", docs, "--out", tmp_path / "index"),
                 f"{docs}: no supported documents found", ".docx, .htm, .html, .md, .pdf, .txt",
                 "2 files of unsupported types ignored (.csv, .png)")


def test_binary_file_with_a_text_extension(tmp_path, capsys):
    docs = folder(tmp_path / "docs", {"lease.md": GOOD, "scan.txt": PNG})
    code, err = advqa(capsys, "index", docs, "--out", tmp_path / "index")
    assert_reported(code, err, f"advqa: skipped: {docs / 'scan.txt'}: binary content (NUL bytes), not text")
    assert indexed_documents(tmp_path / "index") == ["lease.md"]
    # Nothing but binary files: nothing useful can be done.
    only_binary = folder(tmp_path / "binary", {"scan.txt": PNG})
    assert_error(*advqa(capsys, "index", only_binary, "--out", tmp_path / "index2"),
                 f"{only_binary}: no readable documents", "scan.txt: binary content")


def test_non_utf8_text(tmp_path, capsys):
    text = "Café — the tenant’s “deposit” is 900 euros."
    docs = folder(tmp_path / "docs", {"legacy.txt": text.encode("cp1252")})
    code, err = advqa(capsys, "index", docs, "--out", tmp_path / "index")
    assert_reported(code, err,
                    f"advqa: note: {docs / 'legacy.txt'}: not valid UTF-8 (byte 3); decoded as cp1252")
    (chunk,) = load_index(tmp_path / "index").chunks
    assert chunk.text == text


def test_empty_file(tmp_path, capsys):
    docs = folder(tmp_path / "docs", {"lease.md": GOOD, "empty.md": "", "blank.txt": "  \n\n"})
    code, err = advqa(capsys, "index", docs, "--out", tmp_path / "index")
    assert_reported(code, err, f"advqa: skipped: {docs / 'empty.md'}: empty file",
                    f"advqa: skipped: {docs / 'blank.txt'}: no text in the file")
    assert indexed_documents(tmp_path / "index") == ["lease.md"]


def test_huge_file(tmp_path, capsys, monkeypatch):
    docs = folder(tmp_path / "docs", {"lease.md": GOOD, "dump.txt": "word " * 420_000})  # 2.0 MB
    read = Path.read_bytes

    def read_bytes(path: Path) -> bytes:
        assert path.name != "dump.txt", "an over-limit file must not be read"
        return read(path)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    code, err = advqa(capsys, "index", docs, "--out", tmp_path / "index", "--max-file-mb", "1")
    assert_reported(code, err,
                    f"advqa: skipped: {docs / 'dump.txt'}: 2.0 MB, over the 1 MB limit (--max-file-mb)")
    assert indexed_documents(tmp_path / "index") == ["lease.md"]
    # `generate --docs` takes the same option; with every file over it there is nothing to index.
    only_huge = folder(tmp_path / "huge", {"dump.txt": "word " * 420_000})
    assert_error(*advqa(capsys, "generate", "--docs", only_huge, "--out", tmp_path / "run",
                        "--max-file-mb", "1"),
                 f"{only_huge}: no readable documents", "over the 1 MB limit")


def test_broken_pdf_or_docx(tmp_path, capsys):
    pytest.importorskip("pypdf")
    pytest.importorskip("docx")
    docs = folder(tmp_path / "docs", {"lease.md": GOOD, "broken.pdf": b"%PDF-1.4\n1 0 obj\n<< /Type",
                                      "broken.docx": b"PK\x03\x04 not really a zip"})
    code, err = advqa(capsys, "index", docs, "--out", tmp_path / "index")
    assert_reported(code, err,
                    f"advqa: skipped: {docs / 'broken.docx'}: cannot read .docx (not a Word zip package)")
    assert f"advqa: skipped: {docs / 'broken.pdf'}: cannot read PDF (" in err
    # pypdf's own warnings about the file are quiet: one line says it all.
    assert len([line for line in err.splitlines() if "broken.pdf" in line]) == 1
    assert indexed_documents(tmp_path / "index") == ["lease.md"]
    # One broken file given on its own: the error is that file's problem.
    assert_error(*advqa(capsys, "index", docs / "broken.pdf", "--out", tmp_path / "index2"),
                 f"{docs / 'broken.pdf'}: cannot read PDF (")


def test_symlink_loop(tmp_path, capsys):
    docs = folder(tmp_path / "docs", {"lease.md": GOOD, "sub/clause.txt": "Clause two: no pets are allowed."})
    (docs / "a.txt").symlink_to("b.txt")
    (docs / "b.txt").symlink_to("a.txt")
    (docs / "sub" / "up").symlink_to("..")  # a folder loop: walking it would never end
    (docs / "again.md").symlink_to("lease.md")  # the same file twice
    code, err = advqa(capsys, "index", docs, "--out", tmp_path / "index")
    assert_reported(code, err, f"advqa: skipped: {docs / 'a.txt'}: symbolic link loop",
                    f"advqa: skipped: {docs / 'b.txt'}: symbolic link loop",
                    f"advqa: skipped: {docs / 'sub' / 'up'}: symbolic link to a folder, not followed "
                    "(it could loop)",
                    f"advqa: skipped: {docs / 'again.md'}: same file as {docs / 'lease.md'}, read once")
    assert indexed_documents(tmp_path / "index") == ["lease.md", "sub/clause.txt"]


def test_unreadable_file(tmp_path):
    """A file the process may not read. chmod 000 does not stop root, so as root the command runs
    without the capabilities that let root read anything (setpriv), which is a real refusal."""
    prefix = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: chmod 000 cannot stop root from reading")
        prefix = [setpriv, "--bounding-set=-dac_override,-dac_read_search"]
    docs = folder(tmp_path / "docs", {"lease.md": GOOD, "secret.txt": "Confidential terms."})
    (docs / "secret.txt").chmod(0)
    try:
        result = subprocess.run([*prefix, sys.executable, "-m", "advqa.cli", "index", str(docs), "--out",
                                 str(tmp_path / "index")], capture_output=True, text=True, timeout=600)
    finally:
        (docs / "secret.txt").chmod(0o644)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert (f"advqa: skipped: {docs / 'secret.txt'}: cannot read the file (Permission denied)"
            in result.stderr.splitlines()), result.stderr
    assert indexed_documents(tmp_path / "index") == ["lease.md"]


def truncate_faiss(index: Path) -> None:
    data = (index / "index.faiss").read_bytes()
    (index / "index.faiss").write_bytes(data[: len(data) // 2])


def bad_chunk_line(index: Path) -> None:
    lines = (index / "chunks.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    (index / "chunks.jsonl").write_text(lines[0] + '{"id": "torn", "text": \n' + "".join(lines[1:]),
                                        encoding="utf-8")


def vectors_of_another_model(index: Path) -> None:
    """The chunks with 8-dimensional vectors, as another embedding model would have made them."""
    built = load_index(index)
    manifest = {**built.manifest, "dimension": 8}
    write_index(index, manifest, built.chunks, np.eye(len(built.chunks), 8, dtype=np.float32))


def unloadable_model(index: Path) -> None:
    manifest = json.loads((index / "manifest.json").read_text(encoding="utf-8"))
    manifest["embedding_model"] = str(index / "no-such-model")
    (index / "no-such-model").mkdir()  # a folder, so that nothing is looked up on the hub
    (index / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")


@pytest.mark.parametrize(("damage", "fragments"), [
    (truncate_faiss, ["index.faiss: corrupted FAISS index (truncated or damaged file)"]),
    (bad_chunk_line, ["chunks.jsonl:2: corrupted index chunk file (not JSON: Expecting value)"]),
    (vectors_of_another_model, ["holds 8-dimensional vectors, but its embedding model",
                                "makes 384-dimensional ones"]),
    (unloadable_model, ["cannot load embedding model", "no-such-model"]),
])
def test_corrupted_or_mismatched_index(damage, fragments, tmp_path, capsys, small_index):
    index = tmp_path / "index"
    shutil.copytree(small_index.path, index)
    damage(index)
    assert_error(*advqa(capsys, "generate", "--index", index, "--out", tmp_path / "run"), *fragments)
    assert not (tmp_path / "run" / "traces.jsonl").exists()  # it failed before any probe ran


def test_malformed_config_file(tmp_path, capsys, small_index):
    bad = tmp_path / "bad.toml"
    bad.write_text("[campaign]\nseeds = 4\nthreshold = = 0.5\n", encoding="utf-8")
    assert_error(*advqa(capsys, "generate", "--index", small_index.path, "--out", tmp_path / "run",
                        "--config", bad),
                 f"{bad}: not valid TOML", "line 3")
    assert_error(*advqa(capsys, "train", "--dataset", tmp_path / "d.jsonl", "--out", tmp_path / "a",
                        "--config", bad),
                 f"{bad}: not valid TOML", "line 3")


def test_unknown_model_spec(tmp_path, capsys, small_index):
    for spec, fragment in (("bundled:nope", "unknown bundled model 'bundled:nope'"),
                           ("nosuchprovider:model-x", "unknown model spec 'nosuchprovider:model-x'")):
        assert_error(*advqa(capsys, "generate", "--index", small_index.path, "--out", tmp_path / "run",
                            "--student", spec), fragment)


def test_unreachable_server(tmp_path, capsys, small_index, monkeypatch):
    monkeypatch.setenv("ADVQA_BACKOFF", "0.01")  # keep the one retry quick
    monkeypatch.setenv("ADVQA_MAX_BACKOFF", "0.01")
    line = assert_error(*advqa(
        capsys, "generate", "--index", small_index.path, "--out", tmp_path / "run",
        "--model", "openai:test-model", "--base-url", "http://127.0.0.1:9/v1", "--max-retries", "1",
        "--request-timeout", "5", "--no-cache", "--seeds", "2", "--max-rounds", "1"),
        "every probe failed (2 of 2)", "openai:test-model at http://127.0.0.1:9/v1: cannot connect",
        "gave up after 1 retries")
    assert "traces.jsonl" in line


def test_legalbench_folder_with_missing_columns_or_labels(tmp_path, capsys):
    # The loader's checks are tested in tests/test_evaluation.py (test_the_answer_column_must_be_there,
    # test_a_column_the_prompt_uses_must_be_there, test_an_unknown_answer_names_file_and_line);
    # here, the command: it fails on the data before loading any model.
    from test_evaluation import make_task

    make_task(tmp_path / "no_answer", header=["index", "text", "label", "document_name"])
    assert_error(*advqa(capsys, "eval", "--legalbench", tmp_path / "no_answer", "--tasks", "cuad_toy"),
                 "test.tsv: missing column answer")
    make_task(tmp_path / "bad_label",
              test=[["0", "A clause.", "Yes", "a.pdf"], ["1", "A clause.", "Maybe", "b.pdf"]])
    assert_error(*advqa(capsys, "eval", "--legalbench", tmp_path / "bad_label", "--tasks", "cuad_toy"),
                 "test.tsv:3", "'Maybe'")


def test_dataset_file_with_a_bad_line(tmp_path, capsys):
    # read_dataset's checks are tested in tests/test_training.py
    # (test_a_bad_line_is_reported_with_its_file_and_line_number); here, both commands.
    dataset = tmp_path / "dataset.jsonl"
    good = {"messages": [{"role": "user", "content": "Q?"}, {"role": "assistant", "content": "A."}]}
    dataset.write_text(json.dumps(good) + "\n" + '{"messages": [}\n', encoding="utf-8")
    assert_error(*advqa(capsys, "export", dataset, "--format", "chat", "--out", tmp_path / "out.jsonl"),
                 f"{dataset}:2: not valid JSON")
    assert_error(*advqa(capsys, "train", "--dataset", dataset, "--out", tmp_path / "adapter"),
                 f"{dataset}:2: not valid JSON")
    assert not (tmp_path / "adapter").exists()


def test_every_user_error_shares_one_base_that_the_command_line_catches():
    from advqa import AdvqaError
    from advqa.agents import PromptError
    from advqa.baselines import BaselineError
    from advqa.campaign.checkpointers import CheckpointerError
    from advqa.cli import CampaignError
    from advqa.config import ConfigError
    from advqa.evaluation import EvaluationError
    from advqa.models import ModelError
    from advqa.report import ReportError
    from advqa.retrieval import RetrievalError
    from advqa.training import TrainingError

    errors = (PromptError, BaselineError, CampaignError, ConfigError, EvaluationError, CheckpointerError,
              ModelError, ReportError, RetrievalError, TrainingError)
    assert all(issubclass(error, AdvqaError) for error in errors)
