"""Fixtures for the files tests: a verified user, an authenticated client, both storage modes."""
import base64
import io

import boto3
import pytest
from moto import mock_aws
from PIL import Image as PILImage
from rest_framework.test import APIClient

from files.conf import s3_storage

PASSWORD = "correct-horse-battery-9"
BUCKET = "cloudsite-test-media"
REGION = "us-east-1"


def basic(username: str, password: str = PASSWORD) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def image_bytes(fmt: str = "PNG", size=(4, 3), color=(200, 30, 90)) -> bytes:
    buffer = io.BytesIO()
    PILImage.new("RGB", size, color).save(buffer, format=fmt)
    return buffer.getvalue()


def upload(name: str, content: bytes, content_type: str = "application/octet-stream"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, content, content_type=content_type)


@pytest.fixture
def make_user(db):
    from accounts.models import User

    def make(username="pic@example.com", verified=True, **fields):
        return User.objects.create_user(username, PASSWORD, first_name="Pat", last_name="Pic",
                                        verified=verified, **fields)

    return make


@pytest.fixture
def user(make_user):
    return make_user()


@pytest.fixture
def api(user):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=basic(user.username))
    return api


@pytest.fixture
def media(settings, tmp_path):
    """File-system mode under a temporary MEDIA_ROOT."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.FILES_S3_BUCKET = ""
    settings.STORAGES = {**settings.STORAGES,
                         "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"}}
    return settings.MEDIA_ROOT


class S3:
    """The mocked bucket, seen through a plain boto3 client."""

    def __init__(self, client, kms_key):
        self.client = client
        self.kms_key = kms_key
        self.bucket = BUCKET

    def keys(self):
        listing = self.client.list_objects_v2(Bucket=BUCKET)
        return [item["Key"] for item in listing.get("Contents", [])]

    def head(self, key):
        return self.client.head_object(Bucket=BUCKET, Key=key)

    def body(self, key):
        return self.client.get_object(Bucket=BUCKET, Key=key)["Body"].read()


@pytest.fixture
def s3(settings, monkeypatch):
    """S3 mode against in-process moto: a bucket and a KMS key, storage configured like prod."""
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        kms_key = boto3.client("kms", region_name=REGION).create_key()["KeyMetadata"]["KeyId"]
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(Bucket=BUCKET)
        settings.FILES_S3_BUCKET = BUCKET
        settings.STORAGES = {**settings.STORAGES,
                             "default": s3_storage(BUCKET, REGION, kms_key, url_ttl=120)}
        yield S3(client, kms_key)


class Backend:
    """One interface over both modes for the contract tests."""

    def __init__(self, name, media_root=None, s3=None):
        self.name, self.media_root, self.s3 = name, media_root, s3

    def keys(self):
        if self.s3:
            return sorted(self.s3.keys())
        return sorted(str(p.relative_to(self.media_root)) for p in self.media_root.rglob("*")
                      if p.is_file()) if self.media_root.exists() else []

    def body(self, key):
        return self.s3.body(key) if self.s3 else (self.media_root / key).read_bytes()


@pytest.fixture(params=["fs", "s3"])
def backend(request):
    if request.param == "fs":
        return Backend("fs", media_root=request.getfixturevalue("media"))
    return Backend("s3", s3=request.getfixturevalue("s3"))
