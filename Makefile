# Two commands on a fresh machine:  make demo  |  make test
# torch is installed explicitly first: an unpinned torch would pull a multi-GB CUDA build.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
TORCH  ?= torch==2.13.0
DATA   ?= ../shared/data

.PHONY: demo test install clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

install: $(VENV)/.installed

demo: install
	$(VENV)/bin/prmkit data stats $(DATA)/processbench
	$(VENV)/bin/prmkit eval bon $(DATA)/qwen25_math_bon
	$(VENV)/bin/prmkit quickstart --out runs/demo/quickstart

test: install
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) .pytest_cache
