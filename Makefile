# Two commands on a fresh machine:  make demo  |  make test      (make upgrade: move the pins, run the suite)
# torch is installed explicitly first: an unpinned torch would pull a multi-GB CUDA build.
# Every install is constrained to constraints.txt, the versions the suite last passed with, so a new
# transformers or TRL release cannot change a fresh clone overnight; `make upgrade` moves them on purpose.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
TORCH  ?= torch==2.13.0
DATA   ?= ../shared/data
PINS   := constraints.txt

.PHONY: demo test install upgrade clean

# make TORCH=torch==X replaces the torch pin of constraints.txt (the default is the same torch==2.13.0).
$(VENV)/.installed: pyproject.toml $(PINS)
	$(PYTHON) -m venv $(VENV)
	grep -v '^torch==' $(PINS) > $(VENV)/constraints.txt
	echo '$(TORCH)' >> $(VENV)/constraints.txt
	$(PY) -m pip install -q -c $(VENV)/constraints.txt --upgrade pip
	$(PY) -m pip install -q -c $(VENV)/constraints.txt $(TORCH)
	$(PY) -m pip install -q -c $(VENV)/constraints.txt -e '.[dev]'
	touch $@

install: $(VENV)/.installed

demo: install
	$(VENV)/bin/prmkit data stats $(DATA)/processbench
	$(VENV)/bin/prmkit eval bon $(DATA)/qwen25_math_bon
	$(VENV)/bin/prmkit quickstart --out runs/demo/quickstart

test: install
	$(PY) -m pytest -q

# Newest releases the extras allow, in a throwaway venv -> constraints.txt (torch stays $(TORCH)); then the
# suite runs against them in .venv. Commit constraints.txt if it passes; `git checkout constraints.txt` if not.
upgrade:
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(PYTHON) -m venv "$$tmp/venv"; \
	"$$tmp/venv/bin/python" -m pip install -q --upgrade pip; \
	"$$tmp/venv/bin/python" -m pip install -q $(TORCH); \
	"$$tmp/venv/bin/python" -m pip install -q -e '.[dev]'; \
	{ echo "# The tested versions: make demo, make test and CI install with -c constraints.txt."; \
	  echo "# Regenerate with 'make upgrade' (newest releases the extras allow, then the whole suite)."; \
	  "$$tmp/venv/bin/python" -m pip freeze --all --exclude-editable | grep -v '^#' \
	    | grep -vi '^prmkit[= ]' | sed -E 's/^(torch==[^+]+)\+.*/\1/'; } > $(PINS).new; \
	mv $(PINS).new $(PINS)
	$(MAKE) test

clean:
	rm -rf $(VENV) .pytest_cache
