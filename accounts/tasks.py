"""Celery tasks of the verification flow."""
import json

from botocore.exceptions import ClientError, ConnectionError, HTTPClientError
from celery import shared_task
from django.conf import settings
from django.core.mail import EmailMultiAlternatives

from accounts.aws import client
from accounts.verification.emails import compose

# Errors worth another try later: botocore has already retried them a few times on the spot.
TRANSIENT_CODES = {"Throttling", "ThrottlingException", "ThrottledException", "RequestLimitExceeded",
                   "TooManyRequestsException", "InternalError", "InternalFailure",
                   "ServiceUnavailable", "KMSThrottlingException"}


def enqueue_redacted(task, *args) -> None:
    """Queue ``task``; Celery's worker logs show ``argsrepr`` instead of the arguments, which
    carry verification tokens and links."""
    task.apply_async(args, argsrepr=f"(<{len(args)} arguments redacted>)", kwargsrepr="{}")


class TransientAWSError(Exception):
    """An AWS call failed in a way that may succeed later (throttling, network, 5xx)."""


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_verification_email(email: str, link: str) -> None:
    """Send the verification e-mail through Django's configured e-mail backend."""
    message = compose(link, settings.VERIFICATION_TOKEN_TTL)
    mail = EmailMultiAlternatives(message["subject"], message["text"], to=[email])
    mail.attach_alternative(message["html"], "text/html")
    mail.send()


@shared_task(autoretry_for=(TransientAWSError,), retry_backoff=2, retry_backoff_max=300,
             retry_jitter=True, max_retries=10)
def publish_verification(email: str, token: str, link: str) -> None:
    """Publish ``{email, token, link}`` to the verification topic, retrying transient failures."""
    try:
        client("sns").publish(
            TopicArn=settings.VERIFICATION_TOPIC_ARN,
            Message=json.dumps({"email": email, "token": token, "link": link}),
        )
    except (ConnectionError, HTTPClientError) as error:
        raise TransientAWSError(f"SNS unreachable: {type(error).__name__}") from error
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code in TRANSIENT_CODES or error.response.get("ResponseMetadata", {}).get(
                "HTTPStatusCode", 0) >= 500:
            raise TransientAWSError(f"SNS answered {code}") from error
        raise
