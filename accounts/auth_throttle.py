"""Throttling of failed sign-in attempts (HTTP Basic and the admin's login form).

Fixed windows in the shared cache: after too many failures in the current window, attempts that
would need a password check get 429 until the window ends. The right password is never locked out
for longer than one window, and credentials already proven (in the credential cache) still work.

Three counters: a username from one client address (the tight one: ten guesses from an attacker
stop that attacker), a client address across usernames (password spraying), and a username across
every address (a looser ceiling for attacks spread over many addresses). Keying the tight counter
by address too is what keeps an attacker elsewhere from locking the real owner out.
"""
import hashlib
import time

from django.conf import settings
from django.core.cache import cache

from accounts.models import username_key


def _scopes(username: str, address: str):
    digest = hashlib.sha256(username_key(username).encode("utf-8", "surrogatepass")).hexdigest()
    yield f"ua:{digest}:{address}", settings.AUTH_FAILURES_PER_USERNAME
    yield f"a:{address}", settings.AUTH_FAILURES_PER_ADDRESS
    yield f"u:{digest}", settings.AUTH_FAILURES_PER_USERNAME_ANY_ADDRESS


def _window():
    size = max(1, settings.AUTH_FAILURE_WINDOW)
    now = time.time()
    return int(now // size), size, size - int(now % size)


def retry_after(username: str, address: str) -> int | None:
    """Seconds until attempts are allowed again, or None when they are allowed now."""
    index, _size, remaining = _window()
    keys = {f"authfail:{scope}:{index}": limit for scope, limit in _scopes(username, address)}
    counts = cache.get_many(list(keys))
    if any(counts.get(key, 0) >= limit for key, limit in keys.items()):
        return max(1, remaining)
    return None


def record_failure(username: str, address: str) -> None:
    index, size, _remaining = _window()
    for scope, _limit in _scopes(username, address):
        key = f"authfail:{scope}:{index}"
        cache.add(key, 0, timeout=size + 1)
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr: start again
            cache.set(key, 1, timeout=size + 1)
