"""The emulator's MariaDB for the devkit tests (the provisioning tests' conftest has its own,
with the in-process db-admin hook these tests do not need: they talk to a moto_server process)."""
import os

import pytest

from devkit.emulator import EmulatedMysql

# the same shared-server prefixes as the provisioning tests: cs_db_* users, cloudsite_db_* databases
EMULATOR_MYSQL = {"CLOUDSITE_EMULATOR_MYSQL": "mysql://root@127.0.0.1:3306",
                  "CLOUDSITE_EMULATOR_MYSQL_USER_PREFIX": "cs_db_",
                  "CLOUDSITE_EMULATOR_MYSQL_DATABASE_PREFIX": "cloudsite_db_"}


@pytest.fixture
def emulated_mysql(monkeypatch):
    """The emulator's MariaDB, named in the environment the moto_server processes inherit
    (skipped without it, failed in CI)."""
    import pymysql

    for key, value in EMULATOR_MYSQL.items():
        monkeypatch.setenv(key, os.environ.get(key, value))
    mysql = EmulatedMysql.from_environment()
    try:
        mysql.connect().close()
    except pymysql.err.MySQLError as error:
        message = f"the emulator's MariaDB at {mysql.host}:{mysql.port} does not answer ({error})"
        if os.environ.get("CLOUDSITE_REQUIRE_SERVICES") == "1":
            pytest.fail(message + "; CI requires it", pytrace=False)
        pytest.skip(message)
    return mysql
