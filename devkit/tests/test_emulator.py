"""The db-admin stand-in (emulator-side only): in a moto_server process, an invocation of a stack's
db-admin function runs the deployed zip's handler against MariaDB; it refuses anything but
loopback, and says which variable to set when it has no MySQL."""
import json

import boto3
import pytest

from devkit.emulator import DbAdminStandIn, EmulatedMysql, function_name_of, is_db_admin
from devkit.testing import moto_server

ACCOUNT, REGION = "123456789012", "us-east-1"


def test_function_names_and_arns_are_recognised():
    assert is_db_admin("cloudsite-dev-db-admin")
    assert is_db_admin(f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:cloudsite-dev-db-admin:$LATEST")
    assert function_name_of(f"arn%3Aaws%3Alambda%3A{REGION}%3A{ACCOUNT}%3Afunction%3Acloudsite-dev-db-admin") == \
        "cloudsite-dev-db-admin"
    assert not is_db_admin("cloudsite-dev-verification-mail")


@pytest.mark.parametrize("url", ["mysql://root@10.0.0.5:3306", "mysql://root@db.example.com", "postgres://127.0.0.1"])
def test_only_a_mysql_on_loopback_is_taken(url):
    with pytest.raises(ValueError, match="loopback only"):
        EmulatedMysql.from_environment({"CLOUDSITE_EMULATOR_MYSQL": url})
    assert EmulatedMysql.from_environment({}) is None


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "[::1]"])
def test_any_loopback_address_is_taken(host):
    assert EmulatedMysql.from_environment({"CLOUDSITE_EMULATOR_MYSQL": f"mysql://root@{host}:3306"}).port == 3306


def test_without_mysql_the_answer_names_the_variable():
    error, payload = DbAdminStandIn(mysql=None).invoke("cloudsite-dev-db-admin", b'{"action": "ensure_app_user"}')
    answer = json.loads(payload)
    assert error is None and answer["ok"] is False
    assert "set CLOUDSITE_EMULATOR_MYSQL=mysql://root@127.0.0.1:3306" in answer["error"]


def test_local_cloud_refuses_without_a_mysql_in_one_line(monkeypatch):
    from django.core.management import CommandError

    from devkit.management.commands.local_cloud import Command

    monkeypatch.setenv("CLOUDSITE_EMULATOR_MYSQL", "mysql://root@127.0.0.1:1")  # nothing listens there
    with pytest.raises(CommandError, match=r"^CLOUDSITE_EMULATOR_MYSQL=mysql://root@127.0.0.1:1: no MariaDB answers"):
        Command._check_mysql()
    monkeypatch.setenv("CLOUDSITE_EMULATOR_MYSQL", "mysql://root@192.0.2.1:3306")
    with pytest.raises(CommandError, match="loopback only"):
        Command._check_mysql()


def test_the_server_runs_the_deployed_handler_against_mariadb(emulated_mysql):
    """Process-level: a moto_server (devkit.serial_moto) with an emulated primary and the
    db-admin function, invoked as the data layer does; the app user then logs in on MariaDB."""
    import pymysql

    from deploy.db_admin_zip import build_db_admin_zip

    with moto_server() as endpoint:
        session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
        client = lambda service: session.client(service, endpoint_url=endpoint)  # noqa: E731
        master = {"username": "cloudsite_master", "password": "Mast3r-pw-0123456789"}
        db = client("rds").create_db_instance(
            DBInstanceIdentifier="cloudsite-emu-db", Engine="mysql", EngineVersion="8.4", DBInstanceClass="db.t3.micro",
            AllocatedStorage=20, MasterUsername=master["username"], MasterUserPassword=master["password"],
            DBName="cloudsite")["DBInstance"]
        iam = client("iam")
        role = iam.create_role(RoleName="r", AssumeRolePolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                                    "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
        lam = client("lambda")
        lam.create_function(FunctionName="cloudsite-emu-db-admin", Runtime="python3.12", Role=role,
                            Handler="handler.handler", Code={"ZipFile": build_db_admin_zip(ca_bundle=b"")})
        app = {"username": "cloudsite_app", "password": "App-pw-0123456789abc"}
        event = {"action": "ensure_app_user", "host": db["Endpoint"]["Address"], "port": 3306,
                 "database": "cloudsite", "tls": True, "admin": master, "user": app}
        answer = lam.invoke(FunctionName="cloudsite-emu-db-admin", InvocationType="RequestResponse",
                            Payload=json.dumps(event).encode())
        result = json.loads(answer["Payload"].read())
        assert "FunctionError" not in answer and result["ok"] is True, result

        wrong = lam.invoke(FunctionName="cloudsite-emu-db-admin", InvocationType="RequestResponse",
                           Payload=json.dumps({**event, "admin": {**master, "password": "not-it"}}).encode())
        refused = json.loads(wrong["Payload"].read())
        assert refused["ok"] is False and refused["error"].startswith("MySQL 1045")
        assert "not-it" not in refused["error"]

    with emulated_mysql.connect() as conn, conn.cursor() as cursor:
        cursor.execute("SELECT User FROM mysql.user WHERE User LIKE %s", (r"cs\_db\_%\_cloudsite\_app",))
        users = [row[0] for row in cursor.fetchall()]
    made = [u for u in users if u.endswith("_cloudsite_app")]
    assert made  # scoped to the emulated instance: cs_db_<scope>_cloudsite_app
    try:
        for user in made:
            scope = user[len("cs_db_"):-len("_cloudsite_app")]
            try:
                conn = pymysql.connect(host=emulated_mysql.host, port=emulated_mysql.port, user=user,
                                       password=app["password"], database=f"cloudsite_db_{scope}_cloudsite",
                                       connect_timeout=5)
            except pymysql.err.MySQLError:
                continue  # another run's user
            conn.close()
            break
        else:
            pytest.fail("the app user made through the server does not log in")
    finally:
        with emulated_mysql.connect() as conn, conn.cursor() as cursor:  # the server's stand-in made them
            for user in made + [u.replace("_cloudsite_app", "_cloudsite_master") for u in made]:
                cursor.execute("DROP USER IF EXISTS %s@'%%'", (user,))
            for user in made:
                scope = user[len("cs_db_"):-len("_cloudsite_app")]
                cursor.execute(f"DROP DATABASE IF EXISTS `cloudsite_db_{scope}_cloudsite`")
