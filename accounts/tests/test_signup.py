"""POST /v1/user: every success and failure row of the contract."""
import json
import re

import pytest
from django.core import mail

from accounts.models import User

URL = "/v1/user"
VALID = {"username": "Ann.Lee@Example.com", "password": "violet-harbour-42-lantern",
         "first_name": "Ann", "last_name": "Lee"}
pytestmark = pytest.mark.django_db


def post(client, body, **kwargs):
    return client.post(URL, body, format="json", **kwargs)


def test_sign_up_creates_user_and_sends_link(client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, VALID)
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"id", "username", "first_name", "last_name", "account_created",
                         "account_updated", "verified", "verified_on"}
    assert body["username"] == "Ann.Lee@Example.com"  # stored as given
    assert body["verified"] is False and body["verified_on"] is None
    assert body["account_created"].endswith("Z")
    user = User.objects.get(pk=body["id"])
    assert user.check_password(VALID["password"])
    assert user.password != VALID["password"]
    assert user.password.startswith("argon2$argon2id$v=19$m=19456,t=2,p=1$")
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["Ann.Lee@Example.com"]
    assert re.search(r"http://127\.0\.0\.1:8000/v1/user/verify\?email=Ann\.Lee%40Example\.com&token=\S+",
                     message.body)


def test_read_only_fields_are_ignored_at_sign_up(client):
    body = {**VALID, "id": "00000000-0000-0000-0000-000000000000", "verified": True,
            "verified_on": "2020-01-01T00:00:00Z", "account_created": "2020-01-01T00:00:00Z",
            "account_updated": "2020-01-01T00:00:00Z"}
    response = post(client, body)
    assert response.status_code == 201
    data = response.json()
    assert data["id"] != body["id"] and data["verified"] is False
    assert not data["account_created"].startswith("2020")


@pytest.mark.parametrize("field", ["username", "password", "first_name", "last_name"])
def test_missing_field(client, field):
    body = {k: v for k, v in VALID.items() if k != field}
    response = post(client, body)
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert field in response.json()["detail"]


@pytest.mark.parametrize("field", ["username", "password", "first_name", "last_name"])
@pytest.mark.parametrize("blank", ["", "   "])
def test_blank_field(client, field, blank):
    response = post(client, {**VALID, field: blank})
    assert response.status_code == 400
    assert field in response.json()["errors"]


@pytest.mark.parametrize("field", ["username", "password", "first_name", "last_name"])
@pytest.mark.parametrize("value", [None, 42, 4.2, True, ["x"], {"a": "b"}])
def test_wrong_types(client, field, value):
    response = post(client, {**VALID, field: value})
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not User.objects.exists()


@pytest.mark.parametrize("field,length", [("first_name", 151), ("last_name", 151),
                                          ("password", 129), ("username", 255)])
def test_over_long_fields(client, field, length):
    value = "a" * length if field != "username" else "a" * (length - 12) + "@example.com"
    response = post(client, {**VALID, field: value})
    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_max_length_names_accepted(client):
    response = post(client, {**VALID, "first_name": "é" * 150, "last_name": "😀" * 150})
    assert response.status_code == 201
    assert response.json()["last_name"] == "😀" * 150


@pytest.mark.parametrize("username", ["not-an-email", "a@", "@example.com", "a b@example.com",
                                      "ann@example.com\x00", "ann\ud800@example.com"])
def test_not_an_email(client, username):
    # json.dumps escapes the NUL and the lone surrogate, as a hostile client would send them.
    raw = json.dumps({**VALID, "username": username})
    response = client.post(URL, raw, content_type="application/json")
    assert response.status_code == 400
    assert "username" in response.json()["errors"]


@pytest.mark.parametrize("password", ["short", "password123", "12345678901234", "Ann.Lee@Example"])
def test_password_rejected_by_validators(client, password):
    response = post(client, {**VALID, "password": password})
    assert response.status_code == 400
    assert "password" in response.json()["errors"]


def test_username_taken_ignoring_case(client):
    assert post(client, VALID).status_code == 201
    response = post(client, {**VALID, "username": VALID["username"].upper()})
    assert response.status_code == 400
    assert "already exists" in response.json()["errors"]["username"][0]
    assert User.objects.count() == 1


def test_unknown_field(client):
    response = post(client, {**VALID, "is_staff": True})
    assert response.status_code == 400
    assert response.json()["errors"] == {"is_staff": ["Unknown field."]}
    assert not User.objects.exists()


@pytest.mark.parametrize("raw", [b"{bad", b"", b"null", b"[]", b'"text"', b"42",
                                 b'{"username": "a@b.c",}', b"\xff\xfe\x00garbage",
                                 '{"first_name": "Ann"}'.encode("utf-16")])
def test_malformed_or_non_object_json(client, raw):
    response = client.post(URL, raw, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["detail"]


def test_wrong_content_type(client):
    response = client.post(URL, "username=a", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert response.json()["detail"]


def test_huge_body_is_refused_before_reading(client):
    body = b'{"first_name": "' + b"a" * 200_000 + b'"}'
    response = client.post(URL, body, content_type="application/json")
    assert response.status_code == 413
    assert "at most" in response.json()["detail"]


def test_unknown_route_and_wrong_method_are_json(client):
    response = client.get("/v1/nothing-here")
    assert response.status_code == 404 and response.json() == {"detail": "Not found."}
    response = client.get(URL)
    assert response.status_code == 405 and "not allowed" in response.json()["detail"]
    response = client.delete("/v1/user/self")
    assert response.status_code in (401, 405)
    assert response.json()["detail"]
