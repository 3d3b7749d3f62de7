"""E-mail verification behind two small interfaces: a token store and a dispatcher.

The embedded defaults keep tokens in the database and send e-mail through Django's e-mail
backend; the AWS implementations (DynamoDB, SNS) plug in through settings.
"""
import logging
from functools import lru_cache

from django.conf import settings
from django.db import transaction
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)


@lru_cache(maxsize=None)
def _load(path: str):
    return import_string(path)()


def token_store():
    return _load(settings.VERIFICATION_TOKEN_STORE)


def dispatcher():
    return _load(settings.VERIFICATION_DISPATCHER)


def send_link(user) -> None:
    """Dispatch a fresh link (older ones stop working) once the account is committed.

    Only the user's id goes to the dispatcher: the task issues the token and builds the link
    (``accounts.tasks``), so no secret is ever queued or logged. A dispatch failure (the broker
    briefly down) is logged, not raised: the account exists and its owner can ask for a new link,
    so the sign-up must not fail.
    """
    user_id = str(user.pk)

    def dispatch():
        try:
            dispatcher().dispatch(user_id)
        except Exception:
            logger.exception("Could not queue the verification link for user %s", user_id)

    transaction.on_commit(dispatch)
