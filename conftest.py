"""Test-wide set-up: fake AWS credentials, moto serialised, a clean cache, the MariaDB pass guard."""
import os

import pytest

# Never real AWS: fake credentials before anything imports boto3.
for name, value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}.items():
    os.environ[name] = value
os.environ.pop("AWS_PROFILE", None)

REQUIRE_SERVICES = os.environ.get("CLOUDSITE_REQUIRE_SERVICES") == "1"


def using_mysql() -> bool:
    return os.environ.get("DATABASE_URL", "").startswith("mysql")


def pytest_configure(config):
    from devkit import serial_moto

    serial_moto.install()  # moto's backends are not thread-safe; the engine calls from threads
    if using_mysql():
        _check_mysql_reachable()


def _check_mysql_reachable():
    import environ
    import MySQLdb

    cfg = environ.Env.db_url_config(os.environ["DATABASE_URL"])
    try:
        MySQLdb.connect(host=cfg["HOST"] or "127.0.0.1", port=int(cfg["PORT"] or 3306),
                        user=cfg["USER"], password=cfg["PASSWORD"] or "").close()
    except MySQLdb.Error as error:
        message = f"MariaDB/MySQL pass: server not reachable ({error})"
        if REQUIRE_SERVICES:
            pytest.exit(message + "; CI requires it", returncode=1)
        pytest.exit(message + "; SKIPPED the MariaDB pass", returncode=0)


def pytest_collection_modifyitems(config, items):
    if using_mysql():
        return
    for item in items:
        if "mysql" in item.keywords:
            item.add_marker(pytest.mark.skip(reason="runs in the MariaDB pass (make test-mysql)"))


@pytest.fixture(autouse=True)
def _clean_cache():
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()
