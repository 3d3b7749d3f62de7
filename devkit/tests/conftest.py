"""The emulator's MariaDB for the devkit tests (the provisioning tests' conftest has its own,
with the in-process db-admin hook these tests do not need: they talk to a moto_server process)."""
import os

import pytest

from devkit.emulator import EmulatedMysql
from devkit.testing import EMULATOR_MYSQL, require_reachable


@pytest.fixture
def emulated_mysql(monkeypatch):
    """The emulator's MariaDB, named in the environment the moto_server processes inherit
    (skipped without it, failed in CI)."""
    for key, value in EMULATOR_MYSQL.items():
        monkeypatch.setenv(key, os.environ.get(key, value))
    mysql = EmulatedMysql.from_environment()
    require_reachable(mysql)
    return mysql
