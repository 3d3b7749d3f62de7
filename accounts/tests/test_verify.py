"""E-mail verification: following links, expiry, re-clicks, resending."""
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core import mail
from django.utils import timezone

from accounts.models import User, VerificationToken
from accounts.tests.conftest import PASSWORD, basic

pytestmark = pytest.mark.django_db
SIGN_UP = {"username": "Bo@Example.com", "password": PASSWORD, "first_name": "Bo", "last_name": "Ek"}


def last_link():
    return re.search(r"(http://\S+/v1/user/verify\?\S+)", mail.outbox[-1].body).group(1)


def follow(client, link):
    parts = urlsplit(link)
    return client.get(parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()})


@pytest.fixture
def signed_up(client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post("/v1/user", SIGN_UP, format="json").status_code == 201
    return User.objects.get(username_key="bo@example.com")


def test_following_the_link_verifies(client, signed_up):
    before = signed_up.account_updated
    response = follow(client, last_link())
    assert response.status_code == 200 and response.json() == {"verified": True}
    signed_up.refresh_from_db()
    assert signed_up.verified and signed_up.verified_on is not None
    assert signed_up.account_updated > before
    client.credentials(HTTP_AUTHORIZATION=basic("bo@example.com", PASSWORD))
    assert client.get("/v1/user/self").status_code == 200


def test_same_link_again_is_still_200(client, signed_up):
    link = last_link()
    assert follow(client, link).status_code == 200
    verified_on = User.objects.get(pk=signed_up.pk).verified_on
    response = follow(client, link)
    assert response.status_code == 200 and response.json() == {"verified": True}
    assert User.objects.get(pk=signed_up.pk).verified_on == verified_on


def test_token_is_stored_only_as_digest(signed_up):
    token = parse_qs(urlsplit(last_link()).query)["token"][0]
    assert not VerificationToken.objects.filter(digest=token).exists()
    assert VerificationToken.objects.count() == 1


@pytest.mark.parametrize("params", [
    {"email": "bo@example.com", "token": "not-the-token"},
    {"email": "other@example.com", "token": "TOKEN"},
    {"email": "bo@example.com"},
    {"token": "TOKEN"},
    {},
    {"email": "not-an-email", "token": "TOKEN"},
    {"email": "bo@example.com", "token": "x" * 500},
])
def test_bad_links_are_400(client, signed_up, params):
    token = parse_qs(urlsplit(last_link()).query)["token"][0]
    params = {k: v.replace("TOKEN", token) for k, v in params.items()}
    response = client.get("/v1/user/verify", params)
    assert response.status_code == 400
    assert response.json()["detail"]
    assert not User.objects.get(pk=signed_up.pk).verified


def test_expired_link_is_400(client, signed_up):
    VerificationToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = follow(client, last_link())
    assert response.status_code == 400
    assert "expired" in response.json()["detail"]
    assert not User.objects.get(pk=signed_up.pk).verified


def test_expiry_is_configurable(client, settings, django_capture_on_commit_callbacks):
    settings.VERIFICATION_TOKEN_TTL = 3600
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/v1/user", SIGN_UP, format="json")
    row = VerificationToken.objects.get()
    assert timedelta(minutes=59) < row.expires_at - timezone.now() <= timedelta(hours=1)
    assert "60 minutes" in mail.outbox[-1].body


def test_case_of_email_in_link_does_not_matter(client, signed_up):
    link = last_link().replace("Bo%40Example.com", "BO%40EXAMPLE.COM")
    assert follow(client, link).status_code == 200


def test_resend_sends_fresh_link_and_old_stops_working(client, signed_up,
                                                        django_capture_on_commit_callbacks):
    old = last_link()
    client.credentials(HTTP_AUTHORIZATION=basic("bo@example.com", PASSWORD))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/v1/user/self/verification")
    assert response.status_code == 202
    assert len(mail.outbox) == 2
    new = last_link()
    assert new != old
    assert follow(client, old).status_code == 400
    assert follow(client, new).status_code == 200


def test_resend_cooldown_is_429_with_retry_after(client, signed_up, settings):
    settings.VERIFICATION_RESEND_COOLDOWN = 60
    client.credentials(HTTP_AUTHORIZATION=basic("bo@example.com", PASSWORD))
    assert client.post("/v1/user/self/verification").status_code == 202
    response = client.post("/v1/user/self/verification")
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 61
    assert response.json()["detail"]


def test_resend_for_verified_account_is_400(auth_client):
    response = auth_client.post("/v1/user/self/verification")
    assert response.status_code == 400
    assert "already verified" in response.json()["detail"]


def test_resend_needs_credentials(client, signed_up):
    assert client.post("/v1/user/self/verification").status_code == 401
