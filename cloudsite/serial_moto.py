"""moto, one request at a time.

moto's in-memory backends are not thread-safe: a request that iterates a backend's dict while
another thread's request adds to it fails with "dictionary changed size during iteration" (seen
in CI: SSM ``GetParametersByPath`` while a parameter was being put, during ``provision_all``'s
concurrent resume). Real AWS has no such limit and the provisioning engine calls it from several
threads on purpose, so it is the emulator that is serialised, never the product:

* in-process (``mock_aws``): ``install()`` puts one lock around moto's botocore stub, the point
  every mocked request goes through; the root ``conftest.py`` installs it for the test suite;
* ``moto_server``: ``python -m cloudsite.serial_moto -H 127.0.0.1 -p PORT`` runs moto's own
  server with the same lock around its WSGI dispatcher (``cloudsite.live.moto_server`` does).

Requests still arrive concurrently and their client-side work (signing, retries, added latency)
overlaps; only moto's handling of them takes turns. A long poll (SQS ``WaitTimeSeconds``) would
hold the lock while it waits, so what talks to a serialised emulator polls short.
"""
from __future__ import annotations

import functools
import threading

_LOCK = threading.RLock()  # re-entrant: a moto handler that calls moto again must not deadlock


def _serialised(method):
    if getattr(method, "_cloudsite_serialised", False):
        return method

    @functools.wraps(method)
    def one_at_a_time(*args, **kwargs):
        with _LOCK:
            return method(*args, **kwargs)

    one_at_a_time._cloudsite_serialised = True
    return one_at_a_time


def install() -> None:
    """Serialise both of moto's entry points in this process (idempotent)."""
    from moto.core.botocore_stubber import BotocoreStubber
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    BotocoreStubber.process_request = _serialised(BotocoreStubber.process_request)
    DomainDispatcherApplication.__call__ = _serialised(DomainDispatcherApplication.__call__)


def main(argv: list[str] | None = None) -> None:
    """``moto_server`` with its arguments, serialised."""
    install()
    from moto.server import main as moto_main

    moto_main(argv)


if __name__ == "__main__":
    main()
