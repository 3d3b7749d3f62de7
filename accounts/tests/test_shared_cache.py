"""The throttles live in a cache shared by every process: production refuses a per-process one,
and two gunicorn processes on the real Redis count failed sign-ins together."""
import os
import subprocess
import uuid

import pytest
from django.core.exceptions import ImproperlyConfigured

from cloudsite.checks import check_startup, unshared_cache_problem
from devkit import live

PASSWORD = "shared-harbour-42-lantern"
USERNAME = "shared@example.com"
NO_AWS = "http://127.0.0.1:9"  # nothing here talks to AWS


def production_env(tmp_path, **extra) -> dict:
    """An app process's environment as on an instance: DEBUG off, a stack named."""
    env = live.app_environment(tmp_path, NO_AWS, DJANGO_DEBUG="false", CLOUDSITE_STACK="prod")
    env.pop("CLOUDSITE_REQUIRE_SHARED_CACHE", None)
    return {**env, **extra}


@pytest.mark.parametrize("backend", [
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
    "django.core.cache.backends.filebased.FileBasedCache",
])
def test_per_process_caches_are_refused(backend):
    assert backend in unshared_cache_problem({"default": {"BACKEND": backend}})


def test_no_cache_configured_is_refused():
    assert "LocMemCache" in unshared_cache_problem({})


@pytest.mark.parametrize("backend", [
    "django.core.cache.backends.redis.RedisCache",
    "django.core.cache.backends.memcached.PyMemcacheCache",
    "django.core.cache.backends.db.DatabaseCache",
])
def test_shared_caches_are_accepted(backend):
    assert unshared_cache_problem({"default": {"BACKEND": backend}}) is None


def test_startup_refuses_only_when_a_shared_cache_is_required(settings):
    settings.REQUIRE_SHARED_CACHE = False
    check_startup()  # the tests' own local-memory cache
    settings.REQUIRE_SHARED_CACHE = True
    with pytest.raises(ImproperlyConfigured, match="CACHE_URL"):
        check_startup()


def test_startup_refuses_a_rate_drf_cannot_parse(settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK,
                               "DEFAULT_THROTTLE_RATES": {"signup": "20/fortnight", "verify": "0/hour"}}
    with pytest.raises(ImproperlyConfigured, match="signup='20/fortnight'.*verify='0/hour'"):
        check_startup()


def run(env, *args, timeout=120):
    return subprocess.run([live.PYTHON, *args], cwd=live.REPO, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_migrate_refuses_in_production_with_the_local_memory_cache(tmp_path):
    done = run(production_env(tmp_path), "manage.py", "migrate", "--noinput")
    assert done.returncode != 0
    last_line = done.stderr.strip().splitlines()[-1]
    assert last_line.startswith("django.core.exceptions.ImproperlyConfigured: CACHES['default'] is "
                                "django.core.cache.backends.locmem.LocMemCache"), done.stderr[-2000:]
    assert not (tmp_path / "db.sqlite3").exists()  # refused before touching the database


def test_gunicorn_refuses_in_production_with_the_local_memory_cache(tmp_path):
    port, log_path = live.free_port(), tmp_path / "gunicorn.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [live.PYTHON, "-m", "gunicorn", "cloudsite.wsgi:application", "--bind", f"127.0.0.1:{port}",
             "--workers", "1"], cwd=live.REPO, env=production_env(tmp_path), stdout=log, stderr=subprocess.STDOUT)
        try:
            with pytest.raises(RuntimeError, match="exited"):  # never answers /healthz
                live.wait_for_http(port, "/healthz", process)
        finally:
            live.stop(process)
    assert process.returncode != 0
    output = log_path.read_text()
    assert "ImproperlyConfigured: CACHES['default'] is django.core.cache.backends.locmem.LocMemCache" \
        in output, output[-2000:]


@pytest.mark.parametrize("extra", [{"CACHE_URL": "redis://127.0.0.1:6379/13"}, {"DJANGO_DEBUG": "true"},
                                   {"CLOUDSITE_REQUIRE_SHARED_CACHE": "false"}])
def test_check_passes_with_a_shared_cache_or_outside_production(tmp_path, extra):
    done = run({**production_env(tmp_path), **extra}, "manage.py", "check")
    assert done.returncode == 0, done.stderr[-2000:]


# --- two gunicorn processes, one Redis ----------------------------------------------------------

def redis_url() -> str:
    """The Redis for this test: skipped loudly without one, a failure in CI."""
    import redis

    url = os.environ.get("REDIS_URL", "")
    problem = "REDIS_URL is not set" if not url else None
    if url:
        try:
            redis.Redis.from_url(url, socket_connect_timeout=2).ping()
        except redis.RedisError as error:
            problem = f"Redis at {url} does not answer ({error})"
    if problem:
        if os.environ.get("CLOUDSITE_REQUIRE_SERVICES") == "1":
            pytest.fail(problem + "; CI requires the shared-cache test", pytrace=False)
        pytest.skip(problem + " (make test sets REDIS_URL)")
    return url


@pytest.fixture
def redis_cache_url():
    """A CACHE_URL on the test Redis under a key prefix of its own, its keys removed afterwards."""
    import redis

    url, prefix = redis_url(), f"cloudsite-test-{uuid.uuid4().hex}"
    yield f"{url}{'&' if '?' in url else '?'}key_prefix={prefix}"
    client = redis.Redis.from_url(url)
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)


def test_failed_sign_ins_are_counted_across_two_gunicorn_processes(tmp_path, redis_cache_url):
    env = production_env(tmp_path, CACHE_URL=redis_cache_url, CLOUDSITE_AUTH_FAILURES_PER_USERNAME="4",
                         CLOUDSITE_AUTH_FAILURES_PER_ADDRESS="1000")
    live.manage(env, "migrate", "--noinput", "-v0")
    live.create_verified_user(env, USERNAME, PASSWORD)
    wrong, right = live.basic(USERNAME, "wrong-" + PASSWORD), live.basic(USERNAME, PASSWORD)
    with live.gunicorn(env, tmp_path / "first.log") as (first, _), \
            live.gunicorn(env, tmp_path / "second.log") as (second, _):
        answers = [live.request(port, "GET", "/v1/user/self", wrong)[0]
                   for port in (first, second, first, second)]
        assert answers == [401, 401, 401, 401]  # 2 failures seen by each process, 4 in all
        assert live.request(first, "GET", "/v1/user/self", wrong)[0] == 429
        status, headers, _ = live.request(second, "GET", "/v1/user/self", right)
        assert status == 429 and int(headers["Retry-After"]) >= 1
