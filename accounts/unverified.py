"""Unverified accounts expire after ``UNVERIFIED_TTL`` seconds, so nobody can squat an address.

``manage.py remove_unverified_accounts`` (a systemd timer on every instance) deletes them; a
sign-up with the address of one is accepted at once, even before the timer ran (the serializer
calls ``release_address``). Each removal locks the account's row and checks it again, in its own
transaction: a link followed at that moment (the verify view locks the same row) either verifies
the account first, which then stays, or finds it gone; two instances removing at once delete each
account once. The embedded store's pending tokens for the address go with it; the DynamoDB store's
expire by the table's TTL (a token lives ``VERIFICATION_TOKEN_TTL``, far less than this).
"""
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import User, VerificationToken, username_key


def _cutoff(now=None):
    return (now or timezone.now()) - timedelta(seconds=settings.UNVERIFIED_TTL)


def expired(now=None):
    """Accounts created more than the TTL ago and still unverified (staff accounts, made by an
    operator, never expire), on the primary."""
    return User.objects.using("default").filter(verified=False, is_staff=False,
                                                account_created__lt=_cutoff(now))


def is_expired(user: User, now=None) -> bool:
    return not user.verified and not user.is_staff and user.account_created < _cutoff(now)


def _remove_locked(accounts) -> int:
    """Delete the (at most one) account of ``accounts`` still expired once its row is locked."""
    with transaction.atomic(using="default"):
        user = accounts.select_for_update().first()
        if user is None:
            return 0  # verified or removed meanwhile
        VerificationToken.objects.using("default").filter(email_key=user.username_key).delete()
        user.delete()
        return 1


def remove_expired(now=None) -> int:
    """Delete every expired account; returns how many this call deleted."""
    ids = list(expired(now).values_list("pk", flat=True))
    return sum(_remove_locked(expired(now).filter(pk=pk)) for pk in ids)


def release_address(username: str) -> None:
    """Delete the expired account holding ``username``'s address, if any (before a sign-up)."""
    _remove_locked(expired().filter(username_key=username_key(username)))
