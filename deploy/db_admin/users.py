"""The SQL that manages the app's database user, one idea per function, on an open admin connection.

DB-API only (PyMySQL in the Lambda, any driver with ``%s`` parameters elsewhere). Names are
validated and quoted; passwords only ever travel as parameters, which the driver escapes, so no
password is formatted into SQL text that a log line or an error message could show.

The app user gets exactly ``APP_PRIVILEGES`` on its one database: the DML the app does and the DDL
Django's migrations need; nothing global, no GRANT OPTION, no other schema. ``ensure_app_user``
revokes only what differs (never "revoke all, then grant"), so running it while the app serves
never takes a privilege away from a live connection, and running it twice changes nothing.
"""
from __future__ import annotations

import re

NAME = re.compile(r"[A-Za-z0-9_]{1,32}")
APP_HOST = "%"  # RDS: clients connect from the app's subnets; the security group narrows it
APP_PRIVILEGES = frozenset({
    "SELECT", "INSERT", "UPDATE", "DELETE",  # what the app does
    "CREATE", "ALTER", "DROP", "INDEX", "REFERENCES",  # what Django's migrations need
})


class UnsupportedError(Exception):
    """The server lacks a feature asked for (dual passwords on MariaDB or MySQL before 8.0.14)."""


def check_name(name: str) -> str:
    """Accept a user or database name of ``[A-Za-z0-9_]{1,32}`` only, so quoting cannot be escaped."""
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise ValueError(f"invalid name {name!r}: expected 1 to 32 of A-Z a-z 0-9 _")
    return name


def schema_pattern(database: str) -> str:
    r"""The database as a GRANT pattern: ``_`` is a wildcard there (``cs_db`` would also cover
    ``csXdb``), so it is escaped as ``\_``; information_schema reports the grant in this form."""
    return check_name(database).replace("_", "\\_")


# Account names go into statements as parameters too (``'user'@'%'`` is a valid account name).
ACCOUNT = "%s@%s"


def account(username: str) -> tuple[str, str]:
    """The parameters that fill ``ACCOUNT``."""
    return check_name(username), APP_HOST


def grantee(username: str) -> str:
    """``'user'@'%'``, the form information_schema's ``GRANTEE`` columns use."""
    return "'%s'@'%s'" % account(username)


def ensure_app_user(conn, database: str, username: str, password: str, require_ssl: bool = True) -> None:
    """Create the app user if missing, set its password and TLS requirement, and leave it with
    exactly ``APP_PRIVILEGES`` on ``database``.*. Idempotent."""
    create_user(conn, username, password, require_ssl)
    set_password(conn, username, password, retain_current=False)
    grant_exactly(conn, database, username)


def create_user(conn, username: str, password: str, require_ssl: bool = True) -> None:
    """``CREATE USER IF NOT EXISTS``, then the TLS requirement (also on a user that already existed)."""
    tls = "REQUIRE SSL" if require_ssl else "REQUIRE NONE"
    with conn.cursor() as cursor:
        cursor.execute(f"CREATE USER IF NOT EXISTS {ACCOUNT} IDENTIFIED BY %s {tls}",
                       (*account(username), password))
        cursor.execute(f"ALTER USER {ACCOUNT} {tls}", account(username))


def supports_dual_passwords(conn) -> bool:
    """MySQL 8.0.14+ keeps a secondary password (``RETAIN CURRENT PASSWORD``); MariaDB has none."""
    with conn.cursor() as cursor:
        cursor.execute("SELECT VERSION()")
        version = cursor.fetchone()[0]
    if "mariadb" in version.lower():
        return False
    numbers = tuple(int(part) for part in re.findall(r"\d+", version)[:3])
    return numbers >= (8, 0, 14)


def set_password(conn, username: str, password: str, retain_current: bool = False) -> None:
    """``ALTER USER ... IDENTIFIED BY`` the new password. With ``retain_current`` the old one keeps
    working as the secondary password until ``discard_old_password`` (raises ``UnsupportedError``
    where the server has no dual passwords: ask ``supports_dual_passwords`` first)."""
    if retain_current and not supports_dual_passwords(conn):
        raise UnsupportedError("this server has no dual passwords (RETAIN CURRENT PASSWORD)")
    retain = " RETAIN CURRENT PASSWORD" if retain_current else ""
    with conn.cursor() as cursor:
        cursor.execute(f"ALTER USER {ACCOUNT} IDENTIFIED BY %s{retain}", (*account(username), password))


def discard_old_password(conn, username: str) -> bool:
    """Drop the secondary password; False (nothing to do) on a server without dual passwords."""
    if not supports_dual_passwords(conn):
        return False
    with conn.cursor() as cursor:
        cursor.execute(f"ALTER USER {ACCOUNT} DISCARD OLD PASSWORD", account(username))
    return True


def grant_exactly(conn, database: str, username: str) -> None:
    """Grant what is missing of ``APP_PRIVILEGES`` on ``database``.*, then revoke everything else."""
    pattern = schema_pattern(database)
    held = privileges(conn, username)
    missing = APP_PRIVILEGES - held.get((pattern, None, None), set())
    with conn.cursor() as cursor:
        if missing:
            cursor.execute(f"GRANT {', '.join(sorted(missing))} ON {target(pattern, None)} "
                           f"TO {ACCOUNT}", account(username))
        for statement in revocations(held, pattern):
            # a stored name may hold a %: the driver formats the text, so it is doubled
            cursor.execute(statement.replace("%", "%%") + f" FROM {ACCOUNT}", account(username))


def revocations(held: dict, pattern: str) -> list[str]:
    """The ``REVOKE ... ON ...`` statements (without ``FROM``) that take away what is not the app's.

    ``held`` maps ``(schema, table, column)`` to privilege names (``None`` for "all": ``(None, None,
    None)`` is global, ``(schema, None, None)`` a database); ``"GRANT OPTION"`` is one of the names
    where the privilege is grantable. ``pattern`` is the app's database as ``schema_pattern`` gives it.
    """
    statements = []
    for scope in sorted(held, key=lambda key: tuple(part or "" for part in key)):
        schema, table, column = scope
        extra = set(held[scope])
        if scope == (pattern, None, None):
            extra -= APP_PRIVILEGES
        extra.discard("USAGE")  # "no privileges": nothing to revoke
        if column is not None:
            extra.discard("GRANT OPTION")  # grantable is a table-level property
            names = ", ".join(f"{name} ({quote_stored(column)})" for name in sorted(extra))
        else:
            names = ", ".join(sorted(extra))
        if extra:
            statements.append(f"REVOKE {names} ON {target(schema, table)}")
    return statements


def quote_stored(name: str) -> str:
    """Backtick-quote a name as the server reported it (doubling any backtick in it)."""
    return "`" + name.replace("`", "``") + "`"


def target(schema: str | None, table: str | None) -> str:
    """``*.*``, ```db`.*`` or ```db`.`table```."""
    if schema is None:
        return "*.*"
    return quote_stored(schema) + "." + ("*" if table is None else quote_stored(table))


# Each gives (schema, table, column, privilege, grantable) for one grantee; information_schema
# shows an admin every account's rows (it reads the mysql.* grant tables).
PRIVILEGE_QUERIES = (
    "SELECT NULL, NULL, NULL, PRIVILEGE_TYPE, IS_GRANTABLE FROM information_schema.USER_PRIVILEGES "
    "WHERE GRANTEE = %s",
    "SELECT TABLE_SCHEMA, NULL, NULL, PRIVILEGE_TYPE, IS_GRANTABLE "
    "FROM information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE = %s",
    "SELECT TABLE_SCHEMA, TABLE_NAME, NULL, PRIVILEGE_TYPE, IS_GRANTABLE "
    "FROM information_schema.TABLE_PRIVILEGES WHERE GRANTEE = %s",
    "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, PRIVILEGE_TYPE, IS_GRANTABLE "
    "FROM information_schema.COLUMN_PRIVILEGES WHERE GRANTEE = %s",
)


def privileges(conn, username: str) -> dict:
    """What ``username``@``%`` holds: ``{(schema, table, column): {"SELECT", ..., "GRANT OPTION"}}``
    (``None`` = every schema / table / column). Routine, proxy and role grants are not looked at:
    nothing here grants them, and RDS's master user cannot give most of them."""
    held: dict = {}
    with conn.cursor() as cursor:
        for query in PRIVILEGE_QUERIES:
            cursor.execute(query, (grantee(username),))
            for schema, table, column, privilege, grantable in cursor.fetchall():
                names = held.setdefault((schema, table, column), set())
                names.add(privilege.upper())
                if str(grantable).upper() == "YES":
                    names.add("GRANT OPTION")
    return held
