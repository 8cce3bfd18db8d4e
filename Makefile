# The two commands of the README: `make run` and `make test`. Both bootstrap .venv from nothing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test venv browser-deps bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/cityops run

# Debian's Chromium for the browser tests (never a browser download) and a Korean font (Nanum)
# for screenshots and PDFs. Skipped when already present or when apt is not available; the
# browser tests then skip with a message and PDFs fall back to reportlab's built-in CID font.
DEBS := chromium fonts-nanum
browser-deps:
	@if [ ! -x /usr/bin/chromium ] || [ ! -d /usr/share/fonts/truetype/nanum ]; then \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    (apt-get install -y --no-install-recommends $(DEBS) >/dev/null 2>&1 || \
	     (apt-get update >/dev/null 2>&1 && apt-get install -y --no-install-recommends $(DEBS) >/dev/null 2>&1)) \
	     || echo "make: could not install $(DEBS); browser tests will be skipped"; \
	  else echo "make: no /usr/bin/chromium and no apt; browser tests will be skipped"; fi; \
	fi

test: $(STAMP) browser-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/wall.py

clean:
	rm -rf $(VENV) var .pytest_cache
