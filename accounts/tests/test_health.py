from unittest import mock

import pytest
from django.db import OperationalError

pytestmark = pytest.mark.django_db


def test_healthy(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.content == b""
    assert response["Cache-Control"] == "no-cache"
    assert client.head("/healthz").status_code == 200


def test_ignores_credentials(client):
    response = client.get("/healthz", HTTP_AUTHORIZATION="Basic !!!")
    assert response.status_code == 200


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete", "options"])
def test_other_methods_are_405(client, method):
    response = getattr(client, method)("/healthz")
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"
    assert response.json()["detail"]


def test_query_string_is_400(client):
    response = client.get("/healthz?x=1")
    assert response.status_code == 400 and response.json()["detail"]


def test_body_is_400(client):
    response = client.generic("GET", "/healthz", b"hello", content_type="text/plain")
    assert response.status_code == 400


def test_database_down_is_503(client):
    with mock.patch("cloudsite.health.connection.ensure_connection",
                    side_effect=OperationalError("gone")):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response["Cache-Control"] == "no-cache"
    assert response.json()["detail"] == "The database does not answer."
