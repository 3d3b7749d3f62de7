"""Render the app's environment file on an instance, from the stack's SSM parameters and secrets.

    python -m deploy.render_env --stack dev --output /etc/cloudsite/env --owner cloudsite

Reads ``/cloudsite/<stack>/{network,data,compute,pipeline}/`` (SSM Parameter Store) and the Django
secret key (Secrets Manager), and writes ``KEY="value"`` lines for systemd's ``EnvironmentFile=``
that systemd and the hooks (``export_env_file`` in scripts/common.sh: nothing ``source``s the file)
read back literally whatever a value holds (``render``). The file is created with mode 0600 (owned
by the service user when run as root) and moved into place atomically, so no other user ever reads
it and a crash never leaves half a file. boto3 only (no Django). Nothing secret is printed or
logged: the only output is how many variables were written.

No database password goes into the file: ``DATABASE_URL`` / ``DATABASE_REPLICA_URL`` name the app
user only, and ``DATABASE_SECRET_ARN`` names the app user's secret, which the app reads at connect
time (``cloudsite.db_backends.mysql``), so a rotated password needs no re-render. The master
user's secret is never read here.
"""
from __future__ import annotations

import argparse
import os
import pwd
import re
import sys
import tempfile
from pathlib import Path
from urllib.parse import quote

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

LAYERS = ("network", "data", "compute", "pipeline")
DATABASE_CA_BUNDLE = "/etc/cloudsite/rds-ca.pem"
LOG_DIR = "/var/log/cloudsite"
STATIC_ROOT = "/opt/cloudsite/static"
VAR_DIR = "/var/lib/cloudsite"
CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 10})

# The parameters each variable comes from ("<layer>/<key>").
DB_ENDPOINT, DB_PORT, DB_NAME = "data/db-endpoint", "data/db-port", "data/db-name"
DB_USER, DB_APP_SECRET_ARN = "data/db-user", "data/db-app-secret-arn"
DB_REPLICA_ENDPOINT = "data/db-replica-endpoint"
APP_BUCKET, S3_KEY = "data/app-bucket", "data/s3-key-arn"
TOKEN_TABLE = "data/token-table"
TOPIC_ARN, QUEUE_URL = "pipeline/topic-arn", "pipeline/queue-url"
DOMAIN, DJANGO_SECRET_NAME = "pipeline/domain", "pipeline/django-secret-name"
APP_PORT = "network/app-port"  # [network] app_port: gunicorn's port (scripts/common.sh)


class MissingSetting(Exception):
    """A parameter the app needs is not there: the layer that writes it has not run."""


def read_parameters(ssm, stack: str) -> dict[str, str]:
    """``{"data/db-endpoint": ..., ...}`` for every layer's outputs."""
    found = {}
    for layer in LAYERS:
        path = f"/cloudsite/{stack}/{layer}/"
        for page in ssm.get_paginator("get_parameters_by_path").paginate(Path=path, WithDecryption=True):
            for parameter in page["Parameters"]:
                found[f"{layer}/{parameter['Name'][len(path):]}"] = parameter["Value"]
    return found


def database_url(endpoint: str, port: str, name: str, user: str) -> str:
    """``mysql://user@host:port/name``: no password, the backend reads it from the secret."""
    return f"mysql://{quote(user, safe='')}@{endpoint}:{port}/{name}"


def environment(stack: str, session: boto3.Session | None = None) -> dict[str, str]:
    session = session or boto3.Session()
    ssm = session.client("ssm", config=CLIENT_CONFIG)
    secrets = session.client("secretsmanager", config=CLIENT_CONFIG)
    params = read_parameters(ssm, stack)

    def need(key: str) -> str:
        if not params.get(key) or params[key].startswith("(not yet"):
            layer = key.split("/", 1)[0]
            raise MissingSetting(f"parameter /cloudsite/{stack}/{key} is missing: run provision_{layer} "
                                 f"--stack {stack}")
        return params[key]

    port, name, user = params.get(DB_PORT) or "3306", params.get(DB_NAME) or "cloudsite", need(DB_USER)
    domain = need(DOMAIN)
    env = {
        "CLOUDSITE_STACK": stack,
        "CLOUDSITE_APP_PORT": need(APP_PORT),
        "DATABASE_URL": database_url(need(DB_ENDPOINT), port, name, user),
        "DATABASE_SECRET_ARN": need(DB_APP_SECRET_ARN),
        "DATABASE_CA_BUNDLE": DATABASE_CA_BUNDLE,
        "CLOUDSITE_S3_BUCKET": need(APP_BUCKET),
        "CLOUDSITE_S3_KMS_KEY_ID": need(S3_KEY),
        "CLOUDSITE_VERIFICATION_TABLE": need(TOKEN_TABLE),
        "CLOUDSITE_VERIFICATION_TOPIC_ARN": need(TOPIC_ARN),
        "CELERY_BROKER_URL": "sqs://",
        "CLOUDSITE_SQS_QUEUE_URL": need(QUEUE_URL),
        "STATSD_HOST": "127.0.0.1",
        "LOG_FILE": f"{LOG_DIR}/app.log",  # the worker's unit points it at worker.log
        "DJANGO_SECRET_KEY": secrets.get_secret_value(SecretId=need(DJANGO_SECRET_NAME))["SecretString"],
        "DJANGO_ALLOWED_HOSTS": f"{domain},127.0.0.1,localhost",
        "DJANGO_BEHIND_PROXY": "true",
        "CLOUDSITE_NUM_PROXIES": "1",
        "CLOUDSITE_PUBLIC_BASE_URL": f"https://{domain}",
        "DJANGO_STATIC_ROOT": STATIC_ROOT,
        "CLOUDSITE_VAR_DIR": VAR_DIR,
        "AWS_REGION": session.region_name or "",
        # The stack has no shared cache yet (issue #17's ElastiCache comes with the data layer):
        # until render_env writes its CACHE_URL, the instances opt out of the start-up refusal and
        # each gunicorn worker throttles on its own memory, as before.
        "CLOUDSITE_REQUIRE_SHARED_CACHE": "false",
    }
    if params.get(DB_REPLICA_ENDPOINT) and not params[DB_REPLICA_ENDPOINT].startswith("(not yet"):
        env["DATABASE_REPLICA_URL"] = database_url(params[DB_REPLICA_ENDPOINT], port, name, user)
    return env


# Inside double quotes systemd's EnvironmentFile= parser unescapes exactly these four (its
# env-file.c, SHELL_NEED_ESCAPE; systemd.exec(5): the escapes of a POSIX shell's double quotes) and
# keeps every other character as it is, "$" and "`" included: it expands nothing. Escaping all four
# gives a line that reads back as the value in systemd, in the hooks' reader (export_env_file in
# scripts/common.sh), and even in a shell's double quotes, where a bare "$(" or "`" would run.
_ESCAPES = {"\\": "\\\\", '"': '\\"', "$": "\\$", "`": "\\`"}
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def quote_value(value: str) -> str:
    """``value`` as a double-quoted ``EnvironmentFile=`` value that systemd reads back literally."""
    return '"' + "".join(_ESCAPES.get(char, char) for char in value) + '"'


def has_control_character(value: str) -> bool:
    """A line break or another control character (tab aside): a line-by-line reader would split
    the value, and systemd drops a variable whose value holds a control character."""
    return any((ord(char) < 0x20 and char != "\t") or ord(char) == 0x7F for char in value)


def render(env: dict[str, str]) -> str:
    """systemd ``EnvironmentFile=`` lines, ``KEY="value"``, sorted. A value that cannot be written
    is refused by its variable's name alone (never the value: it may be a secret)."""
    lines = []
    for key, value in sorted(env.items()):
        if not _KEY.fullmatch(key):
            raise ValueError(f"{key!r} is not a valid environment variable name")
        if has_control_character(value):
            raise ValueError(f"{key}: a value with a line break or another control character cannot go "
                             "into an environment file")
        lines.append(f"{key}={quote_value(value)}")
    return "\n".join(lines) + "\n"


def write_private(path: Path, text: str, owner: str | None = None) -> None:
    """Write ``text`` to ``path`` with mode 0600 from its first byte, owned by ``owner``, atomically."""
    path = Path(path)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(descriptor, 0o600)
        if owner:
            user = pwd.getpwnam(owner)
            os.fchown(descriptor, user.pw_uid, user.pw_gid)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Render the app's environment file from SSM and Secrets Manager.")
    parser.add_argument("--stack", required=True)
    parser.add_argument("--output", required=True, type=Path)
    parser.add_argument("--owner", help="the service user who alone may read it (when run as root)")
    parser.add_argument("--region")
    args = parser.parse_args(argv)
    try:
        env = environment(args.stack, boto3.Session(region_name=args.region))
        write_private(args.output, render(env), args.owner)
    except (MissingSetting, ValueError) as error:  # both name a parameter or a variable, never a value
        print(f"render_env: {error}", file=sys.stderr)
        return 1
    except ClientError as error:  # AWS's messages name resources, never values
        info = error.response.get("Error", {})
        print(f"render_env: {info.get('Code')}: {info.get('Message')}", file=sys.stderr)
        return 1
    except Exception as error:  # never a traceback: a frame could show a value
        print(f"render_env: failed: {type(error).__name__}", file=sys.stderr)
        return 1
    print(f"render_env: wrote {len(env)} variables to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
