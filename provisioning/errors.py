"""What AWS's errors mean to a recipe, written once (as amazon.aws keeps "missing means absent" in
``module_utils/errors.py``):

* ``StackError``: something the user must act on; the message says what and how to go on.
* ``error_code``: the ``Code`` of a ``ClientError``.
* ``tolerate``: swallow the codes that mean "already done" (a duplicate rule, a deleted thing).
* ``absent_on``: a describe or get call whose "not found" answer means "it does not exist".
* ``emulator_lacks`` / ``delete_or_report``: an endpoint that does not implement a call (an
  emulator; real AWS never answers so) is reported, not failed on.
"""
from __future__ import annotations

import contextlib
from typing import Callable, TypeVar

from botocore.exceptions import ClientError
from botocore.parsers import ResponseParserError

T = TypeVar("T")


class StackError(Exception):
    """Something the user must act on; the message says what and how to go on."""


def error_code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


def error_message(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Message", "")


@contextlib.contextmanager
def tolerate(*codes: str):
    """Swallow the ClientErrors that mean "already done" (InvalidPermission.Duplicate, ...)."""
    try:
        yield
    except ClientError as error:
        if error_code(error) not in codes:
            raise


def absent_on(call: Callable[[], T], *codes: str) -> T | None:
    """``call()``, or None when AWS answers with one of ``codes``: what the call names does not
    exist (``ResourceNotFoundException``, ``NoSuchEntity``, ``DBInstanceNotFound``, ...)."""
    try:
        return call()
    except ClientError as error:
        if error_code(error) in codes:
            return None
        raise


def emulator_lacks(error: BaseException, client=None) -> bool:
    """The endpoint does not implement the operation: moto raises NotImplementedError in-process;
    in server mode it answers a message saying so, a parser-breaking body, an ``InvalidAction`` or
    ``NotImplemented`` code, or a bare 500 from an endpoint that is not AWS's. Real AWS never
    answers this way; callers report it instead of failing."""
    if isinstance(error, (NotImplementedError, ResponseParserError)):
        return True
    if not isinstance(error, ClientError):
        return False
    if error_code(error) in ("NotImplemented", "InvalidAction", "UnsupportedOperation"):
        return True
    message = error_message(error)
    if "not been implemented" in message or "not yet implemented" in message:
        return True
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    endpoint = (getattr(getattr(client, "meta", None), "endpoint_url", "") or "").split("/")[2:3]
    emulated = bool(endpoint) and not endpoint[0].split(":")[0].endswith((".amazonaws.com", ".amazonaws.com.cn"))
    return status == 500 and emulated


UNIMPLEMENTED = (ClientError, NotImplementedError, ResponseParserError)


def report_not_deleted(ctx, what: str, error: BaseException) -> None:
    ctx.reporter.note(f"NOT DELETED: {what}: the AWS endpoint does not implement this call "
                      f"({type(error).__name__}); delete it by hand if this is a real account")


def delete_or_report(ctx, service: str, call: Callable[[], object], *, gone: tuple[str, ...], what: str) -> None:
    """Delete with ``call``; ``gone`` codes mean it is deleted already. An endpoint that does not
    implement the call (an emulator: moto's CodeDeploy has no deletes) is reported, not failed on."""
    try:
        with tolerate(*gone):
            call()
    except UNIMPLEMENTED as error:
        if not emulator_lacks(error, ctx.client(service)):
            raise
        report_not_deleted(ctx, what, error)
