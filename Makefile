# Two commands on a fresh machine (Python 3.10+, pip, make):
#   make demo   set up .venv, release the assignment, grade the example submissions
#   make test   set up .venv, run the whole test suite
# Both create the virtual environment on first use and reuse it afterwards; it is
# reinstalled when pyproject.toml changes.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: demo test lectures student bench install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/cnn-course demo

test: $(STAMP)
	CNN_COURSE_FAST=1 $(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

# Executed lecture notebooks and HTML, in the git-ignored _build/lectures/.
lectures: $(STAMP)
	$(BIN)/cnn-course lectures --html

# The copy to hand out: lectures, assignments and the library, no solutions; a folder
# and a zip in the git-ignored _build/student/.
student: $(STAMP)
	$(BIN)/cnn-course student-copy --out _build/student

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_conv.py

clean:
	rm -rf _build course/out course/.work course/submitted course/autograded \
	       course/feedback course/gradebook.db
