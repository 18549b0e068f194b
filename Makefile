# smartlib-edge: the README's two commands are `make demo` and `make test`.
# Both do the whole set-up first (Debian packages as root, .venv, pip install -e .[dev]).

PY      := .venv/bin/python
PYTEST  := $(PY) -m pytest
FUZZ_N  ?= 1000000

.PHONY: setup demo test check pytest fuzz bench soak screenshots fresh-check clean

setup:
	@bash scripts/setup.sh

demo: setup
	$(PY) -m smartlib.cli demo

test: setup check pytest

check: setup
	$(PY) -m ruff check .
	$(PY) -m mypy
	.venv/bin/lint-imports

# pytest exits 5 when it collected no tests; make treats any non-zero exit as failure.
pytest: setup
	$(PYTEST) -q

fuzz: setup
	$(PYTEST) -q -m fuzz --fuzz-count=$(FUZZ_N) -p no:randomly

bench: setup
	$(PY) -m smartlib.cli bench all

# The chaos soak (docs/demo.md, Soak): 1,000 SIGKILLs spread over about 55 minutes; prints
# one JSON line and fails when an action was lost or applied twice (or a tag's alarm is wrong).
SOAK_KILLS ?= 1000
SOAK_MINUTES ?= 55
soak: setup
	$(PY) -m smartlib.cli soak --kills $(SOAK_KILLS) --minutes $(SOAK_MINUTES) --run-dir var/soak

screenshots: setup
	$(PY) -m kiosk_ui.screenshots docs/screenshots

# Release check (root, 20-40 min): `make test` in a fresh debootstrapped Debian 12 without
# network access to this machine's services (docs/release.md).
fresh-check:
	bash scripts/fresh-debian-check.sh

clean:
	rm -rf .venv build *.egg-info .pytest_cache .mypy_cache .ruff_cache
