"""Start-up refusals: configurations that must stop a production process before it serves.

gunicorn runs no Django system checks (only ``manage.py`` does), so these raise
``ImproperlyConfigured`` from ``CloudsiteConfig.ready()``: gunicorn, the Celery worker and every
``manage.py`` command (``migrate`` included) refuse to start, with one line saying why.
"""
from django.conf import settings
from django.core.cache.backends.dummy import DummyCache
from django.core.cache.backends.filebased import FileBasedCache
from django.core.cache.backends.locmem import LocMemCache
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

# Caches whose entries other gunicorn workers (or other instances) never see: the failed sign-in
# throttle, the credential cache and the rate limits would be multiplied by their number.
UNSHARED_CACHES = (LocMemCache, DummyCache, FileBasedCache)


def unshared_cache_problem(caches: dict) -> str | None:
    """Why ``caches["default"]`` is not shared between processes, or None when it is."""
    backend = caches.get("default", {}).get("BACKEND", "django.core.cache.backends.locmem.LocMemCache")
    if issubclass(import_string(backend), UNSHARED_CACHES):
        return (f"CACHES['default'] is {backend}, private to each process or instance: set CACHE_URL "
                "to the shared cache (rediss://...) for the sign-in throttles and rate limits")
    return None


def check_startup() -> None:
    """Raise ImproperlyConfigured for the first configuration this process must not run with."""
    from accounts.throttles import rate_problems

    problems = rate_problems()
    if settings.REQUIRE_SHARED_CACHE:
        problems.append(unshared_cache_problem(settings.CACHES))
    problems = [problem for problem in problems if problem]
    if problems:
        raise ImproperlyConfigured("; ".join(problems))
