"""Rotate the app user's database password, as Secrets Manager's four rotation steps.

AWS's "How rotation works" (Secrets Manager User Guide) names the steps a rotation function takes;
this module runs the same steps from the operator's machine, with the SQL going through an
executor (the db-admin Lambda inside the VPC, or in-process against a reachable host):

1. ``create_secret``: a new password as the ``AWSPENDING`` version of the app secret
   (``PutSecretValue`` with ``VersionStages=["AWSPENDING"]`` and a ``ClientRequestToken``, so a
   retried call never makes a second version). A pending version left by an interrupted run is
   reused.
2. ``set_secret``: the database gets the pending password (``ALTER USER``), keeping the current one
   as the secondary password where the server has dual passwords (MySQL 8.0.14+, RDS MySQL 8.4);
   skipped when the pending password already logs in.
3. ``test_secret``: a login with the pending password, as the app user, into its database.
4. ``finish_secret``: ``AWSCURRENT`` moves to the pending version (``UpdateSecretVersionStage``),
   and ``AWSPENDING`` is taken off it, so no rotation looks in progress.
Then the old password is discarded where dual passwords kept it.

Every step is idempotent: an interrupted rotation is finished by running it again. The app keeps
serving throughout: its backend (``cloudsite.db_backends.mysql``) retries a refused login with the
re-read secret and with ``AWSPENDING``. No password is printed, logged or put in an error.
"""
from __future__ import annotations

import json
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Callable, Protocol

from provisioning import db_admin_invoke
from provisioning.db_admin_invoke import mask

CURRENT, PENDING = "AWSCURRENT", "AWSPENDING"
PASSWORD_BYTES = 32  # token_urlsafe: 43 characters of A-Z a-z 0-9 - _ (no quoting trouble anywhere)


class RotationError(Exception):
    """A step failed; the message is one line without any password."""


class Executor(Protocol):
    def __call__(self, payload: dict) -> dict: ...


@dataclass(frozen=True)
class Database:
    """Where the app's database is, and the master user's credentials (from the master secret)."""

    host: str
    port: int
    name: str
    admin: dict = field(repr=False)


@dataclass(frozen=True)
class Pending:
    version_id: str
    document: dict = field(repr=False)  # the app secret's JSON with the new password

    @property
    def user(self) -> dict:
        return {"username": self.document["username"], "password": self.document["password"]}


# --- executors -----------------------------------------------------------------------------------
def checked(result: dict, payload: dict) -> dict:
    """The handler's answer, or a RotationError with its one-line error."""
    if not isinstance(result, dict) or result.get("ok") is not True:
        error = result.get("error") if isinstance(result, dict) else None
        raise RotationError(f"db-admin {payload['action']}: {mask(str(error or result), payload)}")
    return result


class LambdaExecutor:
    """Invokes the db-admin Lambda synchronously (it runs in the VPC, next to the database)."""

    def __init__(self, lambda_client, function_name: str):
        self.client, self.function_name = lambda_client, function_name

    def __call__(self, payload: dict) -> dict:
        result, failed = db_admin_invoke.invoke(self.client, self.function_name, payload)
        if failed:
            raise RotationError(f"db-admin function {self.function_name} failed on {payload['action']}: "
                                f"{mask(function_error(result), payload)}")
        return checked(result, payload)


def function_error(error) -> str:
    """``errorType: errorMessage`` of a Lambda function error (never its stack trace)."""
    if not isinstance(error, dict):
        return "an error without details"
    return f"{error.get('errorType', 'Error')}: {error.get('errorMessage', '')}".strip()


class DirectExecutor:
    """Runs the db-admin handler in this process against ``host:port`` (an SSM port forward, or a
    local server in tests). ``tls`` verifies against ``ca_bundle`` (the RDS CA bundle's path);
    through a port forward, ``host`` must then be the endpoint's name resolving to the forward."""

    def __init__(self, host: str, port: int, tls: bool = True, ca_bundle=None):
        self.host, self.port, self.tls, self.ca_bundle = host, port, tls, ca_bundle

    def __call__(self, payload: dict) -> dict:
        from deploy.db_admin import handler

        local = {**payload, "host": self.host, "port": self.port, "tls": self.tls}
        return checked(handler.execute(local, self.ca_bundle or handler.CA_BUNDLE), payload)


# --- the rotation --------------------------------------------------------------------------------
class Rotation:
    """The steps for one app secret; ``run`` does them all, ``plan`` says what ``run`` would do."""

    def __init__(self, secrets_client, secret_id: str, database: Database, execute: Executor,
                 say: Callable[[str], None] = lambda line: None,
                 new_password: Callable[[], str] = lambda: secrets.token_urlsafe(PASSWORD_BYTES)):
        self.client, self.secret_id, self.database = secrets_client, secret_id, database
        self.execute, self.say, self.new_password = execute, say, new_password

    # what is there
    def stages(self) -> dict[str, list[str]]:
        return self.client.describe_secret(SecretId=self.secret_id).get("VersionIdsToStages", {})

    def version_with(self, stage: str) -> str | None:
        return next((version for version, labels in self.stages().items() if stage in labels), None)

    def pending_version(self) -> str | None:
        """The ``AWSPENDING`` version of a rotation in progress (not the one that is current)."""
        found = [version for version, labels in self.stages().items()
                 if PENDING in labels and CURRENT not in labels]
        return found[0] if found else None

    def document(self, **version) -> dict:
        text = self.client.get_secret_value(SecretId=self.secret_id, **version).get("SecretString")
        try:
            document = json.loads(text)
        except (TypeError, ValueError):
            document = None
        if not isinstance(document, dict) or not document.get("username") or not document.get("password"):
            raise RotationError(f"secret {self.secret_id}: not a JSON object with a username and a password")
        return document

    def payload(self, action: str, user: dict, **extra) -> dict:
        db = self.database
        return {"action": action, "host": db.host, "port": db.port, "database": db.name,
                "admin": db.admin, "user": user, **extra}

    # the steps
    def create_secret(self) -> Pending:
        version = self.pending_version()
        if version:
            self.say(f"createSecret: resuming the pending version {version}")
            return Pending(version, self.document(VersionId=version, VersionStage=PENDING))
        current = self.document(VersionStage=CURRENT)
        version = str(uuid.uuid4())
        document = {**current, "password": self.new_password()}
        self.client.put_secret_value(SecretId=self.secret_id, ClientRequestToken=version,
                                     SecretString=json.dumps(document), VersionStages=[PENDING])
        self.say(f"createSecret: new pending version {version}")
        return Pending(version, document)

    def logs_in(self, user: dict) -> bool:
        try:
            self.execute(self.payload("test_login", user))
            return True
        except RotationError:
            return False

    def set_secret(self, pending: Pending) -> None:
        if self.logs_in(pending.user):
            self.say("setSecret: the database already has the pending password")
            return
        result = self.execute(self.payload("set_password", pending.user, retain_current=True))
        kept = "the old one kept as the secondary password" if result.get("retained") else \
            "this server keeps no old password"
        self.say(f"setSecret: the pending password is set ({kept})")

    def test_secret(self, pending: Pending) -> None:
        self.execute(self.payload("test_login", pending.user))
        self.say("testSecret: the app user logs in with the pending password")

    def finish_secret(self, pending: Pending) -> None:
        current = self.version_with(CURRENT)
        if current != pending.version_id:
            self.client.update_secret_version_stage(SecretId=self.secret_id, VersionStage=CURRENT,
                                                    MoveToVersionId=pending.version_id,
                                                    RemoveFromVersionId=current)
        if PENDING in self.stages().get(pending.version_id, []):
            self.client.update_secret_version_stage(SecretId=self.secret_id, VersionStage=PENDING,
                                                    RemoveFromVersionId=pending.version_id)
        self.say(f"finishSecret: AWSCURRENT is version {pending.version_id}")

    def discard_old(self, pending: Pending) -> None:
        result = self.execute(self.payload("discard_old_password", pending.user))
        if result.get("discarded"):
            self.say("the old password is discarded")

    def run(self) -> str:
        """All the steps; returns the version that is now ``AWSCURRENT``."""
        pending = self.create_secret()
        self.set_secret(pending)
        self.test_secret(pending)
        self.finish_secret(pending)
        self.discard_old(pending)
        return pending.version_id

    def plan(self) -> list[str]:
        """What ``run`` would do, from the secret's metadata alone (no value read, nothing changed)."""
        version = self.pending_version()
        first = (f"createSecret: resume the pending version {version}" if version
                 else "createSecret: put a new password as a new AWSPENDING version")
        return [first, "setSecret: set it for the app user in the database (keeping the old one "
                "where the server has dual passwords)", "testSecret: log in with it",
                f"finishSecret: move AWSCURRENT (now {self.version_with(CURRENT)}) to it",
                "then discard the old password where it was kept"]
