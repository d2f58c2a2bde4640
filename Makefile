# The two commands of the README. Both create or reuse .venv in the repository.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
CORPUS ?= ../shared/data/prompts
INTEL ?= ../shared/data/intel
RUN ?= runs/dev
TORCH ?= 2.13.0

.PHONY: demo test venv litellm bench clean console-assets console

$(BIN)/distillguard: pyproject.toml
	@command -v $(PY) >/dev/null 2>&1 || { echo "need $(PY) on PATH (or make PY=python3)"; exit 1; }
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# the CPU build of torch first, so that the baselines extra does not pull a GPU build
	$(BIN)/python -m pip install -q "torch==$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[dev,baselines]"
	touch $@

venv: $(BIN)/distillguard

# the LiteLLM proxy, for the guardrail's test: a venv of its own, as its proxy extra pins polars<2 and rich<14
LITELLM_VENV := .venv-litellm
$(LITELLM_VENV)/bin/litellm: pyproject.toml
	test -x $(LITELLM_VENV)/bin/python || $(PY) -m venv $(LITELLM_VENV)
	$(LITELLM_VENV)/bin/python -m pip install -q --upgrade pip
	$(LITELLM_VENV)/bin/python -m pip install -q -e ".[litellm]"
	touch $@

litellm: $(LITELLM_VENV)/bin/litellm

demo: venv
	rm -rf $(RUN) && mkdir -p $(RUN)  # the embedding cache of the baselines stays in runs/embeddings-cache
	$(BIN)/distillguard simulate --scenario dev --corpus $(CORPUS) --intel $(INTEL) --out $(RUN)/traffic
	$(BIN)/distillguard analyze $(RUN)/traffic/exchanges.jsonl --accounts $(RUN)/traffic/accounts.jsonl \
		--intel $(INTEL) --db $(RUN)/distillguard.duckdb --out $(RUN)/analysis
	$(BIN)/distillguard eval --predictions $(RUN)/analysis --labels $(RUN)/traffic/labels.jsonl \
		--baselines --logs $(RUN)/traffic/exchanges.jsonl --cache-dir runs/embeddings-cache

test: venv litellm
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/python -m pytest -n 2 -q

bench: venv
	$(BIN)/python bench/bench_pipeline.py

# the analysts' console over the demo's store; the first start creates the first admin from
# DISTILLGUARD_CONSOLE_ADMIN and DISTILLGUARD_CONSOLE_ADMIN_PASSWORD, or asks for it
console: venv
	$(BIN)/distillguard console --db $(RUN)/distillguard.duckdb

# the console's JavaScript, from npm (assets/package-lock.json), shipped in the package: never a CDN
ASSETS := src/distillguard/console/assets
VENDOR := src/distillguard/console/static/vendor
console-assets:
	cd $(ASSETS) && npm ci --no-audit --no-fund
	mkdir -p $(VENDOR)
	cp $(ASSETS)/node_modules/htmx.org/dist/htmx.min.js $(ASSETS)/node_modules/cytoscape/dist/cytoscape.min.js \
		$(ASSETS)/node_modules/uplot/dist/uPlot.iife.min.js $(ASSETS)/node_modules/uplot/dist/uPlot.min.css $(VENDOR)/

clean:
	rm -rf runs .pytest_cache
