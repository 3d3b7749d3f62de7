"""Database credentials read from a Secrets Manager secret, cached per process for a short TTL.

The secret is JSON ``{"username": ..., "password": ...}`` (other keys are ignored). A rotation
(``provisioning/db_rotation.py``) first stores the new password as the ``AWSPENDING`` version,
sets it in the database, then moves ``AWSCURRENT`` to it. So a login refused with the cached
credentials is retried with a fresh ``AWSCURRENT`` and, while a rotation is in progress, with
``AWSPENDING`` (the database may already have the new password: MariaDB and MySQL before 8.0.14
keep no old one). Nothing here logs, prints or puts a password or a secret's text into an error.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

from django.core.exceptions import ImproperlyConfigured

CURRENT, PENDING = "AWSCURRENT", "AWSPENDING"
DEFAULT_TTL = 300


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)  # never in a repr, a log line or a traceback's locals dump


def client_for(secret_id: str):
    """A Secrets Manager client in the secret's region, botocore's standard retries, short timeouts
    (a login waits on it). ``AWS_ENDPOINT_URL`` is honoured by botocore itself."""
    import boto3
    from botocore.config import Config

    parts = secret_id.split(":")
    region = parts[3] if secret_id.startswith("arn:") and len(parts) > 3 and parts[3] else None
    config = Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=3, read_timeout=5)
    return boto3.session.Session().client("secretsmanager", region_name=region, config=config)


def parse(secret_id: str, text) -> Credentials:
    """The ``username`` and ``password`` of the secret's JSON; a clear error without any value."""
    try:
        document = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise ImproperlyConfigured(f"database secret {secret_id}: not a JSON object")
    for key in ("username", "password"):
        if not isinstance(document.get(key), str) or not document[key]:
            raise ImproperlyConfigured(f"database secret {secret_id}: no {key!r} in it")
    return Credentials(document["username"], document["password"])


class SecretCredentials:
    """The credentials of one secret for this process: ``get`` (cached), ``refresh``, ``pending``."""

    def __init__(self, secret_id: str, ttl: float = DEFAULT_TTL, client_factory: Callable = client_for,
                 clock: Callable[[], float] = time.monotonic):
        self.secret_id, self.ttl, self.clock = secret_id, ttl, clock
        self._client_factory, self._client = client_factory, None
        self._lock = threading.Lock()
        self._cached: Credentials | None = None
        self._expires = 0.0

    def get(self) -> Credentials:
        with self._lock:
            if self._cached is not None and self.clock() < self._expires:
                return self._cached
        return self.refresh()

    def refresh(self) -> Credentials:
        """Read ``AWSCURRENT`` now and cache it."""
        credentials = self.read(CURRENT)
        self.remember(credentials)
        return credentials

    def pending(self) -> Credentials | None:
        """The ``AWSPENDING`` version, or None when no rotation is in progress."""
        from botocore.exceptions import ClientError

        try:
            return self.read(PENDING)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return None
            raise

    def remember(self, credentials: Credentials) -> None:
        """Cache ``credentials`` (those that last logged in) for the TTL."""
        with self._lock:
            self._cached, self._expires = credentials, self.clock() + self.ttl

    def alternatives(self, refused: Credentials) -> Iterator[Credentials]:
        """What to try after ``refused`` was turned away: a changed ``AWSCURRENT``, then
        ``AWSPENDING``; each read only when the one before did not do."""
        current = self.refresh()
        if current != refused:
            yield current
        pending = self.pending()
        if pending is not None and pending not in (refused, current):
            yield pending

    def read(self, stage: str) -> Credentials:
        with self._lock:
            if self._client is None:
                self._client = self._client_factory(self.secret_id)
            client = self._client
        response = client.get_secret_value(SecretId=self.secret_id, VersionStage=stage)
        return parse(self.secret_id, response.get("SecretString"))


_stores: dict[tuple[str, float], SecretCredentials] = {}
_stores_lock = threading.Lock()


def credentials_store(secret_id: str, ttl: float = DEFAULT_TTL) -> SecretCredentials:
    """One store per secret and TTL in this process (the primary and the replica share it)."""
    with _stores_lock:
        return _stores.setdefault((secret_id, ttl), SecretCredentials(secret_id, ttl))
