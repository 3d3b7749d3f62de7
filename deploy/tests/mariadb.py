"""The real MariaDB for the db-admin and rotation tests: an admin connection, and databases and
users of the test's own (``cloudsite_app_*`` / ``cs_app_*``), dropped afterwards.

``TEST_MYSQL_URL`` (default ``mysql://root@127.0.0.1:3306``) names the server. When it does not
answer the tests are skipped, except with ``CLOUDSITE_REQUIRE_SERVICES=1`` (CI), where they fail.
"""
from __future__ import annotations

import os
import secrets
import uuid
from dataclasses import dataclass

import environ
import pymysql
import pytest

REQUIRE_SERVICES = os.environ.get("CLOUDSITE_REQUIRE_SERVICES") == "1"


@dataclass
class Server:
    host: str
    port: int
    user: str
    password: str

    def connect(self, user: str | None = None, password: str | None = None, database: str | None = None):
        return pymysql.connect(host=self.host, port=self.port, user=user or self.user,
                               password=self.password if password is None else password,
                               database=database, autocommit=True, connect_timeout=5)


def server() -> Server:
    """The server, or skip/fail the test when none answers."""
    config = environ.Env.db_url_config(os.environ.get("TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/x"))
    found = Server(config["HOST"] or "127.0.0.1", int(config["PORT"] or 3306), config["USER"] or "root",
                   config["PASSWORD"] or "")
    try:
        found.connect().close()
    except pymysql.err.MySQLError as error:
        message = f"MariaDB/MySQL not reachable at {found.host}:{found.port} ({error.args[0]})"
        if REQUIRE_SERVICES:
            pytest.fail(message + "; CI requires it", pytrace=False)
        pytest.skip(message)
    return found


def unique(prefix: str) -> str:
    """A name of the test's own: ``cs_app_<12 hex>`` (at most 32 characters)."""
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def password() -> str:
    return secrets.token_urlsafe(24)


class Scratch:
    """Creates databases and users for one test and drops them at the end."""

    def __init__(self, found: Server):
        self.server, self.admin = found, found.connect()
        self.databases: list[str] = []
        self.users: list[str] = []

    def database(self) -> str:
        name = unique("cloudsite_app")
        with self.admin.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        self.databases.append(name)
        return name

    def user(self) -> str:
        name = unique("cs_app")
        self.users.append(name)
        return name

    def close(self) -> None:
        with self.admin.cursor() as cursor:
            for name in self.users:
                cursor.execute("DROP USER IF EXISTS %s@'%%'", (name,))
            for name in self.databases:
                cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        self.admin.close()


@pytest.fixture
def mariadb():
    found = server()
    scratch = Scratch(found)
    try:
        yield scratch
    finally:
        scratch.close()
