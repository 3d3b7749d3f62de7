"""boto3 clients for the app's AWS calls: one per service and process, botocore's retries on.

boto3 clients are thread-safe (sessions are not), so they are built once and shared. The region
comes from settings; the endpoint from the standard ``AWS_ENDPOINT_URL`` variables (botocore
reads them itself), which is how tests point the app at a ``moto_server``.
"""
from functools import lru_cache

import boto3
from botocore.config import Config
from django.conf import settings

RETRIES = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=10)


@lru_cache(maxsize=None)
def client(service: str):
    return boto3.session.Session().client(service, region_name=settings.AWS_REGION, config=RETRIES)
