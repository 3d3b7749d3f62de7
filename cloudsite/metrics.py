"""StatsD metrics beyond django-statsd's own: per-endpoint counters/timers and AWS call timers.

django-statsd (``StatsdMiddleware``) already sends view timings, HTTP status-class counts and
query timings. This module adds the seed's explicit names — ``<method>.<endpoint>.counter`` and
``<method>.<endpoint>.timer`` (``post.user.counter``, ``get.user.self.timer``) — and a timer
around every AWS call any boto3 client of the process makes (``s3.put.timer``,
``sns.publish.timer``, ``dynamodb.get_item.timer``). With no StatsD host configured the
connection is disabled: no packets, no errors.
"""
import re
import time

from django.conf import settings
from django_statsd import middleware, utils

_S3_OBJECT_VERB = re.compile(r"^(put|get|delete|head|copy)_object$")


def _client(kind: str):
    return utils.get_counter(settings.STATSD_PREFIX) if kind == "counter" else utils.get_timer(
        settings.STATSD_PREFIX)


class StatsdMiddleware(middleware.StatsdMiddleware):
    """django-statsd's middleware, naming class-based views by their class.

    ``as_view()`` returns a function called ``view``, so every DRF view would otherwise be
    reported as ``accounts.views.view``.
    """

    def process_view(self, request, view_func, view_args, view_kwargs):
        view_class = getattr(view_func, "view_class", None)
        return super().process_view(request, view_class or view_func, view_args, view_kwargs)


def endpoint_name(request) -> str | None:
    """``user.self.pic`` for the route ``v1/user/self/pic``; None for unrouted requests."""
    match = getattr(request, "resolver_match", None)
    if match is None or not match.route:
        return None
    route = match.route.removeprefix("v1/").strip("/")
    return re.sub(r"[^a-z0-9]+", ".", route.lower()).strip(".") or None


class EndpointMetricsMiddleware:
    """Counts and times every routed request under ``<method>.<endpoint>``."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        name = endpoint_name(request)
        if name and not name.startswith("admin"):
            key = f"{request.method.lower()}.{name}"
            _client("counter").increment(f"{key}.counter")
            _client("timer").send(f"{key}.timer", time.perf_counter() - started)
        return response


def aws_metric_name(service: str, operation: str) -> str:
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower()
    if service == "s3":
        snake = _S3_OBJECT_VERB.sub(r"\1", snake)
    return f"{service}.{snake}"


def _start_aws_timer(context, **kwargs):
    context["cloudsite_statsd_started"] = time.perf_counter()


def _send_aws_timer(event_name, context, **kwargs):
    """For ``after-call.<service-id>.<Operation>`` and its ``after-call-error`` twin."""
    started = context.pop("cloudsite_statsd_started", None)
    if started is not None:
        _event, service, operation = event_name.split(".", 2)
        name = aws_metric_name(service, operation)
        _client("timer").send(f"{name}.timer", time.perf_counter() - started)


def install_aws_timers() -> None:
    """Time every AWS call of every boto3 session created from now on (django-storages' too).

    Registered as botocore built-in handlers, which every new session copies, so no client
    needs wiring by hand.
    """
    from botocore import handlers

    for event, handler in (("before-call", _start_aws_timer), ("after-call", _send_aws_timer),
                           ("after-call-error", _send_aws_timer)):
        if (event, handler) not in handlers.BUILTIN_HANDLERS:
            handlers.BUILTIN_HANDLERS.append((event, handler))
