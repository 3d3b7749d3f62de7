"""The db-admin function and the app user against moto in-process, with each invocation answered
by the function's real handler (from the zip deployed to the emulated function) against this
machine's MariaDB (devkit/emulator.py; the conftest's hook): made, re-run with no change,
drifted and reconciled, failures reported in one line, torn down and restored."""
import json

import pytest

from devkit.testing import engine_for, make_context
from provisioning.calls import CallCounter
from provisioning.engine import EngineFailed
from provisioning.layers import data
from provisioning.tests.data_fixtures import apply, status, teardown

ACCOUNT, REGION = "123456789012", "us-east-1"
pytestmark = pytest.mark.usefixtures("moto_ebs_default_key")


@pytest.fixture
def built(config, aws, emulated_mysql):
    apply(config, "network")
    results, _ = apply(config)
    return results


def network_ids(config):
    return {r.name: r.id for r in engine_for(make_context(config), ["network"]).status()}


def secret(ctx, purpose):
    sm = ctx.client("secretsmanager")
    return json.loads(sm.get_secret_value(SecretId=f"cloudsite/dev/db-{purpose}")["SecretString"])


def app_tag(ctx):
    tags = ctx.client("secretsmanager").describe_secret(SecretId="cloudsite/dev/db-app")["Tags"]
    return {t["Key"]: t["Value"] for t in tags}.get("cloudsite:app-user")


@pytest.fixture
def names(_db_admin_invocations, built):
    """The emulated primary's users and database as the stand-in names them on the shared server."""
    return _db_admin_invocations.names(built["data.db.primary"].state["endpoint"])


def login(mysql, names, credentials):
    """As the app would: a login, and a query in its database."""
    import pymysql

    conn = pymysql.connect(host=mysql.host, port=mysql.port, user=names["user"](credentials["username"]),
                           password=credentials["password"], database=names["database"], connect_timeout=5)
    with conn, conn.cursor() as cursor:
        cursor.execute("SELECT 1")
        return cursor.fetchone()[0]


def test_the_function_sits_in_the_database_subnets_with_its_own_group_and_no_environment(built, config, ctx):
    ids = network_ids(config)
    function = ctx.client("lambda").get_function_configuration(FunctionName="cloudsite-dev-db-admin")
    assert sorted(function["VpcConfig"]["SubnetIds"]) == sorted(ids[f"network.subnet.private-{i}"] for i in (1, 2, 3))
    assert function["VpcConfig"]["SecurityGroupIds"] == [ids["network.sg.db-admin"]]
    assert function.get("Environment", {}).get("Variables", {}) == {}
    assert (function["Runtime"], function["Handler"]) == ("python3.12", "handler.handler")
    assert function["Role"] == f"arn:aws:iam::{ACCOUNT}:role/cloudsite-dev-db-admin"
    _, hexdigest, sha256 = data.db_admin_code()
    assert function["CodeSha256"] == sha256
    keys = [o["Key"] for o in ctx.client("s3").list_objects_v2(
        Bucket=f"cloudsite-dev-deploy-{ACCOUNT}-{REGION}", Prefix="lambda/cloudsite-dev-db-admin/")["Contents"]]
    assert keys == [f"lambda/cloudsite-dev-db-admin/{hexdigest}.zip"]
    group = ctx.client("logs").describe_log_groups(logGroupNamePrefix="/aws/lambda/cloudsite-dev-db-admin")["logGroups"]
    assert [(g["logGroupName"], g["retentionInDays"]) for g in group] == [("/aws/lambda/cloudsite-dev-db-admin", 30)]


def test_the_role_trusts_lambda_for_this_account_and_grants_its_interfaces_and_logs_only(built, config, ctx):
    iam, ids = ctx.client("iam"), network_ids(config)
    role = iam.get_role(RoleName="cloudsite-dev-db-admin")["Role"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "lambda.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
    assert iam.list_attached_role_policies(RoleName="cloudsite-dev-db-admin")["AttachedPolicies"] == []
    (name,) = iam.list_role_policies(RoleName="cloudsite-dev-db-admin")["PolicyNames"]
    statements = {s["Sid"]: s for s in iam.get_role_policy(RoleName="cloudsite-dev-db-admin",
                                                           PolicyName=name)["PolicyDocument"]["Statement"]}
    ec2 = f"arn:aws:ec2:{REGION}:{ACCOUNT}"
    assert statements["CreateInterfacesInItsSubnetsWithItsGroup"]["Resource"] == sorted(
        [f"{ec2}:network-interface/*", f"{ec2}:security-group/{ids['network.sg.db-admin']}",
         *[f"{ec2}:subnet/{ids[f'network.subnet.private-{i}']}" for i in (1, 2, 3)]])
    assert statements["DescribeNetworking"] == {
        "Sid": "DescribeNetworking", "Effect": "Allow", "Resource": "*",
        "Action": ["ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"]}
    assert statements["WriteItsLogs"]["Resource"] == [
        f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/cloudsite-dev-db-admin:*"]
    actions = sorted(a for s in statements.values() for a in s["Action"])
    assert actions == ["ec2:AssignPrivateIpAddresses", "ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface",
                       "ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets", "ec2:UnassignPrivateIpAddresses",
                       "logs:CreateLogStream", "logs:PutLogEvents"]  # no secretsmanager, no rds: it calls no AWS API


def test_the_app_user_exists_with_exactly_its_grants_and_the_secret_says_so(built, ctx, emulated_mysql, names):
    from deploy.db_admin.users import APP_PRIVILEGES, privileges, schema_pattern

    app, master = secret(ctx, "app"), secret(ctx, "master")
    assert login(emulated_mysql, names, app) == 1
    with emulated_mysql.connect() as conn:
        held = privileges(conn, names["user"]("cloudsite_app"))
    held = {scope: names - {"USAGE"} for scope, names in held.items() if names - {"USAGE"}}  # USAGE: none
    assert held == {(schema_pattern(names["database"]), None, None): set(APP_PRIVILEGES)}
    primary = built["data.db.primary"].state
    assert (app_tag(ctx) == built["data.db.app-user"].state["applied"]
            == f"{data.grants_version()}@{primary['resource_id']}")
    assert login(emulated_mysql, names, master) == 1  # the master user, as the emulated RDS made it


def test_rerun_invokes_nothing(built, config):
    results, counter = apply(config)
    assert counter.mutating == 0, counter.mutating_calls()
    assert results["data.db.app-user"].action == "no-op"


def test_a_changed_grant_set_drifts_and_the_reconcile_invokes_again(built, config, ctx, monkeypatch):
    monkeypatch.setattr(data, "grants_version", lambda: "grants-next")
    before = status(config)
    assert {n: r.changes for n, r in before.items() if r.action != "ok"} == {
        "data.db.app-user": [f"app user: {app_tag(ctx)} -> "
                             f"grants-next@{built['data.db.primary'].state['resource_id']}"]}
    results, counter = apply(config)
    assert results["data.db.app-user"].action == "update"
    assert counter.mutating_calls() == {"lambda:Invoke": 1, "secretsmanager:TagResource": 1}
    assert app_tag(ctx).startswith("grants-next@")
    assert apply(config)[1].mutating == 0


def test_an_app_user_dropped_in_the_database_is_made_again_once_its_tag_goes(built, config, ctx, emulated_mysql,
                                                                            names):
    """The tag is what AWS can see; SQL-side loss is found by removing it (or by a rotation's test)."""
    with emulated_mysql.connect() as conn, conn.cursor() as cursor:
        cursor.execute("DROP USER %s@'%%'", (names["user"]("cloudsite_app"),))
    ctx.client("secretsmanager").untag_resource(SecretId="cloudsite/dev/db-app", TagKeys=["cloudsite:app-user"])
    assert status(config)["data.db.app-user"].action == "missing"
    results, _ = apply(config)
    assert results["data.db.app-user"].action == "create"
    assert login(emulated_mysql, names, secret(ctx, "app")) == 1


def test_a_refused_invocation_is_one_line_with_no_password(built, config, ctx, emulated_mysql, capsys):
    """The master secret no longer holds the instance's password: the real handler's MySQL error."""
    sm = ctx.client("secretsmanager")
    wrong = data.new_password()
    sm.put_secret_value(SecretId="cloudsite/dev/db-master",
                        SecretString=json.dumps({"username": "cloudsite_master", "password": wrong}))
    sm.untag_resource(SecretId="cloudsite/dev/db-app", TagKeys=["cloudsite:app-user"])
    stream = __import__("io").StringIO()
    with pytest.raises(EngineFailed) as failed:
        engine_for(make_context(config, stream=stream), ["data"]).apply()
    message = str(failed.value)
    assert message.startswith("data.db.app-user: cloudsite-dev-db-admin: ensure_app_user failed: MySQL 1045: ")
    shown = message + stream.getvalue() + "".join(capsys.readouterr())
    assert wrong not in shown and secret(ctx, "app")["password"] not in shown
    assert app_tag(ctx) is None  # not marked as done


def test_without_the_emulators_mysql_the_error_names_the_variable(config, aws, monkeypatch, _db_admin_invocations):
    apply(config, "network")
    monkeypatch.setattr(_db_admin_invocations, "mysql", None)
    with pytest.raises(EngineFailed, match=r"data.db.app-user: .*set CLOUDSITE_EMULATOR_MYSQL=mysql://"):
        apply(config)


def test_teardown_then_apply_restores_the_secrets_and_remakes_the_user_on_the_new_primary(
        built, config, ctx, emulated_mysql, _db_admin_invocations):
    before = {p: secret(ctx, p) for p in ("master", "app")}
    arns = {p: built[f"data.secret.db-{p}"].state["arn"] for p in ("master", "app")}
    results, _ = teardown(config)
    assert {results[n].action for n in ("data.db-admin-function", "data.role.db-admin", "data.db-admin-log-group",
                                        "data.db.app-user", "data.secret.db-app",
                                        "data.secret.db-master")} == {"delete"}
    lam, sm = ctx.client("lambda"), ctx.client("secretsmanager")
    assert lam.list_functions()["Functions"] == []
    assert ctx.client("iam").list_roles()["Roles"] == []
    for purpose in ("master", "app"):  # scheduled for deletion (7 days), restorable
        assert sm.describe_secret(SecretId=f"cloudsite/dev/db-{purpose}")["DeletedDate"]

    again, _ = apply(config)
    assert again["data.secret.db-master"].action == "create" and again["data.db.app-user"].action == "create"
    assert {p: secret(ctx, p) for p in ("master", "app")} == before  # the same credentials, restored
    assert {p: again[f"data.secret.db-{p}"].state["arn"] for p in ("master", "app")} == arns
    assert app_tag(ctx).endswith("@" + again["data.db.primary"].state["resource_id"])
    assert login(emulated_mysql, _db_admin_invocations.names(again["data.db.primary"].state["endpoint"]),
                 before["app"]) == 1
    assert {n: r.changes for n, r in status(config).items() if r.action != "ok"} == {}


def test_the_function_code_is_updated_only_when_the_zip_changes(built, config, ctx, monkeypatch):
    counter = CallCounter()
    engine_for(make_context(config, hooks=[counter]), ["data"]).apply()
    assert "lambda:UpdateFunctionCode" not in counter.calls
    data_zip, _, _ = data.db_admin_code()
    changed = data_zip + b"\0"  # a different zip (a new handler or PyMySQL)
    from provisioning.recipes.lambda_function import zip_code

    monkeypatch.setattr(data, "db_admin_code", lambda: zip_code(changed))
    results, counter = apply(config)
    assert results["data.db-admin-function"].action == "update"
    assert counter.calls["lambda:UpdateFunctionCode"] == 1
    assert ctx.client("lambda").get_function_configuration(
        FunctionName="cloudsite-dev-db-admin")["CodeSha256"] == zip_code(changed)[2]


def test_a_primary_whose_password_rds_manages_is_given_the_stacks_own_again(built, config, ctx, emulated_mysql, names):
    """Someone let RDS manage the master password (no replica could be made then): drift, and the
    reconcile hands RDS the master secret's password; the db-admin function logs in with it."""
    rds = ctx.client("rds")
    rds.modify_db_instance(DBInstanceIdentifier="cloudsite-dev-db", ManageMasterUserPassword=True,
                           ApplyImmediately=True)
    assert rds.describe_db_instances(DBInstanceIdentifier="cloudsite-dev-db")["DBInstances"][0]["MasterUserSecret"]
    drifted = {n: r.changes for n, r in status(config).items() if r.action != "ok"}
    assert drifted == {
        "data.db.primary": ["master password: managed by RDS -> the stack's secret cloudsite/dev/db-master"]}
    results, counter = apply(config)
    assert results["data.db.primary"].action == "update" and counter.calls["rds:ModifyDBInstance"] == 1
    assert "MasterUserSecret" not in rds.describe_db_instances(
        DBInstanceIdentifier="cloudsite-dev-db")["DBInstances"][0]
    ctx.client("secretsmanager").untag_resource(SecretId="cloudsite/dev/db-app", TagKeys=["cloudsite:app-user"])
    assert apply(config)[0]["data.db.app-user"].action == "create"  # the master secret's password works
    assert login(emulated_mysql, names, secret(ctx, "master")) == 1
    assert {n: r.changes for n, r in status(config).items() if r.action != "ok"} == {}
