"""Background work for stored objects."""
import logging

from botocore.exceptions import BotoCoreError, ClientError
from celery import shared_task
from django.core.files.storage import default_storage

logger = logging.getLogger(__name__)

RETRYABLE = (BotoCoreError, ClientError, OSError)


@shared_task(
    autoretry_for=RETRYABLE,
    retry_backoff=2,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=12,
    acks_late=True,
)
def delete_stored_object(key: str) -> None:
    """Remove ``key`` from the default storage; removing a missing object is a success.

    Storage errors retry with exponential backoff (2 s doubling to 10 min, about 1 h in all), so a
    short S3 outage leaves nothing orphaned.
    """
    default_storage.delete(key)
    logger.info("deleted stored object %s", key)
