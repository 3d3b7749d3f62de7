"""The embedded dispatcher: a Celery task sends the e-mail through Django's e-mail backend.

Interface (the SNS dispatcher implements the same): ``dispatch(email, token)``, called after the
transaction that stored the token commits; it must not block the request on delivery.
"""
from django.conf import settings

from accounts.verification.emails import verification_link


class EmailDispatcher:
    def dispatch(self, email: str, token: str) -> None:
        from accounts.tasks import enqueue_redacted, send_verification_email

        link = verification_link(settings.PUBLIC_BASE_URL, email, token)
        enqueue_redacted(send_verification_email, email, link)
