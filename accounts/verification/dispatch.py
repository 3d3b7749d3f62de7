"""The embedded dispatcher: a Celery task sends the e-mail through Django's e-mail backend.

Interface (the SNS dispatcher implements the same): ``dispatch(user_id)``, called after the
transaction that stored the account commits; it must not block the request on delivery. The task
issues the token and builds the link itself (``accounts.tasks``): only the id is queued.
"""


class EmailDispatcher:
    def dispatch(self, user_id: str) -> None:
        from accounts.tasks import send_verification_email

        send_verification_email.delay(user_id)
