"""Primary/replica routing with read-your-writes inside a request.

Reads go to the ``replica`` alias when one is configured. Once a request (or a block under
:func:`use_primary`) has written, every later read in it goes to the primary, so a response never
shows data older than what the same request just wrote. Authentication always reads the primary
(see ``accounts.authentication``), since a replica may lag behind a password change.
"""
import contextvars
from contextlib import contextmanager

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS

REPLICA_DB_ALIAS = "replica"
_pinned = contextvars.ContextVar("cloudsite_db_pinned", default=False)


def pin_to_primary() -> None:
    _pinned.set(True)


def unpin() -> None:
    """Start a new unit of work (a Celery task, a test) free to read from the replica."""
    _pinned.set(False)


@contextmanager
def use_primary():
    """Send every read inside the block to the primary."""
    token = _pinned.set(True)
    try:
        yield
    finally:
        _pinned.reset(token)


def has_replica() -> bool:
    return REPLICA_DB_ALIAS in settings.DATABASES


class PrimaryReplicaRouter:
    def db_for_read(self, model, **hints):
        if _pinned.get() or not has_replica():
            return DEFAULT_DB_ALIAS
        return REPLICA_DB_ALIAS

    def db_for_write(self, model, **hints):
        pin_to_primary()
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints):
        return True  # both aliases hold the same data

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == DEFAULT_DB_ALIAS


class PrimaryPinningMiddleware:
    """Start every request unpinned, so one request's write does not pin the next one."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _pinned.set(False)
        try:
            return self.get_response(request)
        finally:
            _pinned.reset(token)
