"""``manage.py migrate_locked``: migrate once, however many instances run the deploy hook at once.

Every instance of a deployment runs AfterInstall (all together with ``AllAtOnce``): each takes the
same database-wide lock (MySQL ``GET_LOCK``; a file lock on SQLite), and only the first finds
migrations to apply; the others wait for it, then find none and say so.
"""
from __future__ import annotations

import contextlib
import fcntl
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

LOCK_NAME = "cloudsite-migrate"


@contextlib.contextmanager
def database_lock(timeout: int):
    if connection.vendor == "mysql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT GET_LOCK(%s, %s)", [LOCK_NAME, timeout])
            if cursor.fetchone()[0] != 1:
                raise CommandError(f"another instance held the migration lock for {timeout}s")
            try:
                yield
            finally:
                cursor.execute("SELECT RELEASE_LOCK(%s)", [LOCK_NAME])
        return
    path = settings.VAR_DIR / f"{LOCK_NAME}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise CommandError(f"another process held the migration lock for {timeout}s") from None
                time.sleep(0.5)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class Command(BaseCommand):
    help = "Apply migrations under a database-wide lock: safe when several instances run it at once."

    def add_arguments(self, parser):
        parser.add_argument("--deployment", default="manual", help="the CodeDeploy deployment id (for the log)")
        parser.add_argument("--lock-timeout", type=int, default=900)
        parser.add_argument("--noinput", "--no-input", action="store_true")

    def handle(self, *args, **options):
        deployment = options["deployment"]
        with database_lock(options["lock_timeout"]):
            executor = MigrationExecutor(connection)
            plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
            if not plan:
                self.stdout.write(f"deployment {deployment}: no migrations to apply (already applied)")
                return
            self.stdout.write(f"deployment {deployment}: applying {len(plan)} migrations")
            call_command("migrate", interactive=False, verbosity=options["verbosity"], stdout=self.stdout)
