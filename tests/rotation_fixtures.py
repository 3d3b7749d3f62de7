"""A database stack for the rotation tests: a MariaDB database and app user of the test's own, the
app and master secrets in Secrets Manager, and the data layer's outputs in SSM."""
import json

from deploy.db_admin import users
from deploy.tests.mariadb import password


def make_stack(mariadb, secretsmanager, ssm, stack="dev", function="cloudsite-dev-db-admin"):
    """Returns ``{"database", "user", "password", "admin", "app_arn", "master_arn"}``; the master
    secret holds an admin user of the test's own (like RDS's master user: all privileges, a password)."""
    database, user, first = mariadb.database(), mariadb.user(), password()
    users.ensure_app_user(mariadb.admin, database, user, first, require_ssl=False)
    admin = {"username": mariadb.user(), "password": password()}
    with mariadb.admin.cursor() as cursor:
        cursor.execute("CREATE USER %s@'%%' IDENTIFIED BY %s", (admin["username"], admin["password"]))
        cursor.execute("GRANT ALL PRIVILEGES ON *.* TO %s@'%%' WITH GRANT OPTION", (admin["username"],))
    app_arn = secretsmanager.create_secret(Name=f"cloudsite/{stack}/db-app-{user}", SecretString=json.dumps(
        {"username": user, "password": first, "engine": "mysql"}))["ARN"]
    master_arn = secretsmanager.create_secret(Name=f"cloudsite/{stack}/db-master-{user}", SecretString=json.dumps(
        admin))["ARN"]
    outputs = {"db-endpoint": "db.cloudsite.invalid", "db-port": "3306", "db-name": database, "db-user": user,
               "db-app-secret-arn": app_arn, "db-master-secret-arn": master_arn, "db-admin-function": function}
    for key, value in outputs.items():
        ssm.put_parameter(Name=f"/cloudsite/{stack}/data/{key}", Value=value, Type="String", Overwrite=True)
    return {"database": database, "user": user, "password": first, "admin": admin, "app_arn": app_arn,
            "master_arn": master_arn}


def secret_password(secretsmanager, arn, stage="AWSCURRENT"):
    return json.loads(secretsmanager.get_secret_value(SecretId=arn, VersionStage=stage)["SecretString"])["password"]


def can_login(mariadb, username, secret, database=None):
    import pymysql

    try:
        mariadb.server.connect(username, secret, database).close()
        return True
    except pymysql.err.OperationalError as error:
        assert error.args[0] in (1044, 1045, 1698), error.args
        return False
