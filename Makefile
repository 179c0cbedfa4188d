# The two commands of the README:
#   make up     fresh machine -> running stack that answers a call (development keys)
#   make test   the whole test suite (what .ci/run runs)
PY := .venv/bin/python
STAMP := .venv/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

.PHONY: install up test lint

install: $(STAMP)
	$(PY) start.py install

# The virtualenv is rebuilt only when pyproject.toml changes (the stamp holds its hash).
$(STAMP): pyproject.toml
	python3 -m venv .venv
	.venv/bin/pip install --quiet --upgrade pip
	.venv/bin/pip install --quiet --editable '.[dev]'
	rm -f .venv/.installed-* && touch $(STAMP)

up: install
	$(PY) start.py up --dev

test: install
	$(PY) start.py install --test-tools
	$(PY) -m pytest

lint: $(STAMP)
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
