"""GET/PUT /v1/user/self and HTTP Basic failures."""
import base64

import pytest

from accounts.models import User
from accounts.tests.conftest import PASSWORD, basic

URL = "/v1/user/self"
pytestmark = pytest.mark.django_db


def test_get_self(auth_client, user):
    response = auth_client.get(URL)
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == str(user.id) and body["username"] == user.username
    assert "password" not in body
    assert body["verified"] is True and body["verified_on"].endswith("Z")


def test_username_is_compared_ignoring_case(client, user):
    client.credentials(HTTP_AUTHORIZATION=basic("ANN@Example.COM", PASSWORD))
    assert client.get(URL).status_code == 200


def test_missing_credentials_is_401_with_challenge(client, user):
    response = client.get(URL)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Basic")
    assert response.json()["detail"]


@pytest.mark.parametrize("username,password", [("ann@example.com", "wrong-password-1"),
                                               ("nobody@example.com", PASSWORD),
                                               ("", ""), ("ann@example.com", "")])
def test_wrong_credentials_is_401(client, user, username, password):
    client.credentials(HTTP_AUTHORIZATION=basic(username, password))
    response = client.get(URL)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Basic")
    assert response.json()["detail"] == "Invalid username or password."


@pytest.mark.parametrize("header", [
    "Basic", "Basic !!!not-base64!!!", "Basic " + base64.b64encode(b"no-colon").decode(),
    "Basic " + base64.b64encode(b"\xff\xfe:\x80\x81").decode(), "Basic a b c", "Bearer abc",
    "Basic " + base64.b64encode(b"ann@example.com:" + b"x" * 5000).decode(), "Basic ====",
    "Basic " + base64.b64encode("ann@example.com:pässwörd".encode("latin-1")).decode(),
])
def test_bad_basic_headers_never_500(client, user, header):
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get(URL)
    assert response.status_code in (401, 403), header
    assert response.json()["detail"]


def test_unverified_is_403(client, make_user):
    make_user(verified=False)
    client.credentials(HTTP_AUTHORIZATION=basic("ann@example.com", PASSWORD))
    for method in (client.get, client.put):
        response = method(URL, {"first_name": "X"}, format="json")
        assert response.status_code == 403
        assert "Verify your e-mail" in response.json()["detail"]


def test_inactive_user_is_401(client, make_user):
    make_user(is_active=False)
    client.credentials(HTTP_AUTHORIZATION=basic("ann@example.com", PASSWORD))
    assert client.get(URL).status_code == 401


def test_put_updates_names_and_account_updated(auth_client, user):
    before = user.account_updated
    response = auth_client.put(URL, {"first_name": "Anna", "last_name": "Li"}, format="json")
    assert response.status_code == 204 and response.content == b""
    user.refresh_from_db()
    assert (user.first_name, user.last_name) == ("Anna", "Li")
    assert user.account_updated > before


def test_put_password_changes_it(auth_client, client, user):
    response = auth_client.put(URL, {"password": "new-orchard-77-pebble"}, format="json")
    assert response.status_code == 204
    assert auth_client.get(URL).status_code == 401  # old password no longer works
    client.credentials(HTTP_AUTHORIZATION=basic(user.username, "new-orchard-77-pebble"))
    assert client.get(URL).status_code == 200


def test_put_same_username_is_allowed(auth_client, user):
    response = auth_client.put(URL, {"username": "ANN@example.com", "first_name": "Anna"},
                               format="json")
    assert response.status_code == 204
    user.refresh_from_db()
    assert user.username == "ann@example.com" and user.first_name == "Anna"


@pytest.mark.parametrize("body,field", [
    ({"username": "other@example.com"}, "username"),
    ({"username": 5, "first_name": "A"}, "username"),
    ({"id": "00000000-0000-0000-0000-000000000000", "first_name": "A"}, "id"),
    ({"verified": False}, "verified"),
    ({"verified_on": None}, "verified_on"),
    ({"account_created": "2020-01-01T00:00:00Z"}, "account_created"),
    ({"account_updated": "2020-01-01T00:00:00Z"}, "account_updated"),
    ({"is_staff": True}, "is_staff"),
    ({"first_name": ""}, "first_name"),
    ({"last_name": "  "}, "last_name"),
    ({"password": ""}, "password"),
    ({"password": "short"}, "password"),
    ({"password": "ann@example.com"}, "password"),
    ({"first_name": 7}, "first_name"),
    ({"first_name": None}, "first_name"),
    ({"first_name": "a" * 151}, "first_name"),
])
def test_put_rejections(auth_client, user, body, field):
    before = User.objects.get(pk=user.pk)
    response = auth_client.put(URL, body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]
    after = User.objects.get(pk=user.pk)
    assert (after.first_name, after.password, after.account_updated) == (
        before.first_name, before.password, before.account_updated)


@pytest.mark.parametrize("raw", [b"{}", b"{bad", b"[]", b"null", b"\xff\xfe"])
def test_put_empty_or_malformed(auth_client, raw):
    response = auth_client.put(URL, raw, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["detail"]


def test_put_without_credentials(client, user):
    response = client.put(URL, {"first_name": "X"}, format="json")
    assert response.status_code == 401


def test_browsable_api_renders_html(auth_client):
    response = auth_client.get(URL, HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert b"ann@example.com" in response.content and b"<html" in response.content
