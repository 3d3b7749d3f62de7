"""403 for state-changing requests a browser sends on another site's behalf.

HTTP Basic credentials, once typed into the browser's prompt (the browsable API, the docs' "Try it
out"), are sent by the browser with every later request to this origin, including a form that a
page on another site submits to it. Django's CSRF check covers session logins only (DRF exempts
Basic-authenticated requests from it), so this middleware refuses, before any view runs, every
unsafe method (anything but GET, HEAD, OPTIONS, TRACE) that the browser itself marks as coming
from elsewhere:

* ``Sec-Fetch-Site: cross-site`` (another registrable domain): always refused.
* ``Sec-Fetch-Site: same-site`` (a sibling subdomain, or the same host on another scheme or port):
  refused unless its ``Origin`` is one of ``CSRF_TRUSTED_ORIGINS``. A sibling subdomain is another
  origin, often another application (or user content); nothing of ours runs there, so it gets no
  more trust than Django's CSRF check gives it.
* an ``Origin`` that is neither this site's own (scheme and ``Host``) nor trusted, ``null``
  included (sandboxed frames, ``file:`` pages, cross-origin redirects): refused. This covers
  browsers that predate ``Sec-Fetch-*``.

``same-origin`` and ``none`` (the user's own navigation) pass, and so does every request without
either header: curl, the SDKs and every other non-browser client send neither, and could forge
them anyway; the defence is against browsers acting for a third party, which cannot hide or forge
these headers.
"""
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.http import is_same_domain

from cloudsite.errors import json_error

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
DEFAULT_PORTS = {"http": 80, "https": 443}
REFUSED = ("Cross-site request refused: a page on another site cannot change anything here. "
           "Send the request from this site, or without a browser.")


def _origin_parts(origin: str) -> tuple[str, str, int] | None:
    """``(scheme, host, port)`` of an origin, the default port filled in; None when malformed."""
    try:
        parts = urlsplit(origin)
        port = parts.port
    except ValueError:
        return None
    if not parts.scheme or not parts.hostname:
        return None
    return parts.scheme, parts.hostname, port or DEFAULT_PORTS.get(parts.scheme, 0)


def _is_trusted(origin: str) -> bool:
    """Whether ``origin`` is listed in ``CSRF_TRUSTED_ORIGINS`` (wildcard subdomains as Django)."""
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    for trusted in settings.CSRF_TRUSTED_ORIGINS:
        if trusted == origin:
            return True
        if "*" in trusted:
            trusted_parts = urlsplit(trusted)
            if trusted_parts.scheme == parts.scheme and is_same_domain(parts.netloc, trusted_parts.netloc.lstrip("*")):
                return True
    return False


def _is_own(request, origin: str) -> bool:
    parts = _origin_parts(origin)
    return parts is not None and parts == _origin_parts(f"{request.scheme}://{request.get_host()}")


def is_foreign(request) -> bool:
    """Whether the browser says this request comes from a page that is not this site's."""
    fetch_site = request.META.get("HTTP_SEC_FETCH_SITE", "").lower()
    origin = request.META.get("HTTP_ORIGIN")
    if fetch_site == "cross-site":
        return True
    if fetch_site == "same-site":
        return origin is None or not _is_trusted(origin)
    if origin is None:
        return False
    return not (_is_own(request, origin) or _is_trusted(origin))


class CrossSiteRequestMiddleware:
    """403, in the API's error format, for an unsafe request a browser sent from another site."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method not in SAFE_METHODS and is_foreign(request):
            return json_error(REFUSED, 403)
        return self.get_response(request)
