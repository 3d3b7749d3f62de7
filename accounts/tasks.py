from celery import shared_task
from django.conf import settings
from django.core.mail import EmailMultiAlternatives

from accounts.verification.emails import compose


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_verification_email(email: str, link: str) -> None:
    """Send the verification e-mail through Django's configured e-mail backend."""
    message = compose(link, settings.VERIFICATION_TOKEN_TTL)
    mail = EmailMultiAlternatives(message["subject"], message["text"], to=[email])
    mail.attach_alternative(message["html"], "text/html")
    mail.send()
