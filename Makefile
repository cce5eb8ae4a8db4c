# The two commands a new user needs: `make demo` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test bench native fuzz lint format clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	@$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev,bench]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/pydcap demo

test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider

bench: $(STAMP)
	@$(MAKE) --no-print-directory native || echo "make bench: the native accelerator could not be built; measured without it"
	$(BIN)/python benchmarks/startup.py
	$(BIN)/python benchmarks/verify.py
	$(BIN)/python benchmarks/fleet.py
	$(BIN)/python benchmarks/pccs.py
	$(BIN)/python benchmarks/attest.py

# The optional native accelerator (native/, Rust; built into native/target/release/): signature checks through
# ring, used only with PYDCAP_NATIVE=1.
# Debian's packaged crates (apt install librust-ring-dev) are used when installed; otherwise cargo asks crates.io.
CARGO         ?= cargo
DEBIAN_CRATES ?= /usr/share/cargo/registry
CARGO_SOURCE  := $(if $(wildcard $(DEBIAN_CRATES)/ring-0.16.*),--offline --config 'source.crates-io.replace-with="debian"' --config 'source.debian.directory="$(DEBIAN_CRATES)"')
native:
	cd native && $(CARGO) build --quiet --release $(CARGO_SOURCE)

# Each fuzz target (fuzz/targets.py) for FUZZ_SECONDS, seeded from ../shared/testdata; crashes land in fuzz/crashes/.
FUZZ_TARGETS ?= quote certificate crl tcb_info qe_identity collateral pccs_file verify admission signature
FUZZ_SECONDS ?= 60
fuzz: $(STAMP)
	@for t in $(FUZZ_TARGETS); do echo "== fuzz $$t ($(FUZZ_SECONDS) s)"; \
	  $(BIN)/python -m fuzz.run $$t -max_total_time=$(FUZZ_SECONDS) -timeout=20 -print_final_stats=1 || exit 1; done

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks fuzz
	$(BIN)/ruff format --check src tests benchmarks fuzz
	$(BIN)/mypy src

format: $(STAMP)
	$(BIN)/ruff check --fix src tests benchmarks fuzz
	$(BIN)/ruff format src tests benchmarks fuzz

clean:
	rm -rf $(VENV) build dist src/*.egg-info native/target native/Cargo.lock
