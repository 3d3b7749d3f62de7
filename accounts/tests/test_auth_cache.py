"""The verified-credential cache and the failed-attempt throttle."""
from unittest import mock

import pytest
from django.contrib.auth.hashers import Argon2PasswordHasher
from django.core.cache import cache

from accounts import auth_throttle
from accounts.tests.conftest import PASSWORD, basic

URL = "/v1/user/self"
pytestmark = pytest.mark.django_db


@pytest.fixture
def hash_checks():
    """Counts real Argon2 verifications."""
    with mock.patch.object(Argon2PasswordHasher, "verify", autospec=True,
                           side_effect=Argon2PasswordHasher.verify) as spy:
        yield spy


def test_second_request_skips_the_hash(auth_client, hash_checks):
    assert auth_client.get(URL).status_code == 200
    assert auth_client.get(URL).status_code == 200
    assert auth_client.get(URL).status_code == 200
    assert hash_checks.call_count == 1


def test_cache_off_hashes_every_time(auth_client, hash_checks, settings):
    settings.AUTH_CACHE_TTL = 0
    for _ in range(3):
        assert auth_client.get(URL).status_code == 200
    assert hash_checks.call_count == 3


def test_wrong_password_is_never_cached(client, user, hash_checks):
    client.credentials(HTTP_AUTHORIZATION=basic(user.username, "wrong-password-9"))
    assert client.get(URL).status_code == 401
    assert client.get(URL).status_code == 401
    assert hash_checks.call_count == 2


def test_password_changed_elsewhere_invalidates_entry(auth_client, user):
    assert auth_client.get(URL).status_code == 200
    # Another instance changes the password: only the database row changes, not this cache.
    user.set_password("another-river-55-stone")
    user.save()
    assert auth_client.get(URL).status_code == 401


def test_cache_holds_no_password(auth_client, user):
    assert auth_client.get(URL).status_code == 200
    stored = repr(cache._cache) + repr(list(cache._cache.keys()))
    assert PASSWORD not in stored
    assert user.password not in stored  # not even the hash


def test_failures_per_username_are_throttled(client, user, settings):
    settings.AUTH_FAILURES_PER_USERNAME = 3
    client.credentials(HTTP_AUTHORIZATION=basic(user.username, "wrong-password-9"))
    for _ in range(3):
        assert client.get(URL).status_code == 401
    response = client.get(URL)
    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1
    # The right password must wait too (it would need a hash check) ...
    client.credentials(HTTP_AUTHORIZATION=basic("ANN@example.com", PASSWORD))
    assert client.get(URL).status_code == 429


def test_throttle_ends_with_the_window(client, user, settings):
    settings.AUTH_FAILURES_PER_USERNAME = 2
    settings.AUTH_FAILURE_WINDOW = 60
    with mock.patch.object(auth_throttle.time, "time", return_value=1_000_040.0):
        client.credentials(HTTP_AUTHORIZATION=basic(user.username, "wrong-password-9"))
        client.get(URL), client.get(URL)
        client.credentials(HTTP_AUTHORIZATION=basic(user.username, PASSWORD))
        response = client.get(URL)
        assert response.status_code == 429
        assert response["Retry-After"] == "40"
    with mock.patch.object(auth_throttle.time, "time", return_value=1_000_040.0 + 60):
        assert client.get(URL).status_code == 200


def test_proven_credentials_survive_an_attack(client, user, settings):
    settings.AUTH_FAILURES_PER_USERNAME = 2
    client.credentials(HTTP_AUTHORIZATION=basic(user.username, PASSWORD))
    assert client.get(URL).status_code == 200
    attacker = client.__class__()
    attacker.credentials(HTTP_AUTHORIZATION=basic(user.username, "guess-1-guess"))
    for _ in range(3):
        attacker.get(URL)
    assert attacker.get(URL).status_code == 429
    assert client.get(URL).status_code == 200


def test_failures_per_address_are_throttled(client, make_user, settings):
    settings.AUTH_FAILURES_PER_ADDRESS = 4
    for i in range(4):
        client.credentials(HTTP_AUTHORIZATION=basic(f"user{i}@example.com", "wrong-password-9"))
        assert client.get(URL).status_code == 401
    client.credentials(HTTP_AUTHORIZATION=basic("someone-else@example.com", "wrong-password-9"))
    assert client.get(URL).status_code == 429
    other_address = client.__class__(REMOTE_ADDR="10.9.9.9")
    other_address.credentials(HTTP_AUTHORIZATION=basic("someone-else@example.com", "x-wrong-1"))
    assert other_address.get(URL).status_code == 401
