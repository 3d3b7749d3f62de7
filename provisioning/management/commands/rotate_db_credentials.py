"""``manage.py rotate_db_credentials --stack dev [--direct HOST:PORT] [--plan]``: a new password for
the app's database user, with the app serving throughout (``provisioning/db_rotation.py``).

It reads the data layer's outputs (``/cloudsite/<stack>/data/``: the database's endpoint, port and
name, the app and master secrets, the db-admin function) and the master secret, and runs the SQL
through the db-admin Lambda, or with ``--direct HOST:PORT`` in this process against a host this
machine reaches (an SSM port forward; ``--ca-bundle`` names the RDS CA bundle, ``--no-tls`` only
for a server without TLS). Interrupted, the same command finishes the rotation. ``--plan`` says
what it would do and changes nothing.
"""
from __future__ import annotations

import json

from django.core.management.base import CommandError

from provisioning.cli import EXIT_FAILED, EXIT_USAGE, ProvisioningCommand
from provisioning.db_rotation import Database, DirectExecutor, LambdaExecutor, Rotation, RotationError

NEEDED = ("db-endpoint", "db-port", "db-name", "db-app-secret-arn", "db-master-secret-arn")


def host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise CommandError(f"--direct {text!r}: expected HOST:PORT", returncode=EXIT_USAGE)
    return host.strip("[]"), int(port)


class Command(ProvisioningCommand):
    help = "Rotate the app user's database password (Secrets Manager's four steps); --plan shows them."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--plan", action="store_true", help="say what would be done and change nothing")
        parser.add_argument("--direct", metavar="HOST:PORT",
                            help="run the SQL from here against HOST:PORT instead of the db-admin Lambda")
        parser.add_argument("--ca-bundle", help="with --direct: the RDS CA bundle to verify the server with")
        parser.add_argument("--no-tls", action="store_true",
                            help="with --direct: connect without TLS (a local server without TLS only)")

    def run(self, options):
        direct = host_port(options["direct"]) if options["direct"] else None
        ctx = self.context(dry_run=options["plan"])
        outputs = self.outputs(ctx, need_function=direct is None)
        secrets = ctx.client("secretsmanager")
        # with --json, stdout carries one JSON object and the progress lines go to stderr
        say = self.stderr.write if options["json"] else self.stdout.write
        if options["plan"]:
            steps = Rotation(secrets, outputs["db-app-secret-arn"], None, None).plan()
            for line in steps:
                say(f"plan: {line}")
            say("plan only: nothing was changed")
            self.report(ok=True, plan=True, steps=steps)
            return
        if direct:
            execute = DirectExecutor(*direct, tls=not options["no_tls"], ca_bundle=options["ca_bundle"])
        else:
            execute = LambdaExecutor(ctx.client("lambda"), outputs["db-admin-function"])
        master = self.master(secrets, outputs["db-master-secret-arn"])
        database = Database(outputs["db-endpoint"], int(outputs["db-port"] or 3306), outputs["db-name"], master)
        rotation = Rotation(secrets, outputs["db-app-secret-arn"], database, execute, say=say)
        try:
            version = rotation.run()
        except RotationError as error:
            raise CommandError(f"{error}. Fix that, then run the same command again: it finishes the "
                               f"rotation", returncode=EXIT_FAILED) from None
        say(f"rotated the app's database password for stack {ctx.stack}: AWSCURRENT is version {version}")
        self.report(ok=True, plan=False, version=version)

    def report(self, **fields) -> None:
        if self.options["json"]:
            self.stdout.write(json.dumps({"stack": self.options["stack"], **fields}))

    def outputs(self, ctx, need_function: bool) -> dict[str, str]:
        path = f"/cloudsite/{ctx.stack}/data/"
        pages = ctx.client("ssm").get_paginator("get_parameters_by_path").paginate(Path=path)
        found = {p["Name"][len(path):]: p["Value"] for page in pages for p in page["Parameters"]}
        for key in NEEDED + (("db-admin-function",) if need_function else ()):
            if not found.get(key) or found[key].startswith("(not yet"):
                raise CommandError(f"parameter {path}{key} is missing: run provision_data --stack {ctx.stack}",
                                   returncode=EXIT_FAILED)
        return found

    def master(self, secrets, secret_id: str) -> dict:
        try:
            document = Rotation(secrets, secret_id, None, None).document(VersionStage="AWSCURRENT")
        except RotationError as error:
            raise CommandError(str(error), returncode=EXIT_FAILED) from None
        return {"username": document["username"], "password": document["password"]}
