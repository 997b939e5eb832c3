# The README's commands. `make run` and `make test` work on a fresh clone with Python 3.11+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= $(or $(OPENMVNE_PORT),8000)

.PHONY: run test lint browser bench install clean

# Install the pinned dependency set (constraints.txt) and the project itself, editable.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade "pip==25.3"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/mvne db upgrade
	$(BIN)/mvne demo seed --if-empty
	@echo ""
	@echo "OpenMVNE is starting on http://127.0.0.1:$(PORT)"
	@echo "  portal   http://127.0.0.1:$(PORT)/"
	@echo "  API docs http://127.0.0.1:$(PORT)/docs   (OpenAPI: /openapi.json)"
	@echo "  log in   POST /openmvne/v1/tokens {\"username\": \"admin\", \"password\": \"openmvne-demo\"}"
	@echo "  demo users: admin, host-unicom, mvno-xinghe, care-xinghe, care-guangdong,"
	@echo "              partner-guangdong, outlet-shenzhen, subscriber-demo; password openmvne-demo"
	@echo ""
	$(BIN)/mvne serve --port $(PORT)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy src

# SQLite always; PostgreSQL too when OPENMVNE_TEST_POSTGRES_URL is set (the tests read it).
test: lint
	$(BIN)/pytest

# The portal in headless Chromium (Debian's; installed here when missing, as root).
browser: $(STAMP)
	test -x /usr/bin/chromium -a -d /usr/share/fonts/truetype/wqy || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-zenhei)
	$(BIN)/pytest tests/web -m browser

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
