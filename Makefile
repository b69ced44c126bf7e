# The course's verbs. `make book` and `make test` create the environment first when it is missing.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SHARED_DATA := ../shared/data

# Datasets: $DLCOURSE_DATA if you set it, else .data/ (a writable copy of ../shared/data when that
# folder exists beside the checkout; otherwise torchvision downloads into it).
export DLCOURSE_DATA ?= $(CURDIR)/.data
# The source notebooks' hidden-test cells import autograder.checks from the repository.
export PYTHONPATH := $(CURDIR)
# Tools that nbgrader and Jupyter start by name (alembic, jupyter-book...) come from the venv.
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: env data test book release lab autograde lock clean

$(STAMP): requirements.lock requirements-nodeps.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11 or newer is needed")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --requirement requirements.lock
	$(BIN)/pip install --quiet --no-deps --requirement requirements-nodeps.txt
	$(BIN)/pip install --quiet --no-deps --no-build-isolation --editable .
	touch $@

env: $(STAMP)

data:
	@if [ "$(DLCOURSE_DATA)" = "$(CURDIR)/.data" ] && [ -d $(SHARED_DATA) ] && [ ! -e .data/.copied ]; then \
		echo "copying $(SHARED_DATA) to .data/"; \
		mkdir -p .data && cp -r $(SHARED_DATA)/. .data/ && chmod -R u+w .data && touch .data/.copied; \
	fi

test: env data
	$(BIN)/python -m pytest $(PYTEST_ARGS)

book: env data
	$(BIN)/python -m tools.book build

release: env
	$(BIN)/python -m autograder release $(ASSIGNMENTS)

# JupyterLab for students, started in notebooks/ where Validate finds nbgrader_config.py (short
# runs); notebooks/.jupyter turns off nbgrader's instructor tools. ARGS: options of `jupyter lab`.
lab: env data
	cd notebooks && JUPYTER_CONFIG_PATH=$(CURDIR)/notebooks/.jupyter$${JUPYTER_CONFIG_PATH:+:$$JUPYTER_CONFIG_PATH} \
		$(CURDIR)/$(BIN)/jupyter lab $(ARGS)

# make autograde ASSIGNMENT=ch10_softmax SUBMISSIONS=submitted OUT=grading [ARGS="--full --workers 2"]
# ARGS: options of `python -m autograder grade` (`.venv/bin/python -m autograder grade --help`).
autograde: env data
	@test -n "$(ASSIGNMENT)" -a -n "$(SUBMISSIONS)" -a -n "$(OUT)" || \
		{ echo "usage: make autograde ASSIGNMENT=ch10_softmax SUBMISSIONS=DIR OUT=DIR [ARGS=\"--full ...\"]"; exit 2; }
	$(BIN)/python -m autograder grade $(ASSIGNMENT) --submissions $(SUBMISSIONS) --out $(OUT) $(ARGS)

lock: env
	$(BIN)/pip install --quiet --requirement requirements.txt
	{ sed -n '1,2p' requirements.lock; \
	  $(BIN)/pip freeze --all --exclude pip --exclude d2l --exclude dlcourse; } > requirements.lock.new
	mv requirements.lock.new requirements.lock

clean:
	rm -rf _build .pytest_cache
