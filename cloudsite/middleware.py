"""Request middleware of our own: the load balancer's health check, and the body size limits."""
from django.conf import settings
from django.urls import resolve

from cloudsite.errors import json_error
from cloudsite.health import HEALTH_CHECK_PATH, healthz


class HealthCheckMiddleware:
    """Answers exactly ``GET|HEAD /healthz`` for the load balancer, whatever ``Host`` it sends.

    The ALB health-checks a target with ``Host: <target private IP>:<port>`` (ELB User Guide,
    "Health checks for Application Load Balancer target groups"), which ``ALLOWED_HOSTS`` rightly
    does not list: through the normal chain ``CommonMiddleware`` calls ``request.get_host()``, which
    raises ``DisallowedHost`` (400), so every target would be unhealthy. This middleware sits
    before anything that calls ``get_host()`` (the ones in front of it in ``MIDDLEWARE`` only log
    and count) and serves the health check itself; every other path, and every other method on
    this one, keeps the strict host check. The check itself builds no URL, so the host is never
    used.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path_info != HEALTH_CHECK_PATH or request.method not in ("GET", "HEAD"):
            return self.get_response(request)
        # the route, for the metrics middleware in front (get.healthz.counter / .timer)
        request.resolver_match = resolve(HEALTH_CHECK_PATH)
        return healthz(request)


def declared_length(request) -> int | None:
    """The request's ``Content-Length`` (0 when absent); None when it is not a number."""
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None


def too_large(limit: int):
    return json_error(f"Request body too large: at most {limit} bytes.", 413)


class RequestBodyLimitMiddleware:
    """413 for a body larger than its kind allows, from ``Content-Length``, before anyone reads it.

    * Not multipart (JSON, urlencoded, anything else): at most ``JSON_BODY_MAX_BYTES``. DRF parses
      JSON from the raw stream, which Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE`` does not guard.
    * Multipart: at most ``MULTIPART_BODY_MAX_BYTES``, checked once the route is known
      (``process_view``, ahead of ``CsrfViewMiddleware``, which parses the admin's forms). Django's
      ``DATA_UPLOAD_MAX_MEMORY_SIZE`` bounds only the non-file fields: without this, any form
      (the admin's included) would spool file parts of any size to disk. A view that enforces a
      limit of its own sets ``own_multipart_limit = True`` (the picture endpoint,
      ``files.uploads``), and the multipart cap leaves it to that view.

    Django never reads past ``Content-Length``, so a body that declares little cannot deliver more.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not is_multipart(request):
            length = declared_length(request)
            if length is None:
                return json_error("Content-Length is not a number.", 400)
            if length > settings.JSON_BODY_MAX_BYTES:
                return too_large(settings.JSON_BODY_MAX_BYTES)
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if not is_multipart(request) or getattr(view_class(view_func), "own_multipart_limit", False):
            return None
        length = declared_length(request)
        if length is None:
            return json_error("Content-Length is not a number.", 400)
        if length > settings.MULTIPART_BODY_MAX_BYTES:
            return too_large(settings.MULTIPART_BODY_MAX_BYTES)
        return None


def is_multipart(request) -> bool:
    return request.META.get("CONTENT_TYPE", "").lower().startswith("multipart/")


def view_class(view_func):
    """The class of a class-based view (Django's and DRF's ``as_view()`` record it), else None."""
    return getattr(view_func, "view_class", None) or getattr(view_func, "cls", None)
