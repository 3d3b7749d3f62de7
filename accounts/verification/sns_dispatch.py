"""The SNS dispatcher (AWS): a Celery task publishes ``{email, token, link}`` to the topic.

The topic's Lambda (``deploy/lambda``) composes and sends the e-mail through SES.
"""
from django.conf import settings

from accounts.verification.emails import verification_link


class SNSDispatcher:
    def dispatch(self, email: str, token: str) -> None:
        from accounts.tasks import enqueue_redacted, publish_verification

        link = verification_link(settings.PUBLIC_BASE_URL, email, token)
        enqueue_redacted(publish_verification, email, token, link)
