"""The SNS dispatcher (AWS): a Celery task publishes ``{email, token, link}`` to the topic.

The topic's Lambda (``deploy/lambda``) composes and sends the e-mail through SES. Only the user's
id is queued; the task issues the token and builds the link (``accounts.tasks``).
"""


class SNSDispatcher:
    def dispatch(self, user_id: str) -> None:
        from accounts.tasks import publish_verification

        publish_verification.delay(user_id)
