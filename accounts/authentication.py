"""HTTP Basic authentication with the credential cache and the failure throttle."""
from django.contrib.auth.hashers import make_password
from rest_framework import exceptions
from rest_framework.authentication import BasicAuthentication
from rest_framework.throttling import BaseThrottle

from accounts import auth_throttle, credential_cache
from accounts.models import User, username_key
from cloudsite.db_router import use_primary


class CachedBasicAuthentication(BasicAuthentication):
    www_authenticate_realm = "cloudsite"

    def authenticate_credentials(self, userid, password, request=None):
        # A replica may lag behind a password change: authentication reads the primary.
        with use_primary():
            user = credential_cache.lookup(userid, password)
            if user is not None:
                return user, None
            address = BaseThrottle().get_ident(request) if request is not None else ""
            wait = auth_throttle.retry_after(userid, address)
            if wait is not None:
                raise exceptions.Throttled(
                    wait=wait, detail="Too many failed sign-in attempts; try again later."
                )
            user = _check_password(userid, password)
            if user is None:
                auth_throttle.record_failure(userid, address)
                raise exceptions.AuthenticationFailed("Invalid username or password.")
            credential_cache.remember(userid, password, user)
            return user, None


def _check_password(username: str, password: str) -> User | None:
    user = User.objects.using("default").filter(username_key=username_key(username)).first()
    if user is None:
        make_password(password)  # same cost as a real check: no user enumeration by timing
        return None
    if user.check_password(password) and user.is_active:
        return user
    return None
