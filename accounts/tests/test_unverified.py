"""Unverified accounts expire after CLOUDSITE_UNVERIFIED_TTL: the command removes them, and their
address may be signed up again at once."""
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts import unverified
from accounts.models import User, VerificationToken
from accounts.tests.conftest import PASSWORD
from accounts.verification import token_store

pytestmark = pytest.mark.django_db
TTL = 48 * 3600


def aged(user, seconds):
    User.objects.filter(pk=user.pk).update(account_created=timezone.now() - timedelta(seconds=seconds))
    return user


def remove() -> str:
    out = StringIO()
    call_command("remove_unverified_accounts", stdout=out)
    return out.getvalue()


def test_the_command_removes_only_expired_unverified_accounts(make_user, settings):
    assert settings.UNVERIFIED_TTL == TTL  # the default: 48 h
    old = aged(make_user("old@example.com", verified=False), TTL + 60)
    token_store().issue("old@example.com")
    kept = {
        "fresh": aged(make_user("fresh@example.com", verified=False), TTL - 60),
        "verified": aged(make_user("done@example.com", verified=True), TTL * 10),
        "staff": aged(make_user("ops@example.com", verified=False, is_staff=True), TTL * 10),
    }
    token_store().issue("fresh@example.com")
    assert remove() == "removed 1 account unverified for more than 48 h\n"  # a count, no address
    assert not User.objects.filter(pk=old.pk).exists()
    assert not VerificationToken.objects.filter(email_key="old@example.com").exists()
    assert set(User.objects.values_list("pk", flat=True)) == {user.pk for user in kept.values()}
    assert VerificationToken.objects.filter(email_key="fresh@example.com").exists()
    assert remove() == "removed 0 accounts unverified for more than 48 h\n"  # idempotent


def test_the_ttl_comes_from_the_setting(make_user, settings):
    settings.UNVERIFIED_TTL = 600
    aged(make_user("ten@example.com", verified=False), 601)
    aged(make_user("nine@example.com", verified=False), 540)
    assert remove().startswith("removed 1 account ")
    assert list(User.objects.values_list("username", flat=True)) == ["nine@example.com"]


def test_an_account_verified_while_the_removal_runs_stays(make_user, monkeypatch):
    """Each removal re-checks the account under its row lock: another instance's run, or the link
    followed at that moment, wins without an account lost."""
    old = aged(make_user("race@example.com", verified=False), TTL + 60)
    locked_removal = unverified._remove_locked

    def verified_first(accounts):
        User.objects.filter(pk=old.pk).update(verified=True, verified_on=timezone.now())
        return locked_removal(accounts)

    monkeypatch.setattr(unverified, "_remove_locked", verified_first)
    assert unverified.remove_expired() == 0
    assert User.objects.get(pk=old.pk).verified


SIGN_UP = {"username": "Squat@Example.com", "password": PASSWORD, "first_name": "S", "last_name": "Q"}


def test_sign_up_takes_over_an_expired_unverified_address(client, make_user):
    squatter = aged(make_user("squat@example.com", verified=False), TTL + 60)
    token_store().issue("squat@example.com")
    response = client.post("/v1/user", SIGN_UP, format="json")  # the timer has not run
    assert response.status_code == 201, response.json()
    (owner,) = User.objects.filter(username_key="squat@example.com")
    assert str(owner.pk) == response.json()["id"] != str(squatter.pk)
    assert owner.username == "Squat@Example.com" and owner.check_password(PASSWORD)


@pytest.mark.parametrize("verified, age", [(False, TTL - 60), (True, TTL * 10)])
def test_sign_up_refuses_an_address_in_use(client, make_user, verified, age):
    holder = aged(make_user("squat@example.com", verified=verified), age)
    response = client.post("/v1/user", SIGN_UP, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"username": ["An account with this e-mail address already exists."]}
    assert list(User.objects.values_list("pk", flat=True)) == [holder.pk]
