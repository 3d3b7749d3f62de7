"""Invoking the db-admin Lambda (``deploy/db_admin``), shared by the app-user recipe
(``provisioning/layers/data.py``) and the rotation (``provisioning/db_rotation.py``).

The function runs inside the VPC next to the database; callers pass the credentials in the
synchronous invocation, so every message made from its answer goes through ``mask``.
"""
from __future__ import annotations

import json

from provisioning.retry import SYSTEM_CLOCK, Clock, retry_on

# Lambda Invoke errors (API reference): ResourceNotReadyException "The function is inactive and its
# VPC connection is no longer available. Wait for the VPC connection to reestablish and try again"
# (a VPC function idle for weeks), ENINotReadyException (its interface not ready yet),
# ResourceConflictException while it is Pending: the invocation did not run, so it is retried.
NOT_READY = ("ResourceNotReadyException", "ENINotReadyException", "ResourceConflictException")
READY_TIMEOUT = 600  # a VPC function's interfaces take minutes to come back


def invoke(lambda_client, function_name: str, event: dict, *, clock: Clock = SYSTEM_CLOCK) -> tuple[object, str | None]:
    """The function's answer (parsed JSON, or ``{"errorMessage": <text>}``) and its
    ``FunctionError`` (None when the handler returned)."""
    answer = retry_on(NOT_READY, lambda: lambda_client.invoke(
        FunctionName=function_name, InvocationType="RequestResponse", Payload=json.dumps(event).encode()),
        clock=clock, timeout=READY_TIMEOUT, delay=5)
    raw = answer["Payload"].read().decode("utf-8", "replace")
    try:
        result = json.loads(raw)
    except ValueError:
        result = {"errorMessage": raw}
    return result, answer.get("FunctionError")


def mask(text: str, event: dict) -> str:
    """One line, with every password of the event replaced."""
    for role in ("admin", "user"):
        password = (event.get(role) or {}).get("password")
        if password:
            text = text.replace(password, "***")
    return " ".join(text.split())
