# The two commands of the README: `make demo` and `make test`. Each sets up .venv/ by itself.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast lint bench setup clean system-deps test-deps

# bubblewrap adds the sandbox's strongest layer (an empty root, no network, its own pid namespace). Installed when
# this is a Debian machine and we are root; elsewhere the sandbox runs with its other layers and says so. PostgreSQL
# (Debian's server package) likewise: the tests start one on 127.0.0.1 to keep a gradebook on it.
system-deps:
	@if ! command -v bwrap >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing bubblewrap (Debian package) for the grader's sandbox"; \
		apt-get install -y -qq bubblewrap >/dev/null 2>&1 || \
		{ apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq bubblewrap >/dev/null 2>&1; } || \
		echo "note: could not install bubblewrap; the sandbox will use its other layers"; \
	fi
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1 && \
		[ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing postgresql (Debian package): the tests start a real server for the gradebook"; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null 2>&1 || \
		{ apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null 2>&1; } || \
		echo "note: could not install postgresql; the PostgreSQL tests will say why they skip"; \
	fi

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "convkit needs Python 3.11 ($(PYTHON) not found)"; exit 1; }
	@$(MAKE) --no-print-directory system-deps
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	$(PY) -m ipykernel install --prefix $(VENV) --name python3 >/dev/null
	touch $(STAMP)

# The class report is tested in a real browser: Debian's chromium, installed once here (as root) rather than from
# inside pytest's parallel workers.
test-deps:
	@if ! command -v chromium >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing chromium (Debian package) for the report's browser test"; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1 || \
		{ apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1; } || \
		echo "note: could not install chromium; the browser test will say why it skips"; \
	fi

# Lint and types first (the same hooks as .pre-commit-config.yaml), then the suite.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

test: $(STAMP) test-deps lint
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m pytest -n 2 $(PYTEST_ARGS)

test-fast: $(STAMP)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m pytest -n 2 -m "not slow" $(PYTEST_ARGS)

demo: $(STAMP)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m autograder.demo

# One thread each, as the floors are defined. OPENBLAS_CORETYPE is unset so OpenBLAS runs the kernels it detects for
# this CPU (some machines pin an older family, e.g. Haswell on an AVX-512 CPU, which halves NumPy's float32 GEMM
# while torch's oneDNN still detects the CPU): both libraries then use the hardware as they would by default.
# ISA=avx2 runs that table with both libraries limited to AVX2, as on the other x86 family (benchmarks/README.md).
# BASELINE=<git revision> also times that revision's reference in the same rounds, row by row.
bench: $(STAMP)
	env -u OPENBLAS_CORETYPE PATH="$(CURDIR)/$(VENV)/bin:$$PATH" OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 \
		MKL_NUM_THREADS=1 $(PY) benchmarks/reference_vs_torch.py $(BENCH_ARGS) $(if $(ISA),--isa $(ISA)) \
		$(if $(BASELINE),--baseline $(BASELINE))
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" OPENBLAS_NUM_THREADS=1 $(PY) benchmarks/timings.py
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" OPENBLAS_NUM_THREADS=1 $(PY) benchmarks/grading_throughput.py $(BENCH_ARGS)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" OPENBLAS_NUM_THREADS=1 $(PY) benchmarks/grading_scale.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) course demo-course benchmarks/results .pytest_cache
