"""``manage.py remove_unverified_accounts``: delete accounts left unverified past
``CLOUDSITE_UNVERIFIED_TTL`` (``accounts.unverified``).

Idempotent and safe on every instance at once (the systemd timer ``cloudsite-remove-unverified``
runs it on each): every account is removed once, by whichever run locks it first. Prints only a
count: the addresses are usernames.
"""
from django.conf import settings
from django.core.management.base import BaseCommand

from accounts.unverified import remove_expired


class Command(BaseCommand):
    help = "Delete accounts still unverified CLOUDSITE_UNVERIFIED_TTL seconds after sign-up."

    def handle(self, *args, **options):
        removed = remove_expired()
        hours = settings.UNVERIFIED_TTL / 3600
        self.stdout.write(f"removed {removed} account{'s' if removed != 1 else ''} unverified "
                          f"for more than {hours:g} h")
