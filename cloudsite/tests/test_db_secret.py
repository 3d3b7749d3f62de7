"""The MySQL backend that reads its credentials from Secrets Manager: caching, the refresh after a
refused login, the AWSPENDING fallback, clear configuration errors; against the real MariaDB."""
import json

import boto3
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import OperationalError
from django.db.utils import ConnectionHandler
from moto import mock_aws

from cloudsite import databases
from cloudsite.db_backends import secret as secret_module
from cloudsite.db_backends.mysql.base import DatabaseWrapper
from cloudsite.db_backends.secret import Credentials, SecretCredentials
from deploy.db_admin import users
from deploy.tests.mariadb import password

REGION = "us-east-1"


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class FakeClient:
    """Secrets Manager's GetSecretValue over ``{stage: SecretString}``; counts the calls."""

    def __init__(self, stages):
        self.stages, self.calls = stages, []

    def get_secret_value(self, SecretId, VersionStage):
        from botocore.exceptions import ClientError

        self.calls.append(VersionStage)
        if VersionStage not in self.stages:
            raise ClientError({"Error": {"Code": "ResourceNotFoundException", "Message": "no such stage"}},
                              "GetSecretValue")
        return {"SecretString": self.stages[VersionStage]}


def doc(username, secret):
    return json.dumps({"username": username, "password": secret, "engine": "mysql"})


def test_credentials_are_cached_for_the_ttl():
    client, clock = FakeClient({"AWSCURRENT": doc("app", "one")}), Clock()
    store = SecretCredentials("arn:aws:secretsmanager:us-east-1:1:secret:x", ttl=300,
                              client_factory=lambda _id: client, clock=clock)
    assert store.get() == Credentials("app", "one") == store.get()
    assert client.calls == ["AWSCURRENT"]
    client.stages["AWSCURRENT"] = doc("app", "two")
    clock.now += 299
    assert store.get().password == "one"
    clock.now += 2
    assert store.get().password == "two" and client.calls == ["AWSCURRENT", "AWSCURRENT"]


def test_alternatives_are_a_changed_current_then_pending():
    client = FakeClient({"AWSCURRENT": doc("app", "old"), "AWSPENDING": doc("app", "new")})
    store = SecretCredentials("s", client_factory=lambda _id: client)
    old = Credentials("app", "old")
    assert list(store.alternatives(old)) == [Credentials("app", "new")]  # current unchanged: pending
    assert client.calls == ["AWSCURRENT", "AWSPENDING"]
    client.stages = {"AWSCURRENT": doc("app", "new")}
    assert list(store.alternatives(old)) == [Credentials("app", "new")]  # no pending version
    assert list(store.alternatives(Credentials("app", "new"))) == []


@pytest.mark.parametrize("text, message", [
    (json.dumps({"username": "app"}), "no 'password' in it"),
    (json.dumps({"username": "app", "password": ""}), "no 'password' in it"),
    (json.dumps({"password": "hunter2-secret"}), "no 'username' in it"),
    ("hunter2-secret", "not a JSON object"),
    (json.dumps(["hunter2-secret"]), "not a JSON object"),
])
def test_a_bad_secret_is_a_clear_error_without_values(text, message):
    store = SecretCredentials("cloudsite/dev/db-app", client_factory=lambda _id: FakeClient({"AWSCURRENT": text}))
    with pytest.raises(ImproperlyConfigured) as caught:
        store.get()
    assert str(caught.value) == f"database secret cloudsite/dev/db-app: {message}"
    # nothing chained (a JSON error could quote the text)
    assert caught.value.__cause__ is None and (caught.value.__context__ is None or caught.value.__suppress_context__)
    assert "hunter2" not in repr(caught.value)


def test_the_password_is_not_in_the_repr():
    assert "s3cr3t" not in repr(Credentials("app", "s3cr3t"))


def test_the_region_comes_from_the_arn():
    client = secret_module.client_for(
        "arn:aws:secretsmanager:eu-west-3:123456789012:secret:cloudsite/dev/db-app-AbCdEf")
    assert client.meta.region_name == "eu-west-3"
    assert client.meta.config.retries["mode"] == "standard"


# --- the settings ----------------------------------------------------------------------------
def test_sqlite_and_plain_urls_are_unchanged():
    assert databases.database_config("sqlite:////tmp/x.sqlite3")["ENGINE"] == "django.db.backends.sqlite3"
    plain = databases.database_config("mysql://app:pw@db:3306/cloudsite")
    assert plain["ENGINE"] == "django.db.backends.mysql" and plain["PASSWORD"] == "pw"
    assert "SECRET_ARN" not in plain and plain["CONN_MAX_AGE"] == 60


def test_a_secret_arn_selects_the_backend():
    config = databases.database_config("mysql://cloudsite_app@db:3306/cloudsite", secret_arn="arn:x",
                                       secret_ttl=30, conn_max_age=0)
    assert (config["ENGINE"], config["SECRET_ARN"], config["SECRET_TTL"]) == \
        ("cloudsite.db_backends.mysql", "arn:x", 30)
    assert config["PASSWORD"] == "" and config["CONN_MAX_AGE"] == 0
    assert config["OPTIONS"]["charset"] == "utf8mb4"
    with pytest.raises(ImproperlyConfigured, match="needs a mysql:// database URL"):
        databases.database_config("sqlite:////tmp/x.sqlite3", secret_arn="arn:x")


# --- the backend against MariaDB ---------------------------------------------------------------
@pytest.fixture
def app_user(mariadb, django_db_blocker):
    """A database and an app user of the test's own, the app secret in moto, a clean store registry."""
    database, user, first = mariadb.database(), mariadb.user(), password()
    users.ensure_app_user(mariadb.admin, database, user, first, require_ssl=False)
    secret_module._stores.clear()
    with mock_aws(), django_db_blocker.unblock():  # its own connections, not the test database
        sm = boto3.client("secretsmanager", region_name=REGION)
        arn = sm.create_secret(Name=f"cloudsite/test/{user}", SecretString=doc(user, first))["ARN"]
        yield {"mariadb": mariadb, "database": database, "user": user, "password": first, "arn": arn,
               "sm": sm, "calls": count_reads(arn)}
    secret_module._stores.clear()


def count_reads(arn, ttl=300):
    """Put a store for ``arn`` in the registry whose client records each GetSecretValue stage."""
    calls = []

    def factory(secret_id):
        client = secret_module.client_for(secret_id)
        client.meta.events.register("before-parameter-build.secrets-manager.GetSecretValue",
                                    lambda params, **_: calls.append(params["VersionStage"]))
        return client

    secret_module._stores[(arn, float(ttl))] = SecretCredentials(arn, ttl, client_factory=factory)
    return calls


def wrapper(fixture, alias="default", **kwargs):
    server = fixture["mariadb"].server
    url = f"mysql://{fixture['user']}@{server.host}:{server.port}/{fixture['database']}"
    config = databases.database_config(url, secret_arn=fixture["arn"], conn_max_age=0, **kwargs)
    settings = ConnectionHandler({"default": config}).settings["default"]  # Django's defaults filled in
    return DatabaseWrapper(settings, alias)


def current_user(connection):
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("SELECT CURRENT_USER()")
        value = cursor.fetchone()[0]
    connection.close()
    return value


def test_connections_read_the_secret_once_per_ttl(app_user):
    primary, replica = wrapper(app_user), wrapper(app_user, alias="replica")
    for _ in range(3):
        assert current_user(primary).startswith(app_user["user"] + "@")
        assert current_user(replica).startswith(app_user["user"] + "@")
    assert app_user["calls"] == ["AWSCURRENT"]  # primary and replica share one cached read


def test_a_refused_login_rereads_the_secret(app_user):
    connection = wrapper(app_user)
    current_user(connection)
    new = password()
    users.set_password(app_user["mariadb"].admin, app_user["user"], new)  # a rotation, done elsewhere
    app_user["sm"].put_secret_value(SecretId=app_user["arn"], SecretString=doc(app_user["user"], new))
    assert current_user(connection).startswith(app_user["user"] + "@")
    assert app_user["calls"] == ["AWSCURRENT", "AWSCURRENT"]
    current_user(connection)  # the working credentials are cached again
    assert len(app_user["calls"]) == 2


def test_a_rotation_in_progress_falls_back_to_pending(app_user):
    connection = wrapper(app_user)
    current_user(connection)
    new = password()
    app_user["sm"].put_secret_value(SecretId=app_user["arn"], SecretString=doc(app_user["user"], new),
                                    ClientRequestToken="0" * 32 + "-pending", VersionStages=["AWSPENDING"])
    users.set_password(app_user["mariadb"].admin, app_user["user"], new)  # no dual passwords here
    assert current_user(connection).startswith(app_user["user"] + "@")
    assert app_user["calls"] == ["AWSCURRENT", "AWSCURRENT", "AWSPENDING"]
    current_user(connection)
    assert len(app_user["calls"]) == 3  # the pending password that worked is cached


def test_credentials_that_never_work_raise_the_login_error(app_user):
    connection = wrapper(app_user)
    users.set_password(app_user["mariadb"].admin, app_user["user"], password())
    with pytest.raises(OperationalError) as caught:
        current_user(connection)
    assert caught.value.args[0] == 1045 and app_user["password"] not in str(caught.value)
    assert app_user["calls"] == ["AWSCURRENT", "AWSCURRENT", "AWSPENDING"]


def test_a_secret_without_password_fails_to_connect_clearly(app_user):
    app_user["sm"].put_secret_value(SecretId=app_user["arn"], SecretString=json.dumps({"username": app_user["user"]}))
    with pytest.raises(ImproperlyConfigured, match=r"no 'password' in it"):
        current_user(wrapper(app_user))
