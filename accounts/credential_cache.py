"""The verified-credential cache for HTTP Basic.

A full Argon2 check costs ~100 ms of CPU, so a server that hashed on every request would answer
fewer than ten authenticated requests a second per core. After one successful check the pair
(username, password) is remembered under an HMAC of both (the server secret is the key, so the
cache holds nothing that reveals or verifies a password offline). The entry holds the user id and
a fingerprint of the stored password hash: when the password changes on any instance, the
fingerprint no longer matches the row loaded from the primary and the entry is dropped.
"""
import hashlib
import hmac

from django.conf import settings
from django.core.cache import cache
from django.utils.crypto import constant_time_compare

from accounts.models import User, username_key


def _hmac(*parts: str) -> str:
    message = "\0".join(parts).encode("utf-8", "surrogatepass")
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()


def _key(username: str, password: str) -> str:
    return "authcache:" + _hmac("credentials", username_key(username), password)


def fingerprint(user: User) -> str:
    return _hmac("password-hash", user.password)


def lookup(username: str, password: str) -> User | None:
    """The user these credentials proved to be within the TTL, if the password is unchanged."""
    if settings.AUTH_CACHE_TTL <= 0:
        return None
    key = _key(username, password)
    entry = cache.get(key)
    if entry is None:
        return None
    user_id, expected = entry
    user = User.objects.using("default").filter(pk=user_id, is_active=True).first()
    if user is not None and constant_time_compare(fingerprint(user), expected):
        return user
    cache.delete(key)
    return None


def remember(username: str, password: str, user: User) -> None:
    if settings.AUTH_CACHE_TTL > 0:
        cache.set(_key(username, password), (str(user.pk), fingerprint(user)), settings.AUTH_CACHE_TTL)
