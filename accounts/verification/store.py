"""The embedded token store: a database table.

Interface (the DynamoDB store implements the same):
``issue(email) -> token`` makes a fresh token and makes every older one for that address invalid;
``check(email, token) -> TokenState``; ``consume(email, token) -> bool`` marks a valid token used,
once (True only for the call that consumed it).
"""
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import VerificationToken, username_key
from accounts.verification.tokens import TokenState, new_token, token_digest


class DatabaseTokenStore:
    def issue(self, email: str) -> str:
        token = new_token()
        with transaction.atomic():
            VerificationToken.objects.filter(email_key=username_key(email)).delete()
            VerificationToken.objects.create(
                digest=token_digest(token),
                email_key=username_key(email),
                expires_at=timezone.now() + timedelta(seconds=settings.VERIFICATION_TOKEN_TTL),
            )
        return token

    def check(self, email: str, token: str) -> TokenState:
        row = (
            VerificationToken.objects.using("default")
            .filter(digest=token_digest(token), email_key=username_key(email))
            .first()
        )
        if row is None:
            return TokenState.INVALID
        if row.used_at is not None:
            return TokenState.USED
        if row.expires_at <= timezone.now():
            return TokenState.INVALID
        return TokenState.VALID

    def consume(self, email: str, token: str) -> bool:
        updated = (
            VerificationToken.objects.filter(
                digest=token_digest(token),
                email_key=username_key(email),
                used_at__isnull=True,
                expires_at__gt=timezone.now(),
            )
            .update(used_at=timezone.now())
        )
        return updated == 1
