"""What an emulated cloud cannot do by itself, done from outside: the builder's bake script, the
verification Lambda, the db-admin Lambda. Emulator-side code only: nothing in the product uses it.

moto runs no instance's user data, so a builder launched by ``provision_image`` would never write
its completion signal. ``BakeScriptStandIn`` watches the emulator for the stack's builder
instances and writes ``ok`` to each one's signal parameter, as the script would on a real
instance. Only for a ``moto_server`` on loopback (``make cloud``, the end-to-end test); it refuses
any other endpoint.

moto runs no Lambda code without Docker, and its RDS is no MySQL server. ``DbAdminStandIn``
answers an invocation of a stack's db-admin function (``naming.db_admin_function``) as Lambda
would: it runs the handler from the zip deployed to the emulated function, in a subprocess, against
a MariaDB on loopback named by ``CLOUDSITE_EMULATOR_MYSQL`` (``mysql://root@127.0.0.1:3306``). The
event's host and port are mapped to that server and ``tls`` is off (a test MariaDB has no RDS
certificate); first the emulated instance's master user is made there with the master password
the emulated RDS was given (what RDS does at CreateDBInstance), with the instance's database.
``CLOUDSITE_EMULATOR_MYSQL_USER_PREFIX`` / ``..._DATABASE_PREFIX`` put prefixes on the user and
database names (tests on a shared server). In-process (``mock_aws``) the provisioning tests'
conftest installs it as a botocore ``before-call`` hook; ``devkit.serial_moto`` routes the
function's invocations to it.
"""
from __future__ import annotations

import hashlib
import io
import ipaddress
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import zipfile
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import boto3

from provisioning import naming
from provisioning.context import RESOURCE_TAG, STACK_TAG
from provisioning.layers.image import BUILDER

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def on_loopback(host: str | None) -> bool:
    """``localhost``, ``::1`` or any address of 127.0.0.0/8 (all of it is the loopback interface:
    the instance test's database listens on 127.0.0.2)."""
    if host in LOOPBACK:
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def emulator_clients(endpoint: str, region: str, *services: str):
    """boto3 clients with fake credentials for the emulator at ``endpoint``, which must be on
    loopback: the stand-ins never talk to anything else."""
    if not on_loopback(urlsplit(endpoint).hostname):
        raise ValueError(f"{endpoint}: the stand-ins only talk to an emulator on loopback")
    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                            region_name=region)
    return [session.client(service, endpoint_url=endpoint) for service in services]


class BakeScriptStandIn(threading.Thread):
    def __init__(self, endpoint: str, stack: str, region: str, interval: float = 0.5):
        self.ec2, self.ssm = emulator_clients(endpoint, region, "ec2", "ssm")
        super().__init__(daemon=True, name="bake-script-stand-in")
        self.stack, self.interval = stack, interval
        self.signalled: set[str] = set()
        self._halt = threading.Event()

    def run(self):
        while not self._halt.wait(self.interval):
            for instance_id in self.live_builders():
                if instance_id not in self.signalled:
                    self.ssm.put_parameter(Name=naming.bake_signal(self.stack, instance_id),
                                           Value="ok", Type="String", Overwrite=True)
                    self.signalled.add(instance_id)

    def live_builders(self) -> list[str]:
        pages = self.ec2.get_paginator("describe_instances").paginate(Filters=[
            {"Name": f"tag:{STACK_TAG}", "Values": [self.stack]},
            {"Name": f"tag:{RESOURCE_TAG}", "Values": [BUILDER]},
            {"Name": "instance-state-name", "Values": ["pending", "running"]}])
        return [i["InstanceId"] for page in pages for r in page["Reservations"] for i in r["Instances"]]

    def stop(self):
        self._halt.set()
        self.join(timeout=10)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()


class LambdaStandIn(threading.Thread):
    """Runs the verification Lambda for the emulated topic, as Lambda would (moto needs Docker to
    run a function): a queue subscribed to the topic stands in for the subscription, and each
    message is handed to the handler from the deployment zip, which sends through moto's SES.
    ``on_sent(message)`` is told of each one (``make cloud`` prints the link)."""

    def __init__(self, endpoint: str, stack: str, region: str, topic_arn: str, workdir,
                 table: str, sender: str, on_sent=None, interval: float = 0.25):
        self.sqs, sns = emulator_clients(endpoint, region, "sqs", "sns")
        super().__init__(daemon=True, name="lambda-stand-in")
        self.queue_url = self.sqs.create_queue(QueueName=f"{naming.topic(stack)}-lambda-tap")["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
        self.env = {"AWS_ENDPOINT_URL": endpoint, "TABLE_NAME": table, "SENDER": sender,
                    "AWS_DEFAULT_REGION": region, "AWS_ACCESS_KEY_ID": "testing",
                    "AWS_SECRET_ACCESS_KEY": "testing"}
        self.workdir, self.on_sent, self.interval = workdir, on_sent, interval
        self._halt = threading.Event()

    def run(self):
        import os

        from deploy.lambda_zip import import_handler

        os.environ.update(self.env)  # the handler's boto3 clients read these, as on Lambda
        handler = import_handler(self.workdir)
        while not self._halt.is_set():
            # short polls: a long one would hold the serialised emulator (devkit.serial_moto)
            answer = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10,
                                              WaitTimeSeconds=0)
            if not answer.get("Messages"):
                self._halt.wait(self.interval)
            for message in answer.get("Messages", []):
                envelope = json.loads(message["Body"])
                record = {"EventSource": "aws:sns", "EventVersion": "1.0",
                          "Sns": {**envelope, "Type": "Notification"}}
                result = handler.lambda_handler({"Records": [record]}, None)
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
                if result.get("sent") and self.on_sent:
                    self.on_sent(json.loads(envelope["Message"]))

    def stop(self):
        self._halt.set()
        self.join(timeout=10)


# --- the db-admin Lambda ---------------------------------------------------------------------
MYSQL_ENV = "CLOUDSITE_EMULATOR_MYSQL"
USER_PREFIX_ENV = "CLOUDSITE_EMULATOR_MYSQL_USER_PREFIX"
DATABASE_PREFIX_ENV = "CLOUDSITE_EMULATOR_MYSQL_DATABASE_PREFIX"
DB_ADMIN_SUFFIX = "-db-admin"  # naming.db_admin_function(stack) ends so
INVOCATION_PATH = re.compile(r"^/2015-03-31/functions/([^/]+)/invocations/?$")  # Lambda's Invoke
HANDLER_TIMEOUT = 120
# Runs in the subprocess, in the unpacked zip, as Lambda's runtime would: the event on stdin, the
# answer on stdout; an exception is Lambda's "Unhandled" function error.
RUNNER = """
import json, sys, traceback
sys.path.insert(0, ".")
event = json.load(sys.stdin)
try:
    import handler
    print(json.dumps({"result": handler.handler(event, None)}))
except Exception as error:
    print(json.dumps({"errorMessage": str(error), "errorType": type(error).__name__}))
"""


@dataclass(frozen=True)
class EmulatedMysql:
    host: str
    port: int
    user: str
    password: str
    user_prefix: str = ""
    database_prefix: str = ""

    @classmethod
    def from_environment(cls, env=None) -> "EmulatedMysql | None":
        """The server named by ``CLOUDSITE_EMULATOR_MYSQL`` (None when unset); loopback only."""
        env = os.environ if env is None else env
        url = env.get(MYSQL_ENV)
        if not url:
            return None
        parts = urlsplit(url)
        if parts.scheme != "mysql" or not on_loopback(parts.hostname):
            raise ValueError(f"{MYSQL_ENV}={url}: expected mysql://user[:password]@127.0.0.1:port (loopback only)")
        return cls(parts.hostname, parts.port or 3306, unquote(parts.username or "root"),
                   unquote(parts.password or ""), env.get(USER_PREFIX_ENV, ""), env.get(DATABASE_PREFIX_ENV, ""))

    def connect(self):
        import pymysql

        return pymysql.connect(host=self.host, port=self.port, user=self.user, password=self.password,
                               autocommit=True, connect_timeout=5)

    @property
    def shared(self) -> bool:
        """With prefixes the server is shared (tests): names also carry the emulated instance."""
        return bool(self.user_prefix or self.database_prefix)

    def user_name(self, name: str, scope: str = "") -> str:
        return self.user_prefix + (f"{scope}_" if self.shared and scope else "") + name

    def database_name(self, name: str, scope: str = "") -> str:
        return self.database_prefix + (f"{scope}_" if self.shared and scope else "") + name


def function_name_of(reference: str) -> str:
    """A function's name from its name or ARN (``arn:aws:lambda:r:a:function:name[:qualifier]``)."""
    reference = unquote(reference)
    return reference.split(":function:", 1)[1].split(":", 1)[0] if ":function:" in reference else reference


def is_db_admin(reference: str) -> bool:
    return function_name_of(reference).endswith(DB_ADMIN_SUFFIX)


class DbAdminStandIn:
    """Answers the db-admin function's invocations from moto's own state (the zip deployed to the
    function, the master password given to the emulated RDS); ``lock`` is held while moto's
    backends are read (``devkit.serial_moto``'s, in the server)."""

    def __init__(self, mysql: "EmulatedMysql | None | str" = "environment", lock=None):
        """``mysql``: the server; by default the one ``CLOUDSITE_EMULATOR_MYSQL`` names (None: none)."""
        self.mysql = EmulatedMysql.from_environment() if mysql == "environment" else mysql
        self.lock = lock or threading.RLock()
        self.made: set[tuple[str, str]] = set()  # ("user" | "database", name) made on the server

    def names(self, host: str, account: str = "123456789012") -> dict:
        """The server-side names of the emulated instance at ``host``: ``{"scope", "database",
        "user": callable}`` (tests log in as the app would)."""
        with self.lock:
            _, instance = self._moto_state("", host, account)
        scope = instance[3]
        return {"scope": scope, "database": self.mysql.database_name(instance[2] or naming.DB_NAME, scope),
                "user": lambda name: self.mysql.user_name(name, scope)}

    def invoke(self, function: str, payload: bytes, account: str = "123456789012") -> tuple[str | None, bytes]:
        """(Lambda's function error or None, the response payload), as Lambda's Invoke answers."""
        try:
            event = json.loads(payload or b"{}")
        except ValueError:
            return "Unhandled", json.dumps({"errorMessage": "the payload is not JSON",
                                            "errorType": "InvalidRequestContentException"}).encode()
        if self.mysql is None:
            return None, json.dumps({"ok": False, "action": event.get("action"), "error": (
                f"the emulator has no MySQL to run the db-admin function against: set {MYSQL_ENV}="
                "mysql://root@127.0.0.1:3306 (a MariaDB on loopback)")}).encode()
        with self.lock:
            code, instance = self._moto_state(function_name_of(function), event.get("host"), account)
        if code is None:
            return "Unhandled", json.dumps({"errorMessage": f"no emulated function {function}",
                                            "errorType": "ResourceNotFoundException"}).encode()
        if instance is None:
            return "Unhandled", json.dumps({
                "errorMessage": f"[Errno -2] Name or service not known: {event.get('host')}",
                "errorType": "OperationalError"}).encode()
        self._as_rds_did(*instance)
        mapped = self._mapped(event, instance[3])
        if isinstance(mapped.get("user"), dict) and event.get("action") == "ensure_app_user":
            self.made.add(("user", mapped["user"]["username"]))
        answer = self._run(code, mapped)
        if "result" in answer:
            return None, json.dumps(answer["result"]).encode()
        return "Unhandled", json.dumps(answer).encode()

    @staticmethod
    def _moto_state(function: str, host, account: str):
        """The function's deployed zip, and (master user, password, database) of the emulated
        instance at ``host`` (None when no instance has that address)."""
        from moto.awslambda.exceptions import UnknownFunctionException
        from moto.awslambda.models import lambda_backends
        from moto.rds.models import rds_backends

        code = instance = None
        for backend in lambda_backends[account].values():
            try:
                code = backend.get_function(function).code_bytes
            except UnknownFunctionException:  # not in this region
                continue
        for backend in rds_backends[account].values():
            for database in backend.databases.values():
                if database.address == host:
                    # moto keeps what CreateDBInstance / ModifyDBInstance were given; its
                    # DbiResourceId is one constant, so the object stands for the instance
                    scope = hashlib.sha256(f"{os.getpid()}:{id(database)}".encode()).hexdigest()[:6]
                    instance = (database.master_username, database._master_user_password, database.db_name, scope)
        return code, instance

    def _as_rds_did(self, username: str, password: str, database: str, scope: str) -> None:
        """The master user RDS makes at CreateDBInstance (all privileges, grantable), its password
        as the emulated RDS has it, and the instance's database."""
        user = self.mysql.user_name(username, scope)
        schema = self.mysql.database_name(database or naming.DB_NAME, scope)
        self.made.update({("user", user), ("database", schema)})
        with self.mysql.connect() as conn, conn.cursor() as cursor:
            cursor.execute("CREATE USER IF NOT EXISTS %s@'%%' IDENTIFIED BY %s", (user, password))
            cursor.execute("ALTER USER %s@'%%' IDENTIFIED BY %s", (user, password))
            cursor.execute("GRANT ALL PRIVILEGES ON *.* TO %s@'%%' WITH GRANT OPTION", (user,))
            cursor.execute(f"CREATE DATABASE IF NOT EXISTS `{schema}` CHARACTER SET utf8mb4")

    def _mapped(self, event: dict, scope: str) -> dict:
        mapped = {**event, "host": self.mysql.host, "port": self.mysql.port, "tls": False}
        if isinstance(event.get("database"), str):
            mapped["database"] = self.mysql.database_name(event["database"], scope)
        for role in ("admin", "user"):
            if isinstance(event.get(role), dict) and isinstance(event[role].get("username"), str):
                mapped[role] = {**event[role], "username": self.mysql.user_name(event[role]["username"], scope)}
        return mapped

    def drop_made(self) -> None:
        """Drop the users and databases this stand-in made (tests on a shared server)."""
        if not self.made or self.mysql is None:
            return
        with self.mysql.connect() as conn, conn.cursor() as cursor:
            for kind, name in sorted(self.made):
                if kind == "user":
                    cursor.execute("DROP USER IF EXISTS %s@'%%'", (name,))
                else:
                    cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        self.made.clear()

    @staticmethod
    def _run(code: bytes, event: dict) -> dict:
        with tempfile.TemporaryDirectory(prefix="db-admin-") as directory:
            zipfile.ZipFile(io.BytesIO(code)).extractall(directory)
            env = {"PATH": os.environ.get("PATH", ""), "PYTHONDONTWRITEBYTECODE": "1", "LANG": "C.UTF-8"}
            try:
                done = subprocess.run([sys.executable, "-I", "-c", RUNNER], cwd=directory, env=env,
                                      input=json.dumps(event), capture_output=True, text=True,
                                      timeout=HANDLER_TIMEOUT)
            except subprocess.TimeoutExpired:
                return {"errorMessage": f"Task timed out after {HANDLER_TIMEOUT} seconds", "errorType": "Timeout"}
        lines = done.stdout.strip().splitlines()
        if done.returncode or not lines:
            return {"errorMessage": (done.stderr.strip().splitlines() or ["no answer"])[-1],
                    "errorType": "Runtime.ExitError"}
        return json.loads(lines[-1])
