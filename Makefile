# Two commands do everything on a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH_VERSION ?= 2.13.0
STAMP := $(VENV)/.initlab-installed

.PHONY: demo test lint bench setup clean docs

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first, pinned, so pip never resolves a newer (CUDA) build for the project
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install --quiet torch==$(TORCH_VERSION)
	$(BIN)/python -m pip install --quiet -e ".[test,docs]"
	touch $(STAMP)

setup: $(STAMP)

# Fashion-MNIST missing: as root with apt, install Debian's package; `initlab demo` says how
# to get it otherwise (and exits 2).
demo: $(STAMP)
	@if ! $(BIN)/initlab data fashion-mnist --json | grep -q '"found": true' \
	    && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "Fashion-MNIST not found: apt-get install -y dataset-fashion-mnist"; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends dataset-fashion-mnist \
	  || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y \
	       --no-install-recommends dataset-fashion-mnist; } || true; \
	fi
	$(BIN)/initlab demo

test: $(STAMP)
	$(BIN)/ruff check initlab tests benchmarks
	$(BIN)/mypy
	$(BIN)/mkdocs build --strict --site-dir .site
	$(BIN)/python -m pytest -n 2 --dist loadfile -q

bench: $(STAMP)
	$(BIN)/python -c "import lsuv" 2>/dev/null || $(BIN)/python -m pip install --quiet --no-deps lsuv
	for f in benchmarks/*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

# the API reference pages from the public __all__s, then the site (.site/)
docs: $(STAMP)
	$(BIN)/python docs/gen_api.py
	$(BIN)/mkdocs build --strict --site-dir .site

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .site
