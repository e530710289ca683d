# Two commands on a fresh machine (Python 3.10+, pip, make):
#   make demo   set up .venv, release the assignment, grade the example submissions
#   make test   set up .venv, run the whole test suite
# Also: make site (the course website in _build/site/), make lab (JupyterLab with the
# course's commands on PATH), make lectures, make student.
# Both create the virtual environment on first use and reuse it afterwards; it is
# reinstalled when pyproject.toml changes.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: demo test lectures site lab student bench install git-filter clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e ".[test,site,dev,cluster]"
	touch $(STAMP)

install: $(STAMP) git-filter

# Committed notebooks stay clean: git runs nbstripout on every .ipynb it stages
# (.gitattributes names the filter), so outputs, execution counts and what JupyterLab
# adds on saving never reach a commit. Cell ids are kept: the assignments' are stable
# generated ids. A clean notebook passes through byte for byte.
NBSTRIPOUT_ARGS := --keep-id --extra-keys "metadata.language_info.codemirror_mode \
  metadata.language_info.file_extension metadata.language_info.mimetype \
  metadata.language_info.nbconvert_exporter metadata.language_info.pygments_lexer \
  metadata.language_info.version"
NBSTRIPOUT := $(abspath $(BIN))/nbstripout $(NBSTRIPOUT_ARGS)

git-filter: $(STAMP)
	@if git rev-parse --git-dir >/dev/null 2>&1; then \
	  git config filter.nbstripout.clean '$(NBSTRIPOUT)' && \
	  git config filter.nbstripout.smudge cat && \
	  git config filter.nbstripout.required true && \
	  git config diff.ipynb.textconv '$(NBSTRIPOUT) -t' && \
	  echo "git filter: nbstripout on every staged notebook (.gitattributes)"; \
	fi

demo: $(STAMP)
	$(BIN)/cnn-course demo

test: $(STAMP)
	CNN_COURSE_FAST=1 $(BIN)/python -m pytest -n 2 --dist loadfile $(PYTEST_ARGS)

# Executed lecture notebooks and HTML, in the git-ignored _build/lectures/.
lectures: $(STAMP)
	$(BIN)/cnn-course lectures --html

# The course website (Sphinx, myst-nb, the book theme) in the git-ignored _build/site/:
# lectures executed through jupyter-cache (unchanged ones are not run again),
# assignments, library reference. Open _build/site/index.html.
site: $(STAMP)
	$(BIN)/cnn-course site --jobs 2

# JupyterLab on this checkout, with .venv/bin on the PATH of its terminals. It runs
# in course/, where nbgrader finds nbgrader_config.py: the formgrader (Nbgrader menu)
# shows the gradebook there; started elsewhere it shows an empty table.
lab: $(STAMP)
	cd course && $(abspath $(BIN))/cnn-course lab --ServerApp.root_dir=$(CURDIR)

# The copy to hand out: lectures, assignments and the library, no solutions; a folder
# and a zip in the git-ignored _build/student/.
student: $(STAMP)
	$(BIN)/cnn-course student-copy --out _build/student

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_conv.py

clean:
	rm -rf _build course/out course/.work course/submitted course/autograded \
	       course/feedback course/gradebook.db
