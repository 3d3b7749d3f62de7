"""``manage.py local_cloud`` (``make cloud``): every AWS code path on this machine, no AWS account.

An EMULATION: a moto_server on loopback stands in for AWS. The whole ``local`` stack
(deploy/stacks/local.toml: the dev stack's shape) is provisioned into it with ``provision_all``,
then the app runs here with the stack's real settings pointed at it: pictures in its S3 bucket
(SSE-KMS), verification tokens in its DynamoDB table, the verification message published to its
SNS topic by a Celery worker (Redis as the broker), and the topic's Lambda run from its deployment
zip (moto would need Docker), sending through the emulated SES; the link is printed here. The
app's database is SQLite under var/cloud: moto's RDS answers the API but is no MySQL server.

The data layer's db-admin function (which makes the app's database user) needs a MySQL: its
invocations run its handler against the MariaDB on loopback named by CLOUDSITE_EMULATOR_MYSQL
(default ``mysql://root@127.0.0.1:3306``; devkit/emulator.py), where the emulated primary's master
user and the app user are made as RDS would have them. Its zip carries a placeholder CA bundle
unless CLOUDSITE_RDS_CA_BUNDLE names one: the emulated database is reached without TLS.
Everything else is gone when the command stops.
"""
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import boto3
from django.core.management.base import BaseCommand, CommandError

from devkit import live
from devkit.emulator import MYSQL_ENV, BakeScriptStandIn, EmulatedMysql, LambdaStandIn

STACK, REGION = "local", "us-east-1"
DEFAULT_MYSQL = "mysql://root@127.0.0.1:3306"
PLACEHOLDER_CA = ("-----BEGIN CERTIFICATE-----\n(placeholder: the emulated database has no TLS)\n"
                  "-----END CERTIFICATE-----\n")


class Command(BaseCommand):
    help = "Run the app against a whole emulated stack (moto_server on loopback): make cloud."
    requires_system_checks: list = []

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000, help="the app's port (default 8000)")
        parser.add_argument("--broker", default=os.environ.get("CELERY_BROKER_URL") or "redis://127.0.0.1:6379/0",
                            help="Celery's broker (default redis://127.0.0.1:6379/0)")

    def handle(self, *args, **options):
        try:
            self.run(**options)
        except KeyboardInterrupt:
            self.stderr.write("stopped by Ctrl-C; the emulated stack is gone with its moto_server")

    def run(self, *, port, broker, **options):
        self._check_broker(broker)
        self._check_mysql()
        workdir = Path(live.REPO) / "var" / "cloud"
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "db.sqlite3").unlink(missing_ok=True)  # the emulated stack starts empty: so does its data
        ca_bundle = os.environ.get("CLOUDSITE_RDS_CA_BUNDLE")
        if not ca_bundle:
            ca_bundle = str(workdir / "placeholder-rds-ca.pem")
            Path(ca_bundle).write_text(PLACEHOLDER_CA)
        with live.moto_server(workdir / "moto.log", env={"MOTO_EC2_LOAD_DEFAULT_AMIS": "false"}) as endpoint:
            self.stdout.write(f"emulated AWS (moto_server) at {endpoint}; provisioning stack {STACK}")
            aws_env = {**os.environ, **live.FAKE_AWS, "AWS_ENDPOINT_URL": endpoint,
                       "CLOUDSITE_RDS_CA_BUNDLE": ca_bundle}
            with BakeScriptStandIn(endpoint, STACK, REGION):
                done = subprocess.run([sys.executable, "manage.py", "provision_all", "--stack", STACK],
                                      cwd=live.REPO, env=aws_env)
            if done.returncode:
                raise CommandError("provision_all failed against the emulator (see above)")
            outputs = self._outputs(endpoint)
            app_env = live.app_environment(
                workdir, endpoint, outputs["data/app-bucket"], outputs["data/s3-key-arn"],
                DJANGO_SECRET_KEY="", CLOUDSITE_STACK=STACK, CELERY_BROKER_URL=broker,
                CLOUDSITE_REQUIRE_SHARED_CACHE="false",  # one runserver process: its cache is shared
                CELERY_TASK_ALWAYS_EAGER="false",
                CLOUDSITE_VERIFICATION_TABLE=outputs["data/token-table"],
                CLOUDSITE_VERIFICATION_TOPIC_ARN=outputs["pipeline/topic-arn"],
                CLOUDSITE_PUBLIC_BASE_URL=f"http://127.0.0.1:{port}")
            app_env.pop("TMPDIR")
            live.manage(app_env, "migrate", "--noinput", "-v0")
            mail = LambdaStandIn(endpoint, STACK, REGION, outputs["pipeline/topic-arn"],
                                 Path(tempfile.mkdtemp(dir=workdir)), outputs["data/token-table"],
                                 outputs["pipeline/sender"], on_sent=self._print_mail)
            mail.start()
            with live.celery_worker(app_env, workdir / "worker.log"):
                self.stdout.write(
                    f"\ncloudsite on the emulated stack: http://127.0.0.1:{port}/v1/user  "
                    f"(docs /v1/docs; bucket {outputs['data/app-bucket']}, table "
                    f"{outputs['data/token-table']}; worker log {workdir / 'worker.log'}). "
                    "Ctrl-C stops everything; the emulated stack goes with it.\n")
                try:
                    subprocess.run([sys.executable, "manage.py", "runserver", "--noreload",
                                    f"127.0.0.1:{port}"], cwd=live.REPO, env=app_env)
                finally:
                    mail.stop()

    def _print_mail(self, message):
        self.stdout.write(f"[emulated SES] verification e-mail to {message['email']}: {message['link']}")

    @staticmethod
    def _outputs(endpoint) -> dict:
        ssm = boto3.client("ssm", endpoint_url=endpoint, region_name=REGION,
                           aws_access_key_id="testing", aws_secret_access_key="testing")
        prefix = f"/cloudsite/{STACK}/"
        pages = ssm.get_paginator("get_parameters_by_path").paginate(Path=prefix, Recursive=True)
        return {p["Name"][len(prefix):]: p["Value"] for page in pages for p in page["Parameters"]}

    @staticmethod
    def _check_mysql():
        """The emulated db-admin function runs its SQL on a MariaDB on loopback (one line if not)."""
        import pymysql

        os.environ.setdefault(MYSQL_ENV, DEFAULT_MYSQL)  # the moto_server process inherits it
        try:
            mysql = EmulatedMysql.from_environment()
        except ValueError as error:
            raise CommandError(str(error))
        try:
            mysql.connect().close()
        except pymysql.err.MySQLError as error:
            raise CommandError(f"{MYSQL_ENV}={os.environ[MYSQL_ENV]}: no MariaDB answers there ({error.args[0]}); "
                               "start one on loopback or point the variable at one: the emulated stack's "
                               "db-admin function makes the database users there")

    @staticmethod
    def _check_broker(broker):
        import redis

        url = urlsplit(broker)
        if url.scheme != "redis" or url.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise CommandError(f"--broker {broker}: expected Redis on loopback, e.g. redis://127.0.0.1:6379/0")
        try:
            redis.Redis.from_url(broker, socket_connect_timeout=2).ping()
        except redis.RedisError as error:
            raise CommandError(f"Redis at {broker} does not answer ({error}); start it "
                               "(redis-server --daemonize yes) or pass --broker")
