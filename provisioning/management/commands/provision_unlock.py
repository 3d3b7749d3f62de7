"""``manage.py provision_unlock --stack dev --lock-id ID [--force]``: break a stack's lock by hand.

For a run that is gone but whose lock cannot be taken over automatically yet: it ran on another
host (CI, a colleague's laptop) and its lease has not expired. The lock id is the one the refusing
run printed. A live lease (renewed by a run that may still be working) is refused unless
``--force``; a run whose lock is broken under it stops before its next change.
"""
from __future__ import annotations

from django.core.management.base import CommandError

from provisioning import locking
from provisioning.cli import EXIT_FAILED, ProvisioningCommand
from provisioning.locking.holder import iso, now


class Command(ProvisioningCommand):
    help = "Break a stack's lock (the id the refused run printed); a live lease needs --force."
    lock_mode = "none"

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--lock-id", required=True, help="the lock to break, as the refused run printed it")
        parser.add_argument("--force", action="store_true",
                            help="break it even though its holder renewed its lease recently (it may still run)")

    def run(self, options):
        ctx = self.context()
        table, wanted = locking.LockTable(ctx), options["lock_id"]
        holder = table.read()
        if holder is None:
            self.stdout.write(f"stack {ctx.stack} is not locked: nothing to do")
            return
        if holder.lock_id != wanted:
            raise CommandError(f"stack {ctx.stack} is locked by {holder.describe()}, not by lock id {wanted}: "
                               "nothing was changed", returncode=EXIT_FAILED)
        alive = not holder.gone() and not holder.expired(now())
        if alive and not options["force"]:
            raise CommandError(
                f"lock {wanted} of stack {ctx.stack} is live: {holder.describe()}, its lease runs until "
                f"{iso(holder.expires)}; if you are sure that run is gone, add --force", returncode=EXIT_FAILED)
        if not table.remove(wanted):
            raise CommandError(f"lock {wanted} of stack {ctx.stack} changed hands meanwhile: run "
                               "provision_status to see who holds it now", returncode=EXIT_FAILED)
        self.stdout.write(f"broke lock {wanted} of stack {ctx.stack}, held by {holder.describe()}"
                          + (" (its lease was live: that run stops before its next change)" if alive else ""))
