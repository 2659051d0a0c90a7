"""read_dataset skips a torn last line (a campaign killed mid-append) but still rejects a bad line inside."""

from __future__ import annotations

import json
import logging

import pytest

from advqa.training import TrainingError, read_dataset

ROWS = [{"messages": [{"role": "user", "content": f"Question {i}?"},
                      {"role": "assistant", "content": f"Answer {i}, caf\u00e9."}],
         "meta": {"probe_id": f"lease.md#{i:04d}"}} for i in range(3)]
WHOLE = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in ROWS)
LINE = json.dumps(ROWS[0], ensure_ascii=False).encode("utf-8")
MID_CHARACTER = LINE.index("\u00e9".encode()) + 1  # between the two bytes of é


@pytest.mark.parametrize("cut", [5, -3, MID_CHARACTER], ids=["start", "end", "mid-character"])
def test_a_torn_last_line_is_skipped_with_a_warning(tmp_path, caplog, cut):
    torn = LINE[:cut]
    path = tmp_path / "dataset.jsonl"
    path.write_bytes(WHOLE.encode("utf-8") + torn)
    with caplog.at_level(logging.WARNING, logger="advqa.training.data"):
        assert read_dataset(tmp_path) == ROWS
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert str(path) in record.getMessage() and "torn last line" in record.getMessage()
    assert "\n" not in record.getMessage()


def test_a_malformed_line_inside_the_file_is_still_an_error(tmp_path, caplog):
    lines = WHOLE.splitlines(keepends=True)
    path = tmp_path / "dataset.jsonl"
    path.write_text(lines[0] + '{"messages": [{"role": "us\n' + "".join(lines[1:]), encoding="utf-8")
    with pytest.raises(TrainingError, match="not valid JSON") as error:
        read_dataset(path)
    assert f"{path}:2:" in str(error.value) and "\n" not in str(error.value)
    assert not caplog.records


def test_a_malformed_last_line_with_its_newline_is_still_an_error(tmp_path):
    path = tmp_path / "dataset.jsonl"
    path.write_text(WHOLE + "{not json\n", encoding="utf-8")
    with pytest.raises(TrainingError, match=f"{path}:4: not valid JSON"):
        read_dataset(path)


@pytest.mark.parametrize("ending", ["\n", ""], ids=["newline", "no-newline"])
def test_a_complete_file_is_read_unchanged(tmp_path, caplog, ending):
    path = tmp_path / "dataset.jsonl"
    path.write_text(WHOLE.rstrip("\n") + ending, encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        assert read_dataset(path) == ROWS
    assert not caplog.records
