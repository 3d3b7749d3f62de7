"""Every JSON log line has its URLs' query strings redacted; Django's loggers write through it."""
import json
import logging

from django.test import RequestFactory

from cloudsite.request_log import Formatter, QueryStringFilter

TOKEN = "never-logged-token-42"
PATH = f"/v1/user/verify?email=ann%40example.com&token={TOKEN}"


def record(name, msg, *args, **extra):
    made = logging.LogRecord(name, logging.ERROR, __file__, 1, msg, args, None)
    made.__dict__.update(extra)
    return made


def test_the_formatter_redacts_the_request_repr_and_the_request_line():
    request = RequestFactory().get(PATH)
    line = Formatter().format(record("django.security.DisallowedHost", "Invalid host", request=request))
    assert json.loads(line)["request"] == "<WSGIRequest: GET '/v1/user/verify?<redacted>'>"
    line = Formatter().format(record("django.server", '"%s" %s %s', f"GET {PATH} HTTP/1.1", "500", "1"))
    assert json.loads(line)["message"] == '"GET /v1/user/verify?<redacted> HTTP/1.1" 500 1'
    presigned = "https://b.s3.amazonaws.com/1/2/me.png?X-Amz-Signature=abc&X-Amz-Expires=300"
    line = Formatter().format(record("files", "failed: %s", presigned))
    assert json.loads(line)["message"] == "failed: https://b.s3.amazonaws.com/1/2/me.png?<redacted>"


def test_text_without_a_query_string_is_kept():
    for text in ("What? yes=no", "GET /v1/user/self HTTP/1.1", "a=b?"):
        assert json.loads(Formatter().format(record("x", text)))["message"] == text


def test_the_filter_rewrites_gunicorns_records():
    made = record("gunicorn.error", "Invalid request from ip=1.2.3.4: Invalid HTTP request line: %r",
                  f"GET {PATH}")
    assert QueryStringFilter().filter(made)
    assert made.getMessage() == ("Invalid request from ip=1.2.3.4: Invalid HTTP request line: "
                                 "'GET /v1/user/verify?<redacted>'")


def test_djangos_loggers_write_through_the_roots_handlers():
    for name in ("django", "django.server"):
        logger = logging.getLogger(name)
        assert logger.handlers == [] and logger.propagate, name
    assert logging.getLogger("django.db.backends").getEffectiveLevel() == logging.INFO
    assert logging.getLogger("django.template").getEffectiveLevel() == logging.INFO
