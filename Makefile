# Two entry points: `make run` (main job) and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
OUT    ?= runs
REFERENCE ?= results

.PHONY: run test test-all lint format setup clean help browser bench train-mini

help:  ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e '.[all]'
	@# their code runs on this environment; their declared pins and extras (transformers>=5, torch<2.3, ...) would break it
	$(BIN)/python -m pip install --no-deps 'pyiqa==0.1.16' 'facenet-pytorch==2.6.0'
	@touch $(STAMP)

setup: $(STAMP)  ## create .venv and install fpeval[all]

CONFIG ?= configs/quick.yaml

run: $(STAMP)  ## main job: the quick grid on FramePack-mini into runs/, then checked against results/
	$(BIN)/fpeval schedule context-length --out $(OUT)
	$(BIN)/fpeval run $(CONFIG) --out $(OUT)/$(basename $(notdir $(CONFIG)))
	@if [ -f $(REFERENCE)/$(basename $(notdir $(CONFIG)))/summary.csv ]; then \
		$(BIN)/fpeval compare $(OUT)/$(basename $(notdir $(CONFIG))) $(REFERENCE)/$(basename $(notdir $(CONFIG))); fi

browser:  ## best effort: Debian's chromium for the voting page's browser test (never fails the build)
	@if [ ! -x /usr/bin/chromium ]; then \
		(apt-get install -y chromium || (apt-get update && apt-get install -y chromium) \
		 || sudo -n apt-get install -y chromium) >/dev/null 2>&1 \
		|| echo "chromium could not be installed; the browser test will be skipped"; \
	fi

test: $(STAMP) browser  ## fast test suite (slow tests deselected)
	$(BIN)/python -m pytest -m 'not slow' -q

test-all: $(STAMP) browser  ## every test, slow ones included
	$(BIN)/python -m pytest -q

DEVICE ?= cpu

bench: $(STAMP)  ## every benchmark on DEVICE (cpu or cuda); each updates its section of BENCHMARKS.md
	$(BIN)/python benchmarks/bounded_cost.py --device $(DEVICE)
	$(BIN)/python benchmarks/batched_sampling.py --device $(DEVICE)
	$(BIN)/python benchmarks/precision_compile.py --device $(DEVICE)
	$(BIN)/python benchmarks/sampler_overhead.py --config tiny --device $(DEVICE)
	$(BIN)/python benchmarks/sampler_overhead.py --config $(if $(filter cuda%,$(DEVICE)),large,small) --device $(DEVICE)
	$(BIN)/python benchmarks/metrics_throughput.py --device $(DEVICE)
	$(BIN)/python benchmarks/ratings.py
	$(BIN)/python benchmarks/vote_store.py

STEPS ?= 4000
BATCH ?= 16
CLIPS ?= 1024
TRAIN_OUT ?= mini-v2.safetensors
TRAIN_ARGS ?=  # more `fpeval train` options, e.g. a larger denoiser: --model dim=384 --model depth=6 --model heads=6

train-mini: $(STAMP)  ## the v2 base denoiser from scratch on DEVICE, in one run with mini-v2's final recipe
	$(BIN)/fpeval train base --device $(DEVICE) --autoencoder fpeval/models/weights/mini-v2-ae.safetensors \
		--steps $(STEPS) --batch $(BATCH) --clips $(CLIPS) --save-every 500 --out $(TRAIN_OUT) \
		--model carry=true --model out_conv=true --sigma-shift 3 --sigma-distribution uniform --ema 0.999 \
		$(TRAIN_ARGS)

lint: $(STAMP)  ## ruff lint + format check
	$(BIN)/ruff check fpeval metrics tests benchmarks
	$(BIN)/ruff format --check fpeval metrics tests benchmarks

format: $(STAMP)  ## apply ruff formatting and safe fixes
	$(BIN)/ruff check --fix fpeval metrics tests benchmarks
	$(BIN)/ruff format fpeval metrics tests benchmarks

clean:  ## remove the environment and caches
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
