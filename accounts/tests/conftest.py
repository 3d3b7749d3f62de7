import base64

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import User
from accounts.tests import aws_fixtures

PASSWORD = "violet-harbour-42-lantern"


def basic(username: str, password: str) -> str:
    raw = f"{username}:{password}".encode()
    return "Basic " + base64.b64encode(raw).decode()


@pytest.fixture
def client():
    return APIClient()


@pytest.fixture
def make_user(db):
    def make(username="ann@example.com", password=PASSWORD, verified=True, **extra):
        extra.setdefault("first_name", "Ann")
        extra.setdefault("last_name", "Lee")
        user = User.objects.create_user(username, password, verified=verified,
                                        verified_on=timezone.now() if verified else None, **extra)
        return user

    return make


@pytest.fixture
def user(make_user):
    return make_user()


@pytest.fixture
def auth_client(client, user):
    client.credentials(HTTP_AUTHORIZATION=basic(user.username, PASSWORD))
    return client


# the moto-backed verification store (accounts/tests/aws_fixtures.py), for this directory's tests
aws_verification = aws_fixtures.aws_verification
