PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint i18n venv clean bench screenshots

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/portal run

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n auto --maxprocesses 8 --dist loadgroup

i18n: $(STAMP)
	$(BIN)/pybabel extract -F app/babel.cfg -k _l -k lazy_gettext --no-location --no-wrap --sort-output -o app/translations/messages.pot .
	$(BIN)/pybabel update -i app/translations/messages.pot -d app/translations --no-fuzzy-matching --ignore-obsolete --no-wrap
	$(BIN)/pybabel compile -d app/translations

# The README's screenshots, from the demo in Chinese (needs chromium and fonts-noto-cjk).
screenshots: $(STAMP)
	$(BIN)/python tools/screenshots.py

bench: $(STAMP)
	$(BIN)/python bench/crypto_bench.py

clean:
	rm -rf $(VENV) build *.egg-info
