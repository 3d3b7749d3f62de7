"""Celery tasks of the verification flow.

Each task takes the user's id and nothing else: it issues the token and builds the link itself,
inside the worker. So no token, link or address is ever a task argument or result, and none of
Celery's log lines (the worker's "received", the trace's "succeeded"/"failed"/"retry", eager mode
included), its broker messages or its result backend can carry one. A retry issues a fresh token
(the older one stops working), so only the link actually sent works.
"""
import json

from botocore.exceptions import ClientError, ConnectionError, HTTPClientError
from celery import shared_task
from django.conf import settings
from django.core.mail import EmailMultiAlternatives

from accounts.aws import client
from accounts.models import User
from accounts.verification import token_store
from accounts.verification.emails import compose, verification_link

# Errors worth another try later: botocore has already retried them a few times on the spot.
TRANSIENT_CODES = {"Throttling", "ThrottlingException", "ThrottledException", "RequestLimitExceeded",
                   "TooManyRequestsException", "InternalError", "InternalFailure",
                   "ServiceUnavailable", "KMSThrottlingException"}


class TransientAWSError(Exception):
    """An AWS call failed in a way that may succeed later (throttling, network, 5xx)."""


def _unverified_user(user_id: str) -> User | None:
    """The account still waiting for its link, read on the primary (the sign-up just committed it;
    a replica may not have it yet); None when it was verified or removed meanwhile."""
    return User.objects.using("default").filter(pk=user_id, verified=False).first()


def _fresh_link(user: User) -> tuple[str, str]:
    """A new token for ``user`` (older ones stop working) and its link: ``(token, link)``."""
    token = token_store().issue(user.username)
    return token, verification_link(settings.PUBLIC_BASE_URL, user.username, token)


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_verification_email(user_id: str) -> None:
    """Send a fresh verification link through Django's configured e-mail backend."""
    user = _unverified_user(user_id)
    if user is None:
        return
    _, link = _fresh_link(user)
    message = compose(link, settings.VERIFICATION_TOKEN_TTL)
    mail = EmailMultiAlternatives(message["subject"], message["text"], to=[user.username])
    mail.attach_alternative(message["html"], "text/html")
    mail.send()


@shared_task(autoretry_for=(TransientAWSError,), retry_backoff=2, retry_backoff_max=300,
             retry_jitter=True, max_retries=10)
def publish_verification(user_id: str) -> None:
    """Publish ``{email, token, link}`` of a fresh link to the verification topic, retrying
    transient failures."""
    user = _unverified_user(user_id)
    if user is None:
        return
    token, link = _fresh_link(user)
    try:
        client("sns").publish(
            TopicArn=settings.VERIFICATION_TOPIC_ARN,
            Message=json.dumps({"email": user.username, "token": token, "link": link}),
        )
    except (ConnectionError, HTTPClientError) as error:
        raise TransientAWSError(f"SNS unreachable: {type(error).__name__}") from error
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code in TRANSIENT_CODES or error.response.get("ResponseMetadata", {}).get(
                "HTTPStatusCode", 0) >= 500:
            raise TransientAWSError(f"SNS answered {code}") from error
        raise
