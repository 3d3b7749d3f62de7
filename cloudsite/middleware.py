"""Request middleware of our own: the load balancer's health check, and the body size limit."""
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


class RequestBodyLimitMiddleware:
    """413 for a JSON (non-multipart) body larger than ``JSON_BODY_MAX_BYTES``.

    DRF parses JSON from the raw stream, which Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE`` does not
    guard, so the limit is enforced here from ``Content-Length``. Multipart uploads have their
    own limit in the files app.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        content_type = request.META.get("CONTENT_TYPE", "")
        if not content_type.startswith("multipart/"):
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                return json_error("Content-Length is not a number.", 400)
            limit = settings.JSON_BODY_MAX_BYTES
            if length > limit:
                return json_error(f"Request body too large: at most {limit} bytes.", 413)
        return self.get_response(request)
