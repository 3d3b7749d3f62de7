"""Waiting out AWS's eventual consistency, written once (as terraform-provider-aws keeps its retries
in ``internal/tfresource/retry.go``). Throttling and transient errors are botocore's retry mode's
job (``context.CLIENT_CONFIG``); these are for answers that mean "not yet":

* ``retry_while`` / ``retry_on``: a call that fails with a known "not visible yet" error;
* ``retry_role_propagation``: a new IAM role or policy not usable yet by Lambda or CodeDeploy;
* ``delete_once_free``: a deletion refused while something lets go of the resource;
* ``wait_until``: a condition with no botocore waiter.

Every one takes the run's ``Clock`` (``ctx.clock``): tests pass one that does not sleep.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from botocore.exceptions import ClientError

from provisioning.errors import StackError, error_code, error_message, tolerate


@dataclass(frozen=True)
class Clock:
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic


SYSTEM_CLOCK = Clock()


def retry_while(retryable: Callable[[ClientError], bool], call: Callable[[], Any], *, clock: Clock,
                timeout: float = 600, delay: float = 5, max_delay: float = 30) -> Any:
    """Call ``call`` again while it fails with an error ``retryable`` accepts, backing off from
    ``delay`` to ``max_delay``, for at most ``timeout`` seconds; then the error is raised."""
    deadline = clock.monotonic() + timeout
    while True:
        try:
            return call()
        except ClientError as error:
            if not retryable(error) or clock.monotonic() + delay > deadline:
                raise
        clock.sleep(delay)
        delay = min(delay * 1.5, max_delay)


def retry_on(codes: Iterable[str], call: Callable[[], Any], *, clock: Clock, timeout: float = 600,
             delay: float = 5, message: str = "") -> Any:
    """Retry ``call`` while it fails with one of ``codes``. With ``message``, only errors whose
    message contains it (case-insensitively) are retried: ``InvalidParameterValue`` means a new
    instance profile is not visible yet only when it says "IAM Instance Profile"."""
    codes = set(codes)
    return retry_while(lambda e: error_code(e) in codes and message.lower() in error_message(e).lower(),
                       call, clock=clock, timeout=timeout, delay=delay)


ROLE_PROPAGATION_TIMEOUT = 120


def role_propagating(error: ClientError) -> bool:
    """A new IAM role (or a policy just put on it) is not usable by Lambda or CodeDeploy for some
    seconds: "The role defined for the function cannot be assumed by Lambda", "The provided
    execution role does not have permissions to call CreateNetworkInterface on EC2",
    InvalidRoleException."""
    code = error_code(error)
    return code == "InvalidRoleException" or (
        code == "InvalidParameterValueException" and "role" in error_message(error).lower())


def retry_role_propagation(call: Callable[[], Any], *, clock: Clock,
                           timeout: float = ROLE_PROPAGATION_TIMEOUT) -> Any:
    return retry_while(role_propagating, call, clock=clock, timeout=timeout, delay=2, max_delay=10)


def delete_once_free(call: Callable[[], Any], *, gone: str, busy: Iterable[str], clock: Clock,
                     timeout: float = 600, delay: float = 5) -> None:
    """Delete with ``call``. ``gone`` (already deleted, by us before a crash or by hand) counts as
    done; ``busy`` (still held by something being deleted, or by AWS for a while) is retried for
    at most ``timeout`` seconds."""
    with tolerate(gone):
        retry_on(busy, call, clock=clock, timeout=timeout, delay=delay)


def wait_until(check: Callable[[], bool], *, what: str, clock: Clock, timeout: float = 300,
               delay: float = 2) -> None:
    """Poll ``check`` (first at once) until true; for deletions that have no botocore waiter."""
    deadline = clock.monotonic() + timeout
    while not check():
        if clock.monotonic() + delay > deadline:
            raise StackError(f"timed out after {timeout:.0f}s waiting for {what}; run the command again")
        clock.sleep(delay)
        delay = min(delay * 1.5, 15)


def waiter_config(delay: int, max_attempts: int) -> dict:
    """A botocore waiter's ``WaiterConfig``: polls ``delay`` seconds apart, ``max_attempts`` times."""
    return {"Delay": delay, "MaxAttempts": max_attempts}
