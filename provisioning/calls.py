"""botocore event hooks that see every AWS API call: counting, the plan-mode guard, crash tests.

A hook is attached to a client's event system (``client.meta.events``); the Context attaches its
hooks to every client it makes. ``before-parameter-build`` fires once per API call with the call's
parameters, before anything is sent (botocore's retries happen below it); ``after-call`` once the
call has returned.
"""
from __future__ import annotations

import threading
from collections import Counter

READ_PREFIXES = ("Describe", "Get", "List", "Head", "Lookup", "Search", "Scan", "Query",
                 "BatchGet", "Select", "Validate", "Check")
# Calls that change nothing in the stack although their names do not say so.
READ_OPERATIONS = {"AssumeRole", "GetCallerIdentity", "DecodeAuthorizationMessage"}


def is_mutating(operation: str) -> bool:
    return operation not in READ_OPERATIONS and not operation.startswith(READ_PREFIXES)


class CallHook:
    """Base: override ``before`` and/or ``after``; attach with Context.add_hook or attach().

    ``sees_lock_calls``: whether the Context attaches it to the stack lock's own client too
    (``Context.lock_client``) as well as to the stack's clients."""

    sees_lock_calls = True

    def before(self, service: str, operation: str, params: dict) -> None:
        pass

    def after(self, service: str, operation: str) -> None:
        pass

    def attach(self, client) -> None:
        events = client.meta.events
        events.register("before-parameter-build", self._before)
        events.register("after-call", self._after)

    def _before(self, model, params, **kwargs):
        self.before(model.service_model.service_name, model.name, params)

    def _after(self, model, **kwargs):
        self.after(model.service_model.service_name, model.name)


class CallCounter(CallHook):
    """Counts calls, split into mutating and read, per ``service:Operation``: by default the
    stack's calls only (what a run changed), with ``lock_calls`` the lock's as well."""

    def __init__(self, *, lock_calls: bool = False):
        self.sees_lock_calls = lock_calls
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()

    def before(self, service, operation, params):
        with self._lock:
            self.calls[f"{service}:{operation}"] += 1

    @property
    def mutating(self) -> int:
        return sum(n for key, n in self.calls.items() if is_mutating(key.split(":", 1)[1]))

    @property
    def reads(self) -> int:
        return sum(self.calls.values()) - self.mutating

    def mutating_calls(self) -> dict[str, int]:
        return {k: n for k, n in sorted(self.calls.items()) if is_mutating(k.split(":", 1)[1])}

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()

    def as_dict(self) -> dict:
        return {"mutating": self.mutating, "read": self.reads}


class MutationBlocked(RuntimeError):
    """A mutating call was attempted where none is allowed (plan mode)."""


class ReadOnlyGuard(CallHook):
    """Refuses every mutating call before it leaves the process: plan mode's safety net."""

    def before(self, service, operation, params):
        if is_mutating(operation):
            raise MutationBlocked(f"plan mode: refused mutating call {service}:{operation}")
