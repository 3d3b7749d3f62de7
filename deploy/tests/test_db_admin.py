"""The db-admin Lambda's SQL and handler against the real MariaDB, and its reproducible zip."""
import io
import json
import re
import subprocess
import sys
import zipfile

import pymysql
import pytest

from deploy import db_admin_zip
from deploy.db_admin import handler as db_handler
from deploy.db_admin import users
from deploy.tests.mariadb import password

FAKE_CA = b"-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"
EXPECTED = {"SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "ALTER", "DROP", "INDEX", "REFERENCES"}


def grants(mariadb, username):
    """SHOW GRANTS, parsed: ``{"*.*": {"USAGE"}, "`db`.*": {...}}`` (GRANT OPTION as a name)."""
    with mariadb.admin.cursor() as cursor:
        cursor.execute("SHOW GRANTS FOR %s@'%%'", (username,))
        rows = [row[0] for row in cursor.fetchall()]
    found = {}
    for row in rows:
        match = re.match(r"GRANT (.+?) ON (\S+) TO ", row)
        names = {name.strip() for name in match.group(1).split(",")}
        if row.rstrip().endswith("WITH GRANT OPTION"):
            names.add("GRANT OPTION")
        found.setdefault(match.group(2), set()).update(names)
    return found


def can_login(mariadb, username, secret, database=None):
    try:
        mariadb.server.connect(username, secret, database).close()
        return True
    except pymysql.err.OperationalError as error:
        assert error.args[0] in (1044, 1045, 1698), error.args  # 1698: no such user (MariaDB)
        return False


def event(mariadb, action, database, username, secret, **extra):
    server = mariadb.server
    return {"action": action, "host": server.host, "port": server.port, "database": database,
            "admin": {"username": server.user, "password": server.password},
            "user": {"username": username, "password": secret}, "tls": False, **extra}


def own_pattern(database):
    return "`" + database.replace("_", "\\_") + "`.*"


def test_ensure_twice_grants_exactly_the_app_privileges(mariadb):
    database, user, secret = mariadb.database(), mariadb.user(), password()
    users.ensure_app_user(mariadb.admin, database, user, secret, require_ssl=False)
    first = grants(mariadb, user)
    users.ensure_app_user(mariadb.admin, database, user, secret, require_ssl=False)
    assert grants(mariadb, user) == first == {"*.*": {"USAGE"}, own_pattern(database): EXPECTED}
    assert can_login(mariadb, user, secret, database)
    # the grant is on this database only: "_" is not a wildcard (cloudsite_app_x ≠ cloudsiteXapp_x)
    with mariadb.admin.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE = %s",
                       (users.grantee(user),))
        assert cursor.fetchone()[0] == len(EXPECTED)


def test_a_second_run_changes_nothing(mariadb, monkeypatch):
    database, user, secret = mariadb.database(), mariadb.user(), password()
    users.ensure_app_user(mariadb.admin, database, user, secret, require_ssl=False)
    executed = []
    cursor_class = mariadb.admin.cursorclass
    original = cursor_class.execute

    def record(self, query, args=None):
        executed.append(query.split()[0])
        return original(self, query, args)

    monkeypatch.setattr(cursor_class, "execute", record)
    users.ensure_app_user(mariadb.admin, database, user, secret, require_ssl=False)
    assert "GRANT" not in executed and "REVOKE" not in executed


def test_extra_privileges_are_revoked(mariadb):
    database, other, user, secret = mariadb.database(), mariadb.database(), mariadb.user(), password()
    users.ensure_app_user(mariadb.admin, database, user, secret, require_ssl=False)
    with mariadb.admin.cursor() as cursor:
        cursor.execute(f"CREATE TABLE `{other}`.t (id INT, secret_col INT)")
        cursor.execute("GRANT PROCESS, RELOAD ON *.* TO %s@'%%' WITH GRANT OPTION", (user,))
        cursor.execute(f"GRANT ALL ON `{other}`.* TO %s@'%%'", (user,))
        cursor.execute(f"GRANT SELECT ON `{other}`.t TO %s@'%%'", (user,))
        cursor.execute(f"GRANT UPDATE (secret_col) ON `{other}`.t TO %s@'%%'", (user,))
        cursor.execute(f"GRANT TRIGGER, LOCK TABLES ON {own_pattern(database)} TO %s@'%%'", (user,))
        cursor.execute(f"GRANT SELECT ON `{database}`.* TO %s@'%%'", (user,))  # a wildcard grant
    assert len(grants(mariadb, user)) > 2
    users.ensure_app_user(mariadb.admin, database, user, secret, require_ssl=False)
    assert grants(mariadb, user) == {"*.*": {"USAGE"}, own_pattern(database): EXPECTED}


def test_require_ssl_is_set_and_can_be_lifted(mariadb):
    database, user, secret = mariadb.database(), mariadb.user(), password()

    def ssl_type():
        with mariadb.admin.cursor() as cursor:
            cursor.execute("SELECT ssl_type FROM mysql.user WHERE User = %s AND Host = '%%'", (user,))
            return cursor.fetchone()[0]

    users.ensure_app_user(mariadb.admin, database, user, secret)  # the default: TLS required
    assert ssl_type() == "ANY"
    assert not can_login(mariadb, user, secret)  # this server has no TLS: the requirement bites
    users.ensure_app_user(mariadb.admin, database, user, secret, require_ssl=False)
    assert ssl_type() == "" and can_login(mariadb, user, secret)


def test_set_password_replaces_the_old_one(mariadb):
    database, user, old, new = mariadb.database(), mariadb.user(), password(), password()
    users.ensure_app_user(mariadb.admin, database, user, old, require_ssl=False)
    users.set_password(mariadb.admin, user, new, retain_current=False)
    assert can_login(mariadb, user, new) and not can_login(mariadb, user, old)


def test_dual_passwords_are_detected(mariadb):
    with mariadb.admin.cursor() as cursor:
        cursor.execute("SELECT VERSION()")
        version = cursor.fetchone()[0]
    assert users.supports_dual_passwords(mariadb.admin) is ("MariaDB" not in version)
    if "MariaDB" in version:
        user = mariadb.user()
        users.ensure_app_user(mariadb.admin, mariadb.database(), user, password(), require_ssl=False)
        with pytest.raises(users.UnsupportedError):
            users.set_password(mariadb.admin, user, password(), retain_current=True)
        assert users.discard_old_password(mariadb.admin, user) is False


class FakeVersion:
    """A connection whose server reports ``version``; records the statements it is given."""

    def __init__(self, version):
        self.version, self.executed = version, []

    def cursor(self):
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def execute(self, query, args=None):
        self.executed.append((query, args))

    def fetchone(self):
        return (self.version,)


@pytest.mark.parametrize("version, supported", [("8.4.3", True), ("8.0.14", True), ("8.0.13", False),
                                                ("5.7.44-log", False), ("10.11.6-MariaDB", False)])
def test_retain_current_password_on_mysql(version, supported):
    conn = FakeVersion(version)
    assert users.supports_dual_passwords(conn) is supported
    if supported:
        users.set_password(conn, "cloudsite_app", "pw", retain_current=True)
        assert conn.executed[-1] == ("ALTER USER %s@%s IDENTIFIED BY %s RETAIN CURRENT PASSWORD",
                                     ("cloudsite_app", "%", "pw"))
        assert users.discard_old_password(conn, "cloudsite_app") is True
        assert conn.executed[-1] == ("ALTER USER %s@%s DISCARD OLD PASSWORD", ("cloudsite_app", "%"))


@pytest.mark.parametrize("name", ["", "a" * 33, "app;drop", "a`b", "a'b", "über", None, 5])
def test_names_are_validated(name):
    with pytest.raises(ValueError):
        users.check_name(name)


def test_handler_actions(mariadb):
    database, user, old, new = mariadb.database(), mariadb.user(), password(), password()
    for step in (event(mariadb, "ensure_app_user", database, user, old),
                 event(mariadb, "test_login", database, user, old)):
        assert db_handler.handler(step, None) == {"ok": True, "action": step["action"], "user": user}
    changed = db_handler.handler(event(mariadb, "set_password", database, user, new, retain_current=True), None)
    assert changed == {"ok": True, "action": "set_password", "user": user, "retained": False}  # MariaDB
    assert db_handler.handler(event(mariadb, "test_login", database, user, new), None)["ok"] is True
    refused = db_handler.handler(event(mariadb, "test_login", database, user, old), None)
    assert refused["ok"] is False and refused["error"].startswith("MySQL 1045: Access denied")
    assert db_handler.handler(event(mariadb, "discard_old_password", database, user, new), None) == {
        "ok": True, "action": "discard_old_password", "user": user, "discarded": False}


def test_a_wrong_admin_password_is_one_line_without_the_password(mariadb):
    database, user, secret, wrong = mariadb.database(), mariadb.user(), password(), password()
    step = event(mariadb, "ensure_app_user", database, user, secret)
    step["admin"]["password"] = wrong
    result = db_handler.handler(step, None)
    assert result["ok"] is False and result["action"] == "ensure_app_user"
    assert result["error"].startswith("MySQL 1045: Access denied for user")
    text = json.dumps(result)
    assert wrong not in text and secret not in text and "\n" not in result["error"]
    assert not can_login(mariadb, user, secret)  # nothing was created


def test_a_password_quoted_in_a_server_message_is_masked():
    step = {"admin": {"password": "s3cr3t-admin"}, "user": {"password": "s3cr3t-user"}}
    line = db_handler.failure("set_password", step, "near 's3cr3t-user' at line 1\n(s3cr3t-admin)")
    assert line == {"ok": False, "action": "set_password", "error": "near '***' at line 1 (***)"}


@pytest.mark.parametrize("change", [{"action": "drop_database"}, {"port": "3306"}, {"host": None},
                                    {"user": {"username": "x"}}, {"admin": None},
                                    {"database": "a;b"}, {"user": {"username": "a b", "password": "p"}}])
def test_bad_events_get_a_one_line_error(change):
    step = {"action": "ensure_app_user", "host": "127.0.0.1", "port": 3306, "database": "cloudsite",
            "admin": {"username": "root", "password": "adminpw"},
            "user": {"username": "cloudsite_app", "password": "userpw"}, "tls": False, **change}
    result = db_handler.handler(step, None)
    assert result["ok"] is False and result["error"].startswith("invalid")
    assert "adminpw" not in result["error"] and "userpw" not in result["error"]


def test_tls_without_a_bundle_in_the_package_is_refused(monkeypatch, tmp_path):
    monkeypatch.setattr(db_handler, "CA_BUNDLE", tmp_path / "missing.pem")
    step = {"action": "test_login", "host": "127.0.0.1", "port": 3306, "database": "cloudsite",
            "user": {"username": "cloudsite_app", "password": "userpw"}}
    result = db_handler.handler(step, None)
    assert result == {"ok": False, "action": "test_login",
                      "error": "tls is on but there is no RDS CA bundle (missing.pem)"}


def test_tls_verifies_the_server_against_the_bundle(monkeypatch, tmp_path):
    """With ``tls`` on, PyMySQL is asked to verify the certificate and the host name."""
    bundle = tmp_path / "rds-ca.pem"
    bundle.write_bytes(FAKE_CA)
    monkeypatch.setattr(db_handler, "CA_BUNDLE", bundle)
    seen = {}

    def connect(**kwargs):
        seen.update(kwargs)
        raise pymysql.err.OperationalError(2003, "Can't connect to MySQL server on 'db' (timed out)")

    monkeypatch.setattr(db_handler.pymysql, "connect", connect)
    step = {"action": "test_login", "host": "db.example", "port": 3306, "database": "cloudsite",
            "user": {"username": "cloudsite_app", "password": "userpw"}}
    assert db_handler.handler(step, None)["error"] == "MySQL 2003: Can't connect to MySQL server on 'db' (timed out)"
    assert (seen["ssl_ca"], seen["ssl_verify_cert"], seen["ssl_verify_identity"]) == (str(bundle), True, True)


# --- the zip -----------------------------------------------------------------------------------
def test_zip_is_reproducible_and_holds_the_driver(monkeypatch, tmp_path):
    first = db_admin_zip.build_db_admin_zip(FAKE_CA)
    assert first == db_admin_zip.build_db_admin_zip(FAKE_CA)
    archive = zipfile.ZipFile(io.BytesIO(first))
    names = archive.namelist()
    assert names == sorted(names)
    assert {"handler.py", "users.py", "rds-ca.pem", "pymysql/__init__.py", "pymysql/connections.py",
            "pymysql/constants/CLIENT.py"} <= set(names)
    assert not [name for name in names if name.endswith(".pyc") or "__pycache__" in name]
    assert any(name.endswith("LICENSE") for name in names)
    assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    assert {info.external_attr >> 16 for info in archive.infolist()} == {0o100644}
    assert archive.read("rds-ca.pem") == FAKE_CA
    assert db_admin_zip.build_db_admin_zip(b"") != first and "rds-ca.pem" not in zipfile.ZipFile(
        io.BytesIO(db_admin_zip.build_db_admin_zip(b""))).namelist()
    changed = tmp_path / "users.py"
    changed.write_text(db_admin_zip.SOURCES["users.py"].read_text() + "\n# changed\n")
    monkeypatch.setitem(db_admin_zip.SOURCES, "users.py", changed)
    assert db_admin_zip.build_db_admin_zip(FAKE_CA) != first


def test_the_ca_bundle_comes_from_the_environment_or_fails_in_one_line(monkeypatch, tmp_path):
    db_admin_zip.rds_ca_bundle.cache_clear()
    bundle = tmp_path / "ca.pem"
    bundle.write_bytes(FAKE_CA)
    monkeypatch.setenv("CLOUDSITE_RDS_CA_BUNDLE", str(bundle))
    assert db_admin_zip.rds_ca_bundle() == FAKE_CA
    db_admin_zip.rds_ca_bundle.cache_clear()
    bundle.write_bytes(b"not a certificate")
    with pytest.raises(db_admin_zip.CABundleError, match="holds no PEM certificate"):
        db_admin_zip.rds_ca_bundle()
    db_admin_zip.rds_ca_bundle.cache_clear()
    monkeypatch.delenv("CLOUDSITE_RDS_CA_BUNDLE")

    def offline(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr(db_admin_zip.urllib.request, "urlopen", offline)
    with pytest.raises(db_admin_zip.CABundleError, match="set CLOUDSITE_RDS_CA_BUNDLE to a local copy"):
        db_admin_zip.rds_ca_bundle()
    db_admin_zip.rds_ca_bundle.cache_clear()


def test_the_handler_runs_from_the_zip_alone(mariadb, tmp_path):
    """Unpacked, with no site-packages (``-S``): pymysql comes from the zip, and the handler works."""
    zipfile.ZipFile(io.BytesIO(db_admin_zip.build_db_admin_zip(FAKE_CA))).extractall(tmp_path)
    database, user, secret = mariadb.database(), mariadb.user(), password()
    steps = [event(mariadb, "ensure_app_user", database, user, secret),
             event(mariadb, "test_login", database, user, secret)]
    code = ("import json, sys; sys.path.insert(0, sys.argv[1]); import handler; "
            "assert handler.pymysql.__file__.startswith(sys.argv[1]), handler.pymysql.__file__; "
            "module, function = handler.__name__, handler.handler; "
            "print(json.dumps([function(step, None) for step in json.loads(sys.argv[2])]))")
    assert db_admin_zip.HANDLER == "handler.handler" and db_admin_zip.RUNTIME == "python3.12"
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code, str(tmp_path), json.dumps(steps)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout) == [{"ok": True, "action": "ensure_app_user", "user": user},
                                      {"ok": True, "action": "test_login", "user": user}]


def test_an_unexpected_error_is_an_answer_not_a_traceback(monkeypatch):
    def boom(**kwargs):
        raise RuntimeError("driver broke near 'userpw'")

    monkeypatch.setattr(db_handler.pymysql, "connect", boom)
    step = {"action": "test_login", "host": "db", "port": 3306, "database": "cloudsite", "tls": False,
            "user": {"username": "cloudsite_app", "password": "userpw"}}
    assert db_handler.handler(step, None) == {"ok": False, "action": "test_login",
                                              "error": "unexpected RuntimeError: driver broke near '***'"}
