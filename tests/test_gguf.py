"""`gguf:` specs on llama.cpp (the optional `llamacpp` extra); the model test skips without it."""

from __future__ import annotations

import importlib.util
import sys
import threading

import pytest

from advqa.agents import CallContext, ListTracer, invoke_model
from advqa.models import ModelError, find_gguf, gguf_path, llamacpp_chat, load_chat_model, validate_spec

has_llama_cpp = importlib.util.find_spec("llama_cpp") is not None


def test_gguf_specs_name_a_file_or_the_bundled_one(tmp_path):
    assert gguf_path("bundled") == find_gguf() == gguf_path("bundled:smollm2-135m")
    with pytest.raises(ModelError, match="unknown bundled model 'gguf:bundled:nope'"):
        validate_spec("gguf:bundled:nope")
    with pytest.raises(ModelError, match="needs a name after the colon"):
        validate_spec("gguf:")
    with pytest.raises(ModelError, match="GGUF file not found: .*missing.gguf"):
        load_chat_model(f"gguf:{tmp_path / 'missing.gguf'}")


def test_without_llama_cpp_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # makes `import llama_cpp` fail
    monkeypatch.setattr(llamacpp_chat, "_loaded", {})
    with pytest.raises(ModelError) as caught:
        load_chat_model("gguf:bundled")
    assert str(caught.value) == "gguf: models need llama-cpp-python: pip install 'advqa[llamacpp]'"


@pytest.mark.integration
@pytest.mark.skipif(not has_llama_cpp, reason="llama-cpp-python is not installed (extra `llamacpp`)")
def test_bundled_gguf_on_llama_cpp():
    model = load_chat_model("gguf:bundled", max_new_tokens=16)
    tracer = ListTracer()
    result = invoke_model("student", model, "Name a colour.", CallContext(tracer=tracer))
    assert result.text.strip() and 0 < result.output_tokens <= 16 and result.input_tokens > 5
    (event,) = tracer.events
    assert event["model"] == "gguf:bundled" and not event["tokens_estimated"]
    # Greedy by default, and the shared llama.cpp model takes concurrent callers in turn.
    replies = [None] * 4

    def ask(i):
        replies[i] = model.invoke("Name a colour.").content

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert replies == [result.text] * 4
    assert load_chat_model("gguf:bundled").loaded is model.loaded  # loaded once per process
