"""Per-address rate limits of sign-up and the verification link; the failed sign-in throttle keyed
so an attacker cannot lock the owner out; the admin's login counted in the same throttle."""
from unittest import mock

import pytest
from django.contrib.auth.hashers import Argon2PasswordHasher
from django.test import Client

from accounts.models import User
from accounts.tests.conftest import PASSWORD, basic

pytestmark = pytest.mark.django_db
SELF = "/v1/user/self"
ADMIN_LOGIN = "/admin/login/"
ADMIN_PASSWORD = "admin-secret-99-x"


@pytest.fixture
def drf_settings(settings):
    """Change REST_FRAMEWORK keys for one test (DRF reloads its settings on the change)."""
    def change(**values):
        settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, **values}
    return change


@pytest.fixture
def rates(drf_settings):
    def change(**scopes):
        drf_settings(DEFAULT_THROTTLE_RATES={"signup": "1000/hour", "verify": "1000/hour", **scopes})
    return change


@pytest.fixture
def hash_checks():
    """Counts real Argon2 verifications."""
    with mock.patch.object(Argon2PasswordHasher, "verify", autospec=True,
                           side_effect=Argon2PasswordHasher.verify) as spy:
        yield spy


def sign_up(client, n: int):
    body = {"username": f"new{n}@example.com", "password": PASSWORD, "first_name": "N", "last_name": "U"}
    return client.post("/v1/user", body, content_type="application/json")


def at(address: str, **extra):
    return Client(REMOTE_ADDR=address, **extra)


# --- sign-up and the verification link -----------------------------------------------------

def test_sign_up_is_throttled_per_client_address(rates):
    rates(signup="2/hour")
    client, elsewhere = at("10.0.0.1"), at("10.0.0.2")
    assert sign_up(client, 1).status_code == 201
    assert sign_up(client, 2).status_code == 201
    response = sign_up(client, 3)
    assert response.status_code == 429
    assert 3500 <= int(response["Retry-After"]) <= 3600
    assert response.json()["detail"].startswith("Request was throttled.")
    assert not User.objects.filter(username_key="new3@example.com").exists()  # no hash, no e-mail
    assert sign_up(elsewhere, 4).status_code == 201


def test_rejected_sign_ups_count_too(rates):
    """An invalid body still costs the request: floods of bad bodies are throttled as well."""
    rates(signup="2/hour")
    client = at("10.0.0.1")
    for _ in range(2):
        assert client.post("/v1/user", {}, content_type="application/json").status_code == 400
    assert sign_up(client, 1).status_code == 429


def test_verification_link_is_throttled_per_client_address(rates):
    rates(verify="3/minute")
    client, elsewhere = at("10.0.0.1"), at("10.0.0.2")
    query = {"email": "nobody@example.com", "token": "not-a-real-token"}
    for _ in range(3):
        assert client.get("/v1/user/verify", query).status_code == 400
    response = client.get("/v1/user/verify", query)
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    assert "detail" in response.json()
    assert elsewhere.get("/v1/user/verify", query).status_code == 400


def test_behind_the_load_balancer_the_client_is_the_last_forwarded_hop(rates, drf_settings):
    """NUM_PROXIES=1: the ALB's appended address counts, not what the client wrote before it."""
    rates(signup="1/hour")
    drf_settings(NUM_PROXIES=1)
    first = at("172.16.0.5", HTTP_X_FORWARDED_FOR="1.1.1.1, 203.0.113.7")
    spoofing = at("172.16.0.6", HTTP_X_FORWARDED_FOR="2.2.2.2, 203.0.113.7")
    another_client = at("172.16.0.5", HTTP_X_FORWARDED_FOR="198.51.100.9")
    assert sign_up(first, 1).status_code == 201
    assert sign_up(spoofing, 2).status_code == 429
    assert sign_up(another_client, 3).status_code == 201


# --- targeted lockout -----------------------------------------------------------------------

def test_attacker_is_throttled_but_the_owner_elsewhere_gets_in(user, settings, hash_checks):
    settings.AUTH_FAILURES_PER_USERNAME = 3
    attacker, owner = at("10.6.6.6"), at("10.1.1.1")
    wrong, right = basic(user.username, "guess-1-guess"), basic(user.username, PASSWORD)
    for _ in range(3):
        assert attacker.get(SELF, HTTP_AUTHORIZATION=wrong).status_code == 401
    checks = hash_checks.call_count
    assert attacker.get(SELF, HTTP_AUTHORIZATION=wrong).status_code == 429
    assert attacker.get(SELF, HTTP_AUTHORIZATION=right).status_code == 429
    assert hash_checks.call_count == checks  # refused before any password check
    assert owner.get(SELF, HTTP_AUTHORIZATION=right).status_code == 200


def test_an_attack_spread_over_addresses_hits_the_username_ceiling(user, settings):
    settings.AUTH_FAILURES_PER_USERNAME = 3
    settings.AUTH_FAILURES_PER_USERNAME_ANY_ADDRESS = 6
    wrong = basic(user.username, "guess-1-guess")
    for address in ("10.6.0.1", "10.6.0.2", "10.6.0.3"):
        for _ in range(2):
            assert at(address).get(SELF, HTTP_AUTHORIZATION=wrong).status_code == 401
    assert at("10.6.0.4").get(SELF, HTTP_AUTHORIZATION=wrong).status_code == 429
    # ... the owner too, from an address never seen, for the rest of the window
    assert at("10.1.1.1").get(SELF, HTTP_AUTHORIZATION=basic(user.username, PASSWORD)).status_code == 429
    assert at("10.1.1.1").get(SELF, HTTP_AUTHORIZATION=basic("other@example.com", "x-1-x")).status_code == 401


def test_username_case_does_not_split_the_counters(user, settings):
    settings.AUTH_FAILURES_PER_USERNAME = 2
    client = at("10.6.6.6")
    assert client.get(SELF, HTTP_AUTHORIZATION=basic("ANN@example.com", "guess-1")).status_code == 401
    assert client.get(SELF, HTTP_AUTHORIZATION=basic("ann@EXAMPLE.com", "guess-2")).status_code == 401
    assert client.get(SELF, HTTP_AUTHORIZATION=basic("Ann@Example.com", "guess-3")).status_code == 429


# --- the admin's login ------------------------------------------------------------------------

@pytest.fixture
def staff(db):
    return User.objects.create_superuser("root@example.com", ADMIN_PASSWORD, first_name="R", last_name="T")


def admin_login(client, password, username="root@example.com"):
    return client.post(ADMIN_LOGIN, {"username": username, "password": password, "next": "/admin/"})


def test_admin_login_still_works(staff):
    client = at("10.1.1.1")
    response = admin_login(client, ADMIN_PASSWORD)
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_failed_admin_logins_are_throttled_without_a_password_check(staff, settings, hash_checks):
    settings.AUTH_FAILURES_PER_USERNAME = 2
    client = at("10.6.6.6")
    for _ in range(2):
        response = admin_login(client, "guess-1-guess")
        assert response.status_code == 200 and b"Please enter the correct" in response.content
    checks = hash_checks.call_count
    response = admin_login(client, ADMIN_PASSWORD)
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= settings.AUTH_FAILURE_WINDOW
    assert b"Too many failed sign-in attempts" in response.content
    assert hash_checks.call_count == checks
    assert "_auth_user_id" not in client.session
    # the owner logging in from elsewhere is not locked out
    assert admin_login(at("10.1.1.1"), ADMIN_PASSWORD).status_code == 302


def test_admin_and_basic_failures_share_the_counters(staff, settings):
    settings.AUTH_FAILURES_PER_USERNAME = 2
    client = at("10.6.6.6")
    wrong = basic(staff.username, "guess-1-guess")
    assert client.get(SELF, HTTP_AUTHORIZATION=wrong).status_code == 401
    assert admin_login(client, "guess-2-guess").status_code == 200
    assert client.get(SELF, HTTP_AUTHORIZATION=basic(staff.username, ADMIN_PASSWORD)).status_code == 429
    assert admin_login(client, ADMIN_PASSWORD).status_code == 429


def test_a_right_password_without_staff_rights_is_not_a_failure(user, settings):
    settings.AUTH_FAILURES_PER_USERNAME = 1
    client = at("10.1.1.1")
    assert admin_login(client, PASSWORD, username=user.username).status_code == 200  # not staff
    assert client.get(SELF, HTTP_AUTHORIZATION=basic(user.username, PASSWORD)).status_code == 200
