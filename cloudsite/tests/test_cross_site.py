"""Unsafe requests a browser marks as coming from another site get 403 before any view runs."""
import base64

import pytest

from cloudsite import cross_site

pytestmark = pytest.mark.django_db

PASSWORD = "cross-site-horse-41"
UPDATE = {"first_name": "Changed"}


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user("owner@example.com", PASSWORD, first_name="Own",
                                                 last_name="Er", verified=True)


def basic(user) -> str:
    return "Basic " + base64.b64encode(f"{user.username}:{PASSWORD}".encode()).decode()


def put_self(client, user, **headers):
    return client.put("/v1/user/self", UPDATE, content_type="application/json",
                      HTTP_AUTHORIZATION=basic(user), **headers)


@pytest.mark.parametrize("headers", [
    {"HTTP_SEC_FETCH_SITE": "cross-site"},
    {"HTTP_SEC_FETCH_SITE": "cross-site", "HTTP_ORIGIN": "https://evil.example"},
    {"HTTP_ORIGIN": "https://evil.example"},  # a browser without Sec-Fetch-*
    {"HTTP_ORIGIN": "null"},  # a sandboxed frame or a file: page
    {"HTTP_ORIGIN": "https://testserver"},  # this host on another scheme is another origin
    {"HTTP_ORIGIN": "http://testserver:8080"},  # ... and on another port
    {"HTTP_SEC_FETCH_SITE": "same-site", "HTTP_ORIGIN": "http://blog.testserver"},
    {"HTTP_SEC_FETCH_SITE": "same-site"},
])
def test_a_foreign_unsafe_request_is_403_before_the_view(client, user, headers):
    response = put_self(client, user, **headers)
    assert response.status_code == 403
    assert response.json() == {"detail": cross_site.REFUSED}
    user.refresh_from_db()
    assert user.first_name == "Own"


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_every_unsafe_method_is_covered(client, user, method):
    response = getattr(client, method)("/v1/user/self", HTTP_AUTHORIZATION=basic(user),
                                       HTTP_SEC_FETCH_SITE="cross-site")
    assert response.status_code == 403


def test_the_admin_is_covered_too(client):
    response = client.post("/admin/login/", {"username": "x", "password": "y"},
                           HTTP_SEC_FETCH_SITE="cross-site")
    assert response.status_code == 403 and response.json() == {"detail": cross_site.REFUSED}


@pytest.mark.parametrize("headers", [
    {},  # curl, the SDKs: neither header
    {"HTTP_SEC_FETCH_SITE": "same-origin", "HTTP_ORIGIN": "http://testserver"},
    {"HTTP_SEC_FETCH_SITE": "same-origin"},
    {"HTTP_ORIGIN": "http://testserver"},
    {"HTTP_ORIGIN": "http://testserver:80"},  # the default port spelled out
    {"HTTP_SEC_FETCH_SITE": "none"},  # the user's own navigation
])
def test_same_origin_and_header_less_requests_pass(client, user, headers):
    response = put_self(client, user, **headers)
    assert response.status_code == 204, response.content
    user.refresh_from_db()
    assert user.first_name == "Changed"


def test_behind_the_load_balancer_the_own_origin_is_https(client, user, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.ALLOWED_HOSTS = ["app.example.com"]
    own = {"HTTP_HOST": "app.example.com", "HTTP_X_FORWARDED_PROTO": "https"}
    assert put_self(client, user, HTTP_ORIGIN="https://app.example.com", **own).status_code == 204
    assert put_self(client, user, HTTP_ORIGIN="http://app.example.com", **own).status_code == 403


def test_trusted_origins_may_post(client, user, settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://console.testserver", "https://*.partner.example"]
    for origin in ("https://console.testserver", "https://eu.partner.example"):
        response = put_self(client, user, HTTP_SEC_FETCH_SITE="same-site", HTTP_ORIGIN=origin)
        assert response.status_code == 204, origin
    assert put_self(client, user, HTTP_SEC_FETCH_SITE="same-site",
                    HTTP_ORIGIN="https://other.testserver").status_code == 403
    # cross-site stays refused whatever the list says: nothing of ours runs on another site
    assert put_self(client, user, HTTP_SEC_FETCH_SITE="cross-site",
                    HTTP_ORIGIN="https://eu.partner.example").status_code == 403


@pytest.mark.parametrize("method", ["get", "head", "options"])
def test_safe_methods_pass_from_anywhere(client, user, method):
    response = getattr(client, method)("/v1/user/self", HTTP_AUTHORIZATION=basic(user),
                                       HTTP_SEC_FETCH_SITE="cross-site", HTTP_ORIGIN="https://evil.example")
    assert response.status_code == 200


