"""Records every AWS call the process makes while an actor is set: (actor, service, operation, params).

While ``recording()`` is active, every botocore client created (by any boto3 or botocore session:
the app's, kombu's, the Lambda handler's, a provisioning Context's) gets the recorder's hook; calls
made while no actor is set (the test's own set-up and read-backs) are not recorded. One actor at a
time for the whole process, not per thread: s3transfer and the provisioning engine call AWS from
worker threads on the actor's behalf.

The hook is ``provisioning.calls.CallHook``'s ``before-parameter-build``, not ``before-call``: it
carries the call's API parameters (Bucket, Key, TableName, ...), which name the resources, where
``before-call`` carries the already serialised HTTP request. It fires for
``generate_presigned_url`` too, whose URL is authorised as the signer when it is fetched.
"""
from __future__ import annotations

import contextlib
import copy
import threading
from dataclasses import dataclass, field

import botocore.session

from provisioning.calls import CallHook


@dataclass
class Call:
    actor: str
    service: str
    operation: str
    params: dict
    flow: str = ""
    requests: list = field(default_factory=list)  # filled by the mapping (requests.py)
    error: str = ""                               # the mapping's refusal: an unknown operation


class Recorder(CallHook):
    def __init__(self, on_call=None):
        """``on_call(call)``, if given, runs inside the hook (before the call is sent): the mapping
        reads the resources' state (a key, a tag) as it is when the call is made."""
        self.calls: list[Call] = []
        self.actor: str | None = None
        self.flow = ""
        self.on_call = on_call
        self._lock = threading.Lock()
        self._quiet = threading.local()

    @contextlib.contextmanager
    def acting(self, actor: str, flow: str = ""):
        """Calls made inside are ``actor``'s (a role's purpose, e.g. "instance")."""
        previous = self.actor, self.flow
        self.actor, self.flow = actor, flow or actor
        try:
            yield self
        finally:
            self.actor, self.flow = previous

    @contextlib.contextmanager
    def quiet(self):
        """The harness's own calls in this thread (reading state back) are never recorded."""
        self._quiet.on = True
        try:
            yield
        finally:
            self._quiet.on = False

    def before(self, service, operation, params):
        if self.actor is None or getattr(self._quiet, "on", False):
            return
        call = Call(self.actor, service, operation, copy.deepcopy(_plain(params)), self.flow)
        if self.on_call is not None:
            with self.quiet():
                try:
                    self.on_call(call)
                except Exception as error:  # reported by the proof, never lost in the flow
                    call.error = f"{type(error).__name__}: {error}"
        with self._lock:
            self.calls.append(call)

    def for_actor(self, actor: str) -> list[Call]:
        return [c for c in self.calls if c.actor == actor]


def _plain(params):
    """The parameters without the bodies (bytes, files): only names and settings matter here."""
    if isinstance(params, dict):
        return {k: _plain(v) for k, v in params.items() if k not in ("Body", "ZipFile")}
    if isinstance(params, list):
        return [_plain(v) for v in params]
    return params if isinstance(params, (str, int, float, bool, type(None))) else repr(type(params))


@contextlib.contextmanager
def recording(recorder: Recorder):
    """Every botocore client created inside gets ``recorder``'s hook (clients made before, e.g.
    cached ones, do not: clear such caches first)."""
    original = botocore.session.Session.create_client

    def create_client(session, *args, **kwargs):
        client = original(session, *args, **kwargs)
        recorder.attach(client)
        return client
    botocore.session.Session.create_client = create_client
    try:
        yield recorder
    finally:
        botocore.session.Session.create_client = original
