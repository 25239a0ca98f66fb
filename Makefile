# The course's two commands:
#   make book   install (if needed) and build the executed book: English into _build/html, 中文 into _build/html-zh
#   make test   install (if needed), then lint, the numbers and translation checks, unit tests, every notebook, a strict check
#               of both editions, and both opened in headless Chromium (skipped, with the reason, where Chromium
#               is missing)
SHELL := /bin/bash
.ONESHELL:
.SHELLFLAGS := -eu -o pipefail -c

PYTHON ?= python3
# Use the active virtual environment if there is one, else make .venv.
VENV := $(if $(VIRTUAL_ENV),$(VIRTUAL_ENV),.venv)
BIN := $(VENV)/bin
# Reinstall whenever the pins or the package metadata change.
STAMP := $(VENV)/.xlm-course-$(shell cat constraints.txt pyproject.toml | sha1sum | cut -c1-12)
NOTEBOOKS := $(wildcard chapters/*/*.ipynb) $(wildcard exercises/solutions/*.ipynb)
OFFLINE := HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1
export PATH := $(abspath $(BIN)):$(PATH)

# Two course processes share the 2 cores of a CI machine: each takes one thread (runtime.set_threads) and lets
# idle OpenMP threads sleep (xlm_course/__init__.py), so the pair does more work than one process alone.
JOBS ?= 2
PARALLEL := XLM_COURSE_CONCURRENCY=$(JOBS) OMP_WAIT_POLICY=PASSIVE
GPU_NOTEBOOKS := chapters/03_joint_pretraining/02_joint_pretraining.ipynb \
	chapters/03_joint_pretraining/04_finetuning_transfer.ipynb chapters/08_deployment/01_peft.ipynb

.PHONY: book book-en book-zh test test-gpu install vendor lab lab-kernel warm-cache lint unit notebooks claims check-numbers test-profiles notebooks-fp32 hub-notebooks gettext check-translations check-book browser browser-deps student-book pins colab-pin clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python constraints.txt pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first, so that the pins below find it installed. PyPI serves a multi-GB CUDA build on Linux; the CPU
	# build: make ... TORCH_INDEX=https://download.pytorch.org/whl/cpu (book/setup.md)
	$(BIN)/python -m pip install --quiet torch==2.13.0 $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[book,dev,grade]"
	rm -f $(VENV)/.xlm-course-*
	touch $@

install: $(STAMP)

# MathJax and mermaid, served by the book itself so that formulas and diagrams render offline (package.json pins
# them; tools/vendor_js.py copies what a page loads into _build/static/vendor, which _config.yml points at).
VENDOR := _build/static/vendor/.installed-$(shell cat package-lock.json | sha1sum | cut -c1-12)
$(VENDOR): package.json package-lock.json tools/vendor_js.py
	@command -v npm >/dev/null || { echo "make vendor: npm is missing. The book serves MathJax and mermaid itself \
	and installs them from the npm registry: install Node.js 18 or newer with npm (Debian: apt install npm)"; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	rm -rf _build/static/vendor
	$(BIN)/python tools/vendor_js.py
	touch $@

vendor: $(VENDOR)

# Both editions: English into _build/html, Chinese into _build/html-zh. Each page's header links to the same page
# in the other edition. The Chinese build reads the same executed notebooks from the shared execution cache
# (_build/.jupyter_cache), so nothing runs twice; `make book-en` or `make book-zh` builds one edition.
book: book-en
	$(MAKE) --no-print-directory book-zh  # after the English build, even under make -j: it reads the cache
	@echo
	@echo "The book is built. Open: file://$(abspath _build/html/index.html)"
	@echo "中文版: file://$(abspath _build/html-zh/index.html)"

book-en: install vendor warm-cache
	$(BIN)/jupyter-book build . --builder html

book-zh: install vendor warm-cache
	$(BIN)/python tools/i18n.py config zh _build/zh
	$(BIN)/jupyter-book build . --config _build/zh/_config.yml --path-output _build/zh --builder html
	ln -sfn zh/_build/html _build/html-zh

test: install
	$(MAKE) --no-print-directory lint check-numbers check-translations unit notebooks claims hub-notebooks check-book browser

lint:
	$(BIN)/ruff check .

unit:
	$(OFFLINE) $(PARALLEL) $(BIN)/python -m pytest -n $(JOBS) tests/

# JupyterLab in the course's environment, with a kernel named after the course ("Python (xlm-course)"), which
# also shows in a JupyterLab started elsewhere. KERNEL_PREFIX=~/.local installs it for the user instead.
KERNEL_PREFIX ?= $(VENV)
lab-kernel: | $(BIN)/python
	$(BIN)/python -m ipykernel install --prefix $(KERNEL_PREFIX) --name xlm-course --display-name "Python (xlm-course)"

lab: install lab-kernel
	$(BIN)/jupyter lab --notebook-dir=. $(LAB_ARGS)

# The two encoders most notebooks share are pretrained first, side by side, one core each; a notebook would
# otherwise hold the other worker waiting on the cache's lock. Then two notebooks at a time, each whole on one
# worker (--dist loadfile keeps its cells in order).
warm-cache: install
	mkdir -p _build
	$(OFFLINE) $(PARALLEL) $(BIN)/xlm-course pretrain > _build/pretrain-chapter3.log 2>&1 & chapter3=$$!
	$(OFFLINE) $(PARALLEL) $(BIN)/xlm-course pretrain --pair-sources ui emoji > _build/pretrain-applications.log 2>&1 &
	applications=$$!
	wait $$chapter3 || { tail -n 30 _build/pretrain-chapter3.log; exit 1; }
	wait $$applications || { tail -n 30 _build/pretrain-applications.log; exit 1; }
	@echo "the shared pretrained encoders are in the cache"

# Every notebook records its claims (xlm_course.claims) in _build/claims; `make claims` prints them.
CLAIMS := $(abspath _build/claims)
notebooks: warm-cache
	rm -rf $(CLAIMS)
	$(OFFLINE) $(PARALLEL) XLM_COURSE_CLAIMS=$(CLAIMS) $(BIN)/python -m pytest -p no:cacheprovider -n $(JOBS) --dist loadfile --durations=0 \
		--nbval-lax --nbval-current-env $(NOTEBOOKS)

# Every numeral in the prose of the book's pages is glued, in math, code, a role or a link, or listed with its reason
# in book/numbers_allowlist.yml (tools/typed_numbers.py names file, cell and sentence of each one that is not).
check-numbers:
	$(BIN)/python tools/typed_numbers.py

# The same notebooks in fp32 whatever the hardware (a CPU without bf16 units chooses it anyway): every claim must
# hold in both precisions. The records go to _build/claims-fp32, which `make claims` then reads beside the default.
notebooks-fp32: warm-cache
	rm -rf $(CLAIMS)-fp32
	$(OFFLINE) $(PARALLEL) XLM_COURSE_PRECISION=fp32 XLM_COURSE_CLAIMS=$(CLAIMS)-fp32 $(BIN)/python -m pytest \
		-p no:cacheprovider -n $(JOBS) --dist loadfile --durations=0 --nbval-lax --nbval-current-env $(NOTEBOOKS)

# Every claim of the book with its value, threshold, margin and the sentence that glues it, thinnest first (after
# `make notebooks`); with the records of `make notebooks-fp32` as well, each claim's thinnest margin over both runs.
claims:
	$(BIN)/xlm-course claims --folder $(CLAIMS) $(if $(wildcard $(CLAIMS)-fp32/*.json),--folder $(CLAIMS)-fp32) \
		| tee _build/claims.md

# Every notebook under the two other profiles (not part of `make test`: it runs the book twice more). `hub` loads
# xlm-roberta-base and e5-small through from_pretrained from a Hugging Face cache of local stand-ins (see
# hub-notebooks); `colab` needs CUDA, and says so and succeeds where there is none.
test-profiles: warm-cache
	$(OFFLINE) $(BIN)/xlm-course hub-stand-ins _build/hub-cache
	$(OFFLINE) $(PARALLEL) XLM_COURSE_PROFILE=hub HF_HUB_CACHE=$(abspath _build/hub-cache) \
		XLM_COURSE_CLAIMS=$(CLAIMS)-hub $(BIN)/python -m pytest -p no:cacheprovider -n $(JOBS) --dist loadfile \
		--durations=0 --nbval-lax --nbval-current-env $(NOTEBOOKS)
	if $(BIN)/python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
		$(OFFLINE) XLM_COURSE_PROFILE=colab XLM_COURSE_CLAIMS=$(CLAIMS)-colab $(BIN)/python -m pytest \
			-p no:cacheprovider --durations=0 --nbval-lax --nbval-current-env $(NOTEBOOKS)
	else
		echo "test-profiles: torch.cuda.is_available() is False here, so the colab profile was not run"
	fi

# The hub profile's code path, offline: two notebooks under XLM_COURSE_PROFILE=hub, where from_pretrained loads
# xlm-roberta-base and intfloat/multilingual-e5-small from a Hugging Face cache holding local stand-ins (the
# course's applications encoder and the rebuilt e5-small; `xlm-course hub-stand-ins`). 5.1 prints the profile;
# 6.5 ranks with "xlm-roberta-base" and e5-small side by side.
HUB_NOTEBOOKS := chapters/05_practice/01_environment.ipynb chapters/06_applications/05_recommendation.ipynb
hub-notebooks: warm-cache
	$(OFFLINE) $(BIN)/xlm-course hub-stand-ins _build/hub-cache
	$(OFFLINE) $(PARALLEL) XLM_COURSE_PROFILE=hub HF_HUB_CACHE=$(abspath _build/hub-cache) $(BIN)/python -m pytest \
		-p no:cacheprovider -n $(JOBS) --dist loadfile --durations=0 --nbval-lax --nbval-current-env $(HUB_NOTEBOOKS)

# On a machine with CUDA: the unit tests, then chapters 3.2, 3.4 and 8.1 under the colab profile on the GPU,
# each notebook timed. Elsewhere it says there is no GPU and succeeds.
test-gpu: install
	@if ! $(BIN)/python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then \
		echo "test-gpu: torch.cuda.is_available() is False on this machine; nothing to run"; exit 0; fi
	$(BIN)/python -c "from xlm_course.runtime import banner; print(banner())"
	$(OFFLINE) $(BIN)/python -m pytest -q tests/
	$(OFFLINE) XLM_COURSE_PROFILE=colab $(BIN)/python -m pytest -p no:cacheprovider --durations=0 \
		--nbval-lax --nbval-current-env $(GPU_NOTEBOOKS)

# The Chinese edition's text: Sphinx's gettext builder extracts every page's and markdown cell's English (never
# code) and sphinx-intl merges it into locales/zh_CN/LC_MESSAGES/<page>.po: new text comes in untranslated,
# changed text fuzzy. Translate each empty or fuzzy msgstr (and drop the fuzzy flag); check-translations, part of
# `make test`, fails until none is left.
gettext: install
	$(BIN)/python tools/i18n.py extract

check-translations: install
	$(BIN)/python tools/i18n.py check

# Both editions built strictly without executing anything: any warning or broken reference fails it. Nothing
# runs, so no glued value exists: those warnings alone are silenced (tests/test_claims.py checks every glue
# reference names a claim its notebook states). The Chinese build is linked beside the English one, as in
# `make book`, so that the browser test follows the language switch.
check-book: vendor
	$(BIN)/python tools/i18n.py config en _build/check --check
	$(BIN)/jupyter-book build . --config _build/check/_config.yml --path-output _build/check -W -n --keep-going
	$(BIN)/python tools/i18n.py config zh _build/check-zh --check
	$(BIN)/jupyter-book build . --config _build/check-zh/_config.yml --path-output _build/check-zh -W -n --keep-going
	ln -sfn ../../check-zh/_build/html _build/check/_build/html-zh

# For a class: the student exercise notebooks, and the book with every sphinx-exercise solution hidden.
student-book: install vendor warm-cache
	$(BIN)/xlm-course student
	$(BIN)/python tools/i18n.py config en _build/student --hide-solutions
	$(BIN)/jupyter-book build . --config _build/student/_config.yml --path-output _build/student

# The pages of the check build, opened in headless Chromium (tests_browser/); a screenshot lands in _build/screenshots.
# Without Chromium the test module skips itself and pytest exits 5 (nothing collected): that is the documented skip.
browser:
	$(OFFLINE) $(BIN)/python -m pytest -rs tests_browser/ || test $$? -eq 5

# Debian's Chromium and a CJK font for `make browser` (needs root or sudo; .ci/run calls it).
browser-deps:
	@if command -v chromium >/dev/null && fc-list | grep -qi "Noto Sans CJK"; then echo "Chromium and a CJK font are installed"; \
	else SUDO=$$([ "$$(id -u)" -eq 0 ] || echo sudo); $$SUDO apt-get update -qq && \
	$$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-noto-cjk; fi

pins:
	$(BIN)/python tools/pins.py

# Pin every notebook's Colab install to the tag of pyproject.toml's version (a release: book/instructors.md), then
# regenerate the student notebooks from the solutions.
colab-pin: install
	$(BIN)/python tools/colab_pin.py
	$(BIN)/xlm-course student --solutions exercises/solutions --output exercises/student

clean:
	rm -rf _build .pytest_cache .ruff_cache
