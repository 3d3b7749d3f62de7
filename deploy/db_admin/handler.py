"""The db-admin Lambda: runs the SQL that needs the database's master user, inside the VPC.

Invoked synchronously by the provisioning commands (``provisioning/db_rotation.py``), which read
the master and app secrets themselves and pass the credentials in the event, so this function
calls no AWS API (no NAT, no VPC endpoint, no IAM permission beyond its network interfaces):

    {"action": "ensure_app_user" | "set_password" | "discard_old_password" | "test_login",
     "host": str, "port": int, "database": str,
     "admin": {"username", "password"}, "user": {"username", "password"},
     "retain_current": bool,   # set_password: keep the old password as the secondary one
     "tls": bool}              # default true: verify the server against the RDS CA bundle

It answers ``{"ok": true, "action", "user"}`` (``set_password`` adds ``"retained"``: whether the
server kept the old password, false where it has no dual passwords), or ``{"ok": false, "action",
"error"}`` with one line: the MySQL error code and message, with any password of the event masked.
Nothing is logged; no password is ever returned.

TLS: the RDS CA bundle rides in the zip as ``rds-ca.pem`` (``deploy/db_admin_zip.py`` puts it
there at build time), so verification needs no network and follows the bundle AWS publishes.
"""
from __future__ import annotations

from pathlib import Path

import pymysql

try:
    from . import users  # in the repository: deploy.db_admin.users
except ImportError:  # in the Lambda zip, where both modules sit at the top
    import users

CA_BUNDLE = Path(__file__).resolve().parent / "rds-ca.pem"
CONNECT_TIMEOUT = 10  # seconds; the function's own timeout bounds the rest
ACTIONS = ("ensure_app_user", "set_password", "discard_old_password", "test_login")


class BadEvent(ValueError):
    """The event lacks a field or has one of the wrong type."""


def handler(event, context):
    return execute(event, CA_BUNDLE)


def execute(event, ca_bundle: Path) -> dict:
    """The handler's work, with the CA bundle's path as a parameter (the repository holds none:
    ``provisioning.db_rotation.DirectExecutor`` passes the operator's copy)."""
    action = event.get("action") if isinstance(event, dict) else None
    try:
        check_event(event)
        result = {"ok": True, "action": action, "user": event["user"]["username"]}
        result.update(run(event, Path(ca_bundle)) or {})
        return result
    except (ValueError, users.UnsupportedError) as error:  # BadEvent, a bad name
        return failure(action, event, str(error))
    except pymysql.err.MySQLError as error:
        return failure(action, event, describe(error))
    except Exception as error:  # never a traceback in the function's log: a frame could show a value
        return failure(action, event, f"unexpected {type(error).__name__}: {error}")


def run(event: dict, ca_bundle: Path) -> dict | None:
    """Do ``event["action"]``; returns extra answer fields, if any."""
    action, user = event["action"], event["user"]
    if action == "test_login":  # as the user, into its database: the login and the grant work
        with connect(event, ca_bundle, user, event["database"]) as conn, conn.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return None
    with connect(event, ca_bundle, event["admin"]) as conn:
        if action == "ensure_app_user":
            users.ensure_app_user(conn, event["database"], user["username"], user["password"],
                                  require_ssl=event.get("tls", True))
        elif action == "set_password":
            retain = bool(event.get("retain_current")) and users.supports_dual_passwords(conn)
            users.set_password(conn, user["username"], user["password"], retain_current=retain)
            return {"retained": retain}
        else:
            return {"discarded": users.discard_old_password(conn, user["username"])}
    return None


def connect(event: dict, ca_bundle: Path, credentials: dict, database: str | None = None):
    """A PyMySQL connection as ``credentials``; verified TLS unless the event says ``tls: false``."""
    options = {}
    if event.get("tls", True):
        if not ca_bundle.is_file():
            raise BadEvent(f"tls is on but there is no RDS CA bundle ({ca_bundle.name})")
        options = {"ssl_ca": str(ca_bundle), "ssl_verify_cert": True, "ssl_verify_identity": True}
    return pymysql.connect(host=event["host"], port=int(event["port"]), user=credentials["username"],
                           password=credentials["password"], database=database, autocommit=True,
                           connect_timeout=CONNECT_TIMEOUT, charset="utf8mb4", **options)


def check_event(event) -> None:
    if not isinstance(event, dict):
        raise BadEvent("invalid event: expected a JSON object")
    if event.get("action") not in ACTIONS:
        raise BadEvent(f"invalid event: action must be one of {', '.join(ACTIONS)}")
    for key, kind in (("host", str), ("port", int), ("database", str)):
        if not isinstance(event.get(key), kind) or isinstance(event.get(key), bool):
            raise BadEvent(f"invalid event: {key} must be a {kind.__name__}")
    roles = ("user",) if event["action"] == "test_login" else ("admin", "user")
    for role in roles:
        credentials = event.get(role)
        if not (isinstance(credentials, dict) and isinstance(credentials.get("username"), str)
                and isinstance(credentials.get("password"), str)):
            raise BadEvent(f"invalid event: {role} must hold a username and a password")
    users.check_name(event["user"]["username"])
    users.check_name(event["database"])


def describe(error: pymysql.err.MySQLError) -> str:
    """``MySQL 1045: Access denied for user ...``: one line, the server's own words."""
    if len(error.args) >= 2:
        return f"MySQL {error.args[0]}: {error.args[1]}"
    return f"MySQL error: {type(error).__name__}"


def failure(action, event, message: str) -> dict:
    return {"ok": False, "action": action, "error": mask(" ".join(str(message).split()), event)}


def mask(text: str, event) -> str:
    """Replace every password of the event in ``text`` (a server message may quote SQL)."""
    if isinstance(event, dict):
        for role in ("admin", "user"):
            password = event.get(role, {}).get("password") if isinstance(event.get(role), dict) else None
            if isinstance(password, str) and password:
                text = text.replace(password, "***")
    return text
