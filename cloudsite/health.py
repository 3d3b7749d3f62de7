"""``GET /healthz``: the load balancer's health check. Cheap, unauthenticated, database-aware."""
from django.db import DatabaseError, connection
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt

from cloudsite.errors import json_error

# The load balancer's target group checks this path (provisioning.layers.compute.HEALTH_CHECK_PATH);
# cloudsite.middleware.HealthCheckMiddleware serves it before the host check.
HEALTH_CHECK_PATH = "/healthz"


@csrf_exempt
def healthz(request):
    response = _check(request)
    response["Cache-Control"] = "no-cache"
    return response


def _check(request):
    if request.method not in ("GET", "HEAD"):
        return json_error(f'Method "{request.method}" not allowed.', 405, Allow="GET, HEAD")
    if request.META.get("QUERY_STRING") or _has_body(request):
        return json_error("The health check takes no query string and no body.", 400)
    try:
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        return json_error("The database does not answer.", 503)
    return HttpResponse(status=200)


def _has_body(request) -> bool:
    if request.META.get("CONTENT_LENGTH") not in (None, "", "0"):
        return True
    return "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()
