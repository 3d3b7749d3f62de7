"""Structured request logging: a request id, the request's context on every log line, and one
access line per request.

The request id is taken from the load balancer's ``X-Amzn-Trace-Id`` when it looks like one,
generated otherwise, and returned as ``X-Request-Id``. Only the path is logged, never the query
string (verification links carry tokens there), headers or bodies.

Whatever else writes a log line (Django's ``django.request``/``django.security`` records carry the
request, whose repr has the full path; runserver's ``django.server`` the request line; a presigned
S3 URL in an error), every line the JSON formatter writes, and every line of gunicorn's own logs
(``gunicorn.conf.py``), has its URLs' query strings replaced by ``?<redacted>``.
"""
import contextvars
import logging
import re
import time
import uuid

from pythonjsonlogger.json import JsonFormatter

access_logger = logging.getLogger("cloudsite.request")
_context = contextvars.ContextVar("cloudsite_request_context", default={})
_TRACE_ID = re.compile(r"^[A-Za-z0-9=;:.\-]{1,200}$")
REQUEST_ID_HEADER = "X-Request-Id"
# A URL's query string (``?name=value...``) where a path or host ends: it carries the verification
# token, a presigned URL's signature. Stops at what ends a URL in a log line (space, quotes, <>, \).
_QUERY_STRING = re.compile(r"(?<=[\w/.%~-])\?[^\s\"'<>\\]*=[^\s\"'<>\\]*")
REDACTED_QUERY = "?<redacted>"


def redact_query_strings(text: str) -> str:
    return _QUERY_STRING.sub(REDACTED_QUERY, text)


class QueryStringFilter(logging.Filter):
    """Redacts query strings from a record's message (for loggers not written by ``Formatter``:
    gunicorn's)."""

    def filter(self, record):
        message = record.getMessage()
        redacted = redact_query_strings(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


def request_id_from(request) -> str:
    trace = request.META.get("HTTP_X_AMZN_TRACE_ID", "")
    return trace if _TRACE_ID.match(trace) else uuid.uuid4().hex


class RequestContextFilter(logging.Filter):
    """Copies the current request's id, user, method and path onto every record."""

    def filter(self, record):
        for key, value in _context.get().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class RequestLogMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        context = {"request_id": request_id_from(request), "method": request.method,
                   "path": request.path}
        token = _context.set(context)
        try:
            response = self.get_response(request)
            user = getattr(request, "user", None)
            if user is not None and user.is_authenticated:
                context["user_id"] = str(user.pk)
            response[REQUEST_ID_HEADER] = context["request_id"]
            access_logger.info("request", extra={
                "status": response.status_code,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2)})
            return response
        finally:
            _context.reset(token)


class Formatter(JsonFormatter):
    """One JSON object a line: time, level, logger, message and whatever context the record has."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("rename_fields", {"asctime": "time", "levelname": "level",
                                            "name": "logger"})
        kwargs.setdefault("timestamp", False)
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s", *args, **kwargs)

    def serialize_log_record(self, log_data) -> str:
        """The whole line, extras and traceback included, with every query string redacted."""
        return redact_query_strings(super().serialize_log_record(log_data))

    def formatTime(self, record, datefmt=None):
        from datetime import datetime, timezone

        return datetime.fromtimestamp(record.created, tz=timezone.utc).isoformat(
            timespec="milliseconds").replace("+00:00", "Z")
