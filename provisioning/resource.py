"""The Resource base class and the mechanics every recipe shares.

A recipe is a short class with four verbs, each given the Context and ``deps`` (the observed state
of the resources it depends on, by name; a value is None when that resource does not exist yet,
which happens in plan mode and status):

* ``find_all`` — what exists, found by the stack's tags (or a deterministic name); a list of state
  dicts, each with at least ``id``. More than one means duplicates, which the engine reports.
* ``create`` — make it, tagged at creation (``TagSpecifications``) so that a crash can never leave
  an untagged orphan, wait until usable, return its state. Settings that cannot be given at
  creation are left to ``reconcile``: the engine always checks drift right after a create.
* ``drift`` / ``reconcile`` — compare the observed state with the config; bring it back.
* ``delete`` — delete and wait until gone.
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

from botocore.exceptions import ClientError

Deps = Mapping[str, "dict | None"]
sleep = time.sleep  # tests replace this to skip real waiting
monotonic = time.monotonic


@dataclass(frozen=True)
class Drift:
    setting: str
    have: Any
    want: Any
    fixable: bool = True

    def __str__(self) -> str:
        text = f"{self.setting}: {self._show(self.have)} -> {self._show(self.want)}"
        if not self.fixable:
            text += " (cannot be changed in place: tear down and re-create)"
        return text

    @staticmethod
    def _show(value) -> str:
        if isinstance(value, (set, frozenset, list, tuple)):
            return "[" + ", ".join(sorted(map(str, value))) + "]"
        return "-" if value is None else str(value)


class Resource:
    name: str = ""                     # logical name, unique across layers: "network.vpc"
    depends_on: tuple[str, ...] = ()   # logical names, possibly in other layers
    service: str = ""                  # the boto3 client it uses, made up front
    kind: str = ""                     # for people: "VPC", "subnet"

    def find_all(self, ctx, deps: Deps) -> list[dict]:
        raise NotImplementedError

    def create(self, ctx, deps: Deps) -> dict:
        raise NotImplementedError

    def drift(self, ctx, state: dict, deps: Deps) -> list[Drift]:
        return []

    def reconcile(self, ctx, state: dict, drift: list[Drift], deps: Deps) -> dict | None:
        """Fix the drift; return the new state when it changed (None keeps the old one)."""
        return None

    def delete(self, ctx, state: dict) -> None:
        raise NotImplementedError

    def outputs(self, state: dict) -> dict[str, Any]:
        return {}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


class StackError(Exception):
    """Something the user must act on; the message says what and how to go on."""


def error_code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


@contextlib.contextmanager
def tolerate(*codes: str):
    """Swallow the ClientErrors that mean "already done" (InvalidPermission.Duplicate, ...)."""
    try:
        yield
    except ClientError as error:
        if error_code(error) not in codes:
            raise


def retry_on(codes: Iterable[str], call: Callable[[], Any], *, what: str, timeout: float = 600,
             delay: float = 5, message: str = "") -> Any:
    """Retry ``call`` while it fails with one of ``codes``, for at most ``timeout`` seconds.

    For AWS's eventual consistency only (a load balancer's network interfaces linger after it
    is gone, so a security group answers DependencyViolation for minutes); throttling and
    transient errors are botocore's retry mode's job. With ``message``, only errors whose message
    contains it (case-insensitively) are retried: ``InvalidParameterValue`` means a new instance
    profile is not visible yet only when it says "IAM Instance Profile".
    """
    codes = set(codes)
    deadline = monotonic() + timeout
    while True:
        try:
            return call()
        except ClientError as error:
            text = error.response.get("Error", {}).get("Message", "")
            if (error_code(error) not in codes or message.lower() not in text.lower()
                    or monotonic() + delay > deadline):
                raise
        sleep(delay)
        delay = min(delay * 1.5, 30)


def delete_once_free(call: Callable[[], Any], *, gone: str, busy: Iterable[str], what: str,
                     timeout: float = 600, delay: float = 5) -> None:
    """Delete with ``call``. ``gone`` (already deleted, by us before a crash or by hand) counts as
    done; ``busy`` (still held by something being deleted, or by AWS for a while) is retried for
    at most ``timeout`` seconds."""
    with tolerate(gone):
        retry_on(busy, call, what=what, timeout=timeout, delay=delay)


def wait_until(check: Callable[[], bool], *, what: str, timeout: float = 300, delay: float = 2) -> None:
    """Poll ``check`` (first at once) until true; for deletions that have no botocore waiter."""
    deadline = monotonic() + timeout
    while not check():
        if monotonic() + delay > deadline:
            raise StackError(f"timed out after {timeout:.0f}s waiting for {what}; run the command again")
        sleep(delay)
        delay = min(delay * 1.5, 15)


def waiter_config(delay: int, max_attempts: int) -> dict:
    return {"Delay": delay, "MaxAttempts": max_attempts}
