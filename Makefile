# Two commands on a fresh machine with Python 3.11:
#   make demo   - the main job: `yingshe compare` on the bundled data (yingshe eager, graph and
#                 compiled beside real PyTorch and TensorFlow), report in runs/demo/
#   make test   - the whole test suite (installs PyTorch and TensorFlow for the parity tests)
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip

.PHONY: demo test corpus install install-core clean fuzz

$(VENV)/.core: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e ".[datasets,plot,progress]"
	touch $@

# torch==2.13.0 is installed explicitly first: it is a CPU build on this machine's disk,
# and any looser requirement would download a multi-GB CUDA build.
$(VENV)/.full: $(VENV)/.core
	$(PIP) install -q "torch==2.13.0"
	$(PIP) install -q -e ".[dev,compare,datasets,plot,progress,jit,distributed,onnx,vision]"
	# torchvision is a reference for yingshe.torchvision's parity tests only; --no-deps
	# keeps pip from replacing the CPU torch above with a CUDA build
	$(PIP) install -q --no-deps "torchvision==0.28.0"
	touch $@

install-core: $(VENV)/.core
install: $(VENV)/.full

demo: $(VENV)/.full
	$(PY) -m yingshe compare --out runs/demo

# PyTorch and TensorFlow slow each other down ~25x in one process: the tests that import
# TensorFlow live in tests/tf and run in a pytest process of their own. Both stages always
# run; .ci/test-stages prints both results and fails at the end if either failed.
test: $(VENV)/.full
	PY=$(PY) ./.ci/test-stages

# Every program of examples/corpus on the real libraries and on yingshe (about an hour on
# a busy 2-core machine); writes examples/corpus/results.json and its README table.
corpus: $(VENV)/.full
	$(PY) examples/corpus/run.py
	$(PY) examples/corpus/run.py --table

# The differential fuzz suite (tests/fuzz) with a long budget: FUZZ_EXAMPLES draws per
# property, every draw run and counted; prints counts by outcome and draws per op category,
# and fails on any silent wrong value, raw error or refusal PyTorch does not make.
FUZZ_EXAMPLES ?= 500
FUZZ_SEED ?= 0
fuzz: $(VENV)/.full
	YINGSHE_REQUIRE_REFERENCE=1 YINGSHE_FUZZ_SURVEY=1 YINGSHE_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) \
	  $(PY) -m pytest tests/fuzz/test_vs_torch.py tests/fuzz/test_compiled.py -q \
	  -p no:cacheprovider --hypothesis-seed=$(FUZZ_SEED)

clean:
	rm -rf $(VENV) build *.egg-info
