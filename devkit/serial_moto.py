"""moto, one request at a time.

moto's in-memory backends are not thread-safe: a request that iterates a backend's dict while
another thread's request adds to it fails with "dictionary changed size during iteration" (seen
in CI: SSM ``GetParametersByPath`` while a parameter was being put, during ``provision_all``'s
concurrent resume). Real AWS has no such limit and the provisioning engine calls it from several
threads on purpose, so it is the emulator that is serialised, never the product:

* in-process (``mock_aws``): ``install()`` puts one lock around moto's botocore stub, the point
  every mocked request goes through; the root ``conftest.py`` installs it for the test suite;
* ``moto_server``: ``python -m devkit.serial_moto -H 127.0.0.1 -p PORT`` runs moto's own
  server with the same lock around its WSGI dispatcher (``devkit.live.moto_server`` does).

Requests still arrive concurrently and their client-side work (signing, retries, added latency)
overlaps; only moto's handling of them takes turns. A long poll (SQS ``WaitTimeSeconds``) would
hold the lock while it waits, so what talks to a serialised emulator polls short.

The server also answers what moto cannot run: a synchronous invocation of a stack's db-admin
function (``POST /2015-03-31/functions/<name>/invocations``) goes to
``devkit.emulator.DbAdminStandIn``, which runs the deployed zip's handler against the MariaDB
named by ``CLOUDSITE_EMULATOR_MYSQL``; the lock is held only while it reads moto's state.

It also answers the public SSM parameters of the image bases moto does not publish (it knows only
Amazon Linux's): Debian's and Canonical's, each naming a stand-in AMI id, so ``provision_image``
finds a base for every ``[image] base`` (``teach_base_image_parameters``).
"""
from __future__ import annotations

import functools
import threading

_LOCK = threading.RLock()  # re-entrant: a moto handler that calls moto again must not deadlock
LOCK = _LOCK  # for emulator-side code that reads moto's backends


def _serialised(method):
    if getattr(method, "_cloudsite_serialised", False):
        return method

    @functools.wraps(method)
    def one_at_a_time(*args, **kwargs):
        with _LOCK:
            return method(*args, **kwargs)

    one_at_a_time._cloudsite_serialised = True
    return one_at_a_time


def _db_admin_routed(call):
    """The WSGI entry point, with the db-admin function's synchronous invocations answered by the
    stand-in (outside the lock: it runs a subprocess and a database)."""
    if getattr(call, "_cloudsite_routed", False):
        return call
    stand_in = []

    @functools.wraps(call)
    def routed(self, environ, start_response):
        from devkit.emulator import INVOCATION_PATH, DbAdminStandIn, is_db_admin

        match = INVOCATION_PATH.match(environ.get("PATH_INFO", ""))
        kind = environ.get("HTTP_X_AMZ_INVOCATION_TYPE", "RequestResponse")
        if not (environ.get("REQUEST_METHOD") == "POST" and match and kind == "RequestResponse"
                and is_db_admin(match.group(1))):
            return call(self, environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        payload = environ["wsgi.input"].read(length) if length else b""
        if not stand_in:
            stand_in.append(DbAdminStandIn(lock=_LOCK))
        error, body = stand_in[0].invoke(match.group(1), payload)
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                   ("X-Amz-Executed-Version", "$LATEST")] + ([("X-Amz-Function-Error", error)] if error else [])
        start_response("200 OK", headers)
        return [body]

    routed._cloudsite_routed = True
    return routed


def _stand_in_ami(name: str) -> str:
    import hashlib

    return "ami-" + hashlib.sha256(name.encode()).hexdigest()[:17]


def teach_base_image_parameters() -> None:
    """moto's public parameters hold Amazon Linux only; add the other bases' (idempotent).
    ``put_parameter`` refuses names under ``/aws`` as AWS does, so they go in as moto's own
    loading of public parameters does, on the first look-up under ``/aws/service/``."""
    from moto.core.utils import utcnow
    from moto.ssm.models import Parameter, ParameterDict

    from provisioning.naming import BASE_IMAGES

    if getattr(ParameterDict._check_loading_status, "_cloudsite_bases", False):
        return
    original = ParameterDict._check_loading_status
    wanted = [name for name in BASE_IMAGES.values() if not name.startswith("/aws/service/ami-amazon-linux-latest/")]

    def check_loading_status(self, key):
        original(self, key)
        if str(key or "").startswith("/aws/service/") and not getattr(self, "_cloudsite_bases_loaded", False):
            self._cloudsite_bases_loaded = True
            for name in wanted:
                if not dict.get(self, name):
                    super(ParameterDict, self).__getitem__(name).append(Parameter(
                        account_id=self.account_id, name=name, value=_stand_in_ami(name), parameter_type="String",
                        description=None, allowed_pattern=None, keyid=None, last_modified_date=utcnow(),
                        version=1, data_type="aws:ec2:image"))

    check_loading_status._cloudsite_bases = True
    ParameterDict._check_loading_status = check_loading_status


def install() -> None:
    """Serialise both of moto's entry points in this process (idempotent); route the db-admin
    function's invocations to its stand-in in server mode."""
    from moto.core.botocore_stubber import BotocoreStubber
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    BotocoreStubber.process_request = _serialised(BotocoreStubber.process_request)
    teach_base_image_parameters()
    DomainDispatcherApplication.__call__ = _db_admin_routed(_serialised(DomainDispatcherApplication.__call__))


def main(argv: list[str] | None = None) -> None:
    """``moto_server`` with its arguments, serialised."""
    install()
    from moto.server import main as moto_main

    moto_main(argv)


if __name__ == "__main__":
    main()
