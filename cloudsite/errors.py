"""JSON error bodies everywhere: DRF's exception handler and Django's error views.

Every error body has ``detail``, a human-readable sentence; validation errors add ``errors``,
the per-field messages DRF produced.
"""
from django.http import JsonResponse
from rest_framework import exceptions, status
from rest_framework.views import exception_handler as drf_exception_handler


def _summary(errors) -> str:
    """One readable sentence out of DRF's nested validation errors."""
    if isinstance(errors, dict):
        parts = []
        for field, messages in errors.items():
            text = _summary(messages)
            parts.append(text if field == "non_field_errors" else f"{field}: {text}")
        return "; ".join(parts)
    if isinstance(errors, list):
        return " ".join(_summary(item) for item in errors)
    return str(errors)


def exception_handler(exc, context):
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        errors = response.data
        if not isinstance(errors, dict):
            errors = {"non_field_errors": errors}
        response.data = {"detail": _summary(errors), "errors": errors}
    elif not isinstance(response.data, dict) or "detail" not in response.data:
        response.data = {"detail": _summary(response.data)}
    return response


def json_error(message: str, status_code: int, **headers) -> JsonResponse:
    response = JsonResponse({"detail": message}, status=status_code)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def bad_request(request, exception=None):
    return json_error("Bad request.", status.HTTP_400_BAD_REQUEST)


def permission_denied(request, exception=None):
    return json_error("You do not have permission to perform this action.", status.HTTP_403_FORBIDDEN)


def page_not_found(request, exception=None):
    return json_error("Not found.", status.HTTP_404_NOT_FOUND)


def server_error(request):
    return json_error("Internal server error.", status.HTTP_500_INTERNAL_SERVER_ERROR)
