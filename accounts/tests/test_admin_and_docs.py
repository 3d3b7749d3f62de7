import pytest

from accounts.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    admin = User.objects.create_superuser("root@example.com", "admin-secret-99-x",
                                          first_name="R", last_name="T")
    client.force_login(admin)
    return client


def test_admin_lists_and_searches_users(admin_client, make_user):
    make_user("findme@example.com", verified=False)
    make_user("other@example.com")
    response = admin_client.get("/admin/accounts/user/", {"q": "findme"})
    assert response.status_code == 200
    assert b"findme@example.com" in response.content
    assert b"other@example.com" not in response.content


def test_admin_add_user_form(admin_client):
    response = admin_client.post("/admin/accounts/user/add/", {
        "username": "new@example.com", "first_name": "N", "last_name": "U",
        "usable_password": "true", "password1": "plum-garden-81-kite",
        "password2": "plum-garden-81-kite"})
    assert response.status_code == 302, response.content[:2000]
    assert User.objects.get(username_key="new@example.com").check_password("plum-garden-81-kite")


def test_schema_and_docs(client):
    response = client.get("/v1/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert {"/v1/user", "/v1/user/self", "/v1/user/verify", "/v1/user/self/verification"} <= set(
        schema["paths"])
    assert {"201", "400"} <= set(schema["paths"]["/v1/user"]["post"]["responses"])
    assert "basicAuth" in schema["components"]["securitySchemes"]
    docs = client.get("/v1/docs")
    assert docs.status_code == 200 and b"swagger" in docs.content.lower()
