"""E-mail verification behind two small interfaces: a token store and a dispatcher.

The embedded defaults keep tokens in the database and send e-mail through Django's e-mail
backend; the AWS implementations (DynamoDB, SNS) plug in through settings.
"""
from functools import lru_cache

from django.conf import settings
from django.utils.module_loading import import_string


@lru_cache(maxsize=None)
def _load(path: str):
    return import_string(path)()


def token_store():
    return _load(settings.VERIFICATION_TOKEN_STORE)


def dispatcher():
    return _load(settings.VERIFICATION_DISPATCHER)
