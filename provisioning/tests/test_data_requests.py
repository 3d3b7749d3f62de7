"""The exact requests the data layer's database recipes send, checked with botocore's Stubber where
moto accepts what AWS refuses (or ignores what AWS needs). Each cites the documentation it follows.
No password appears in a report line, a log record or an exception."""
import io
import json
import logging

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber

from provisioning.context import Context
from provisioning.errors import StackError
from provisioning.layers import data, network
from provisioning.reporter import Reporter

ACCOUNT = "123456789012"
KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1111"
MASTER = {"username": "cloudsite_master", "password": "Mast3r!pw#0123456789abcdefghijklmnopqrst"}
APP = {"username": "cloudsite_app", "password": "App!pw#0123456789abcdefghijklmnopqrstuvw"}
SUBNETS = {f"network.subnet.private-{i}": {"id": f"subnet-{i}"} for i in (1, 2, 3)}
DEPS = {data.RDS_KEY: {"id": "1111", "arn": KEY}, data.SUBNET_GROUP: {"id": "cloudsite-dev-db"},
        data.PARAMETER_GROUP: {"id": "cloudsite-dev-mysql8"}, network.DB_SG: {"id": "sg-db"},
        network.DB_ADMIN_SG: {"id": "sg-admin"}, data.MASTER_SECRET: {"id": "m", "arn": "arn:m"},
        data.APP_SECRET: {"id": "cloudsite/dev/db-app", "arn": "arn:aws:secretsmanager:us-east-1:1:secret:app"},
        **SUBNETS}


@pytest.fixture
def ctx(config):
    ctx = Context(config, session=boto3.Session(region_name="us-east-1"), reporter=Reporter(io.StringIO()))
    ctx._account, ctx._zones = ACCOUNT, ("us-east-1a", "us-east-1b", "us-east-1c")
    return ctx


@pytest.fixture
def recipes(config):
    return {r.name: r for r in data.build(config)}


def stub(ctx, service):
    stubber = Stubber(ctx.client(service))
    stubber.activate()
    return stubber


def secret_value(stubber, name, value):
    stubber.add_response("get_secret_value", {"ARN": f"arn:{name}", "Name": name, "SecretString": json.dumps(value)},
                         {"SecretId": name})


def db(identifier, **extra):
    return {"DBInstanceIdentifier": identifier, "DBInstanceArn": f"arn:aws:rds:us-east-1:{ACCOUNT}:db:{identifier}",
            "DBInstanceStatus": "available", "DBInstanceClass": "db.t3.micro", "Engine": "mysql",
            "EngineVersion": "8.4.5", "DbiResourceId": "db-ABC", "MasterUsername": "cloudsite_master",
            "Endpoint": {"Address": f"{identifier}.example", "Port": 3306}, **extra}


def test_the_primary_is_created_with_the_stacks_master_password_on_mysql_8_4(ctx, recipes, caplog):
    # RDS User Guide, "Limitations for Secrets Manager integration with Amazon RDS": no read replica
    # of a source whose master password RDS manages, so MasterUserPassword and no ManageMasterUserPassword;
    # CreateDBInstance (RDS API reference): EngineLifecycleSupport open-source-rds-extended-support-disabled.
    caplog.set_level(logging.DEBUG, logger="provisioning")
    sm, rds = stub(ctx, "secretsmanager"), stub(ctx, "rds")
    secret_value(sm, "cloudsite/dev/db-master", MASTER)
    rds.add_response("create_db_instance", {"DBInstance": db("cloudsite-dev-db", DBInstanceStatus="creating")}, {
        "DBInstanceIdentifier": "cloudsite-dev-db", "Engine": "mysql", "EngineVersion": "8.4",
        "EngineLifecycleSupport": "open-source-rds-extended-support-disabled",
        "AutoMinorVersionUpgrade": True, "DBInstanceClass": "db.t3.micro", "AllocatedStorage": 20,
        "StorageType": "gp3", "StorageEncrypted": True, "KmsKeyId": KEY,
        "MasterUsername": "cloudsite_master", "MasterUserPassword": MASTER["password"],
        "DBName": "cloudsite", "Port": 3306, "DBSubnetGroupName": "cloudsite-dev-db",
        "DBParameterGroupName": "cloudsite-dev-mysql8", "VpcSecurityGroupIds": ["sg-db"],
        "PubliclyAccessible": False, "AvailabilityZone": "us-east-1a", "BackupRetentionPeriod": 7,
        "DeletionProtection": False, "CopyTagsToSnapshot": True, "Tags": ANY})
    rds.add_response("describe_db_instances", {"DBInstances": [db("cloudsite-dev-db")]})  # the waiter
    rds.add_response("describe_db_instances", {"DBInstances": [db("cloudsite-dev-db")]})
    state = recipes[data.PRIMARY].create(ctx, DEPS)
    rds.assert_no_pending_responses()
    assert state["resource_id"] == "db-ABC" and not state["managed_password"]
    assert MASTER["password"] not in ctx.reporter.stream.getvalue() + caplog.text


def test_the_replica_request_names_no_parameter_group_and_no_password(ctx, recipes):
    # CreateDBInstanceReadReplica (RDS API reference), DBParameterGroupName: "It isn't supported for
    # MySQL DB instances for same Region read replicas"; the replica inherits the source's group.
    rds = stub(ctx, "rds")
    rds.add_response("create_db_instance_read_replica", {"DBInstance": db("cloudsite-dev-db-replica")}, {
        "DBInstanceIdentifier": "cloudsite-dev-db-replica", "SourceDBInstanceIdentifier": "cloudsite-dev-db",
        "DBInstanceClass": "db.t3.micro", "AvailabilityZone": "us-east-1b", "Port": 3306,
        "AutoMinorVersionUpgrade": True, "PubliclyAccessible": False, "VpcSecurityGroupIds": ["sg-db"],
        "DeletionProtection": False, "CopyTagsToSnapshot": True, "Tags": ANY})
    rds.add_response("describe_db_instances", {"DBInstances": [db("cloudsite-dev-db-replica")]})
    rds.add_response("describe_db_instances", {"DBInstances": [db("cloudsite-dev-db-replica")]})
    primary = {"id": "cloudsite-dev-db", "zone": "us-east-1a"}
    recipes[data.REPLICA].create(ctx, {**DEPS, data.PRIMARY: primary})
    rds.assert_no_pending_responses()


def test_a_primary_with_an_rds_managed_password_is_given_the_stacks_own(ctx, recipes):
    # ModifyDBInstance (RDS API reference), ManageMasterUserPassword: turning it off "you must
    # specify MasterUserPassword. In this case, Amazon RDS deletes the secret and uses the new password".
    primary = recipes[data.PRIMARY]
    managed = primary._state(db("cloudsite-dev-db", MasterUserSecret={"SecretArn": "arn:rds!db"},
                                EngineLifecycleSupport=data.ENGINE_LIFECYCLE, BackupRetentionPeriod=7,
                                PubliclyAccessible=False, DeletionProtection=False, StorageEncrypted=True,
                                KmsKeyId=KEY, DBSubnetGroup={"DBSubnetGroupName": "cloudsite-dev-db"},
                                DBParameterGroups=[{"DBParameterGroupName": "cloudsite-dev-mysql8"}],
                                VpcSecurityGroups=[{"VpcSecurityGroupId": "sg-db", "Status": "active"}],
                                TagList=ctx.tags(data.PRIMARY)))
    drift = primary.drift(ctx, managed, DEPS)
    assert [str(d) for d in drift] == ["master password: managed by RDS -> the stack's secret cloudsite/dev/db-master"]
    sm, rds = stub(ctx, "secretsmanager"), stub(ctx, "rds")
    secret_value(sm, "cloudsite/dev/db-master", MASTER)
    rds.add_response("modify_db_instance", {"DBInstance": db("cloudsite-dev-db")}, {
        "DBInstanceIdentifier": "cloudsite-dev-db", "ApplyImmediately": True,
        "ManageMasterUserPassword": False, "MasterUserPassword": MASTER["password"]})
    rds.add_response("describe_db_instances", {"DBInstances": [db("cloudsite-dev-db")]})
    rds.add_response("describe_db_instances", {"DBInstances": [db("cloudsite-dev-db")]})
    primary.reconcile(ctx, managed, drift, DEPS)
    rds.assert_no_pending_responses()


def test_the_function_is_created_in_the_database_subnets_with_no_environment(ctx, recipes, monkeypatch):
    # Lambda CreateFunction (API reference), VpcConfig: SubnetIds and SecurityGroupIds; the function
    # gets its credentials in each event, so Environment holds nothing (no secret in its configuration).
    function = recipes[data.DB_ADMIN_FUNCTION]
    monkeypatch.setattr(data, "db_admin_code", lambda: (b"zip", "abc", "q83v"))
    s3, lam = stub(ctx, "s3"), stub(ctx, "lambda")
    bucket = f"cloudsite-dev-deploy-{ACCOUNT}-us-east-1"
    s3.add_response("put_object", {}, {"Bucket": bucket, "Key": "lambda/cloudsite-dev-db-admin/abc.zip",
                                       "Body": b"zip", "ContentType": "application/zip"})
    config = {"FunctionName": "cloudsite-dev-db-admin", "FunctionArn": "arn:f", "CodeSha256": "q83v",
              "Role": f"arn:aws:iam::{ACCOUNT}:role/cloudsite-dev-db-admin", "Handler": "handler.handler",
              "Runtime": "python3.12", "Timeout": 60, "MemorySize": 128, "State": "Active",
              "VpcConfig": {"SubnetIds": ["subnet-1", "subnet-2", "subnet-3"], "SecurityGroupIds": ["sg-admin"]}}
    lam.add_response("create_function", config, {
        "FunctionName": "cloudsite-dev-db-admin",
        "Code": {"S3Bucket": bucket, "S3Key": "lambda/cloudsite-dev-db-admin/abc.zip"},
        "Description": ANY, "Tags": ANY, "Role": f"arn:aws:iam::{ACCOUNT}:role/cloudsite-dev-db-admin",
        "Handler": "handler.handler", "Runtime": "python3.12", "Timeout": 60, "MemorySize": 128,
        "Environment": {"Variables": {}},
        "VpcConfig": {"SubnetIds": ["subnet-1", "subnet-2", "subnet-3"], "SecurityGroupIds": ["sg-admin"]}})
    lam.add_response("get_function", {"Configuration": config})  # the function_active_v2 waiter
    state = function.create(ctx, DEPS)
    lam.assert_no_pending_responses()
    assert state["vpc"] == {"subnets": ["subnet-1", "subnet-2", "subnet-3"], "security_groups": ["sg-admin"]}
    assert function.drift(ctx, state, DEPS) == []


def invoke_answer(payload: dict, error: str | None = None) -> dict:
    body = json.dumps(payload).encode()
    answer = {"StatusCode": 200, "Payload": StreamingBody(io.BytesIO(body), len(body))}
    if error:
        answer["FunctionError"] = error
    return answer


def app_user_run(ctx, recipes, answer):
    sm, lam = stub(ctx, "secretsmanager"), stub(ctx, "lambda")
    secret_value(sm, "cloudsite/dev/db-master", MASTER)
    secret_value(sm, "cloudsite/dev/db-app", APP)
    expected = {"action": "ensure_app_user", "host": "cloudsite-dev-db.example", "port": 3306,
                "database": "cloudsite", "tls": True, "admin": MASTER, "user": APP}
    lam.add_response("invoke", answer, {"FunctionName": "cloudsite-dev-db-admin",
                                        "InvocationType": "RequestResponse",
                                        "Payload": json.dumps(expected).encode()})
    deps = {**DEPS, data.PRIMARY: {"id": "cloudsite-dev-db", "endpoint": "cloudsite-dev-db.example", "port": 3306,
                                   "resource_id": "db-ABC"}, data.DB_ADMIN_FUNCTION: {"id": "cloudsite-dev-db-admin"}}
    return sm, lam, deps


def test_the_app_user_invokes_synchronously_then_tags_the_app_secret(ctx, recipes, caplog):
    # Lambda Invoke (API reference): InvocationType RequestResponse waits for the function's answer.
    caplog.set_level(logging.DEBUG, logger="provisioning")
    sm, lam, deps = app_user_run(ctx, recipes, invoke_answer({"ok": True, "action": "ensure_app_user",
                                                               "user": "cloudsite_app"}))
    want = f"{data.grants_version()}@db-ABC"
    sm.add_response("tag_resource", {}, {"SecretId": deps[data.APP_SECRET]["arn"],
                                         "Tags": [{"Key": "cloudsite:app-user", "Value": want}]})
    state = recipes[data.APP_USER].create(ctx, deps)
    sm.assert_no_pending_responses()
    lam.assert_no_pending_responses()
    assert state["applied"] == want and recipes[data.APP_USER].drift(ctx, state, deps) == []
    shown = ctx.reporter.stream.getvalue() + caplog.text + json.dumps(state)
    assert MASTER["password"] not in shown and APP["password"] not in shown


@pytest.mark.parametrize("answer, message", [
    (invoke_answer({"ok": False, "action": "ensure_app_user",
                    "error": "MySQL 1045: Access denied for user 'cloudsite_master'@'10.0.0.5' (using password: YES)"}),
     r"^cloudsite-dev-db-admin: ensure_app_user failed: MySQL 1045: Access denied"),
    (invoke_answer({"errorMessage": f"2003 Can't connect ({MASTER['password']})\nline two",
                    "errorType": "OperationalError"}, error="Unhandled"),
     r"^cloudsite-dev-db-admin: ensure_app_user failed \(Unhandled\): 2003 Can't connect \(\*\*\*\) line two$"),
])
def test_a_failed_invocation_is_one_line_without_a_password_and_tags_nothing(ctx, recipes, answer, message):
    sm, lam, deps = app_user_run(ctx, recipes, answer)
    with pytest.raises(StackError, match=message) as failed:
        recipes[data.APP_USER].create(ctx, deps)
    text = str(failed.value)
    assert "\n" not in text and MASTER["password"] not in text and APP["password"] not in text
    sm.assert_no_pending_responses()  # no tag_resource: the user is not "there"


def test_a_re_created_primary_drifts_the_app_user(ctx, recipes):
    """RDS gives every instance its own DbiResourceId (moto gives one constant): the tag written
    for the old instance does not hold for a new one of the same name."""
    app_user = recipes[data.APP_USER]
    state = {"id": "cloudsite_app@cloudsite", "applied": f"{data.grants_version()}@db-OLD", "secret": "arn:s"}
    assert app_user.drift(ctx, state, {data.PRIMARY: {"resource_id": "db-OLD"}}) == []
    (drift,) = app_user.drift(ctx, state, {data.PRIMARY: {"resource_id": "db-NEW"}})
    assert drift.setting == "app user" and drift.want.endswith("@db-NEW")


def test_an_inactive_function_is_invoked_again_once_its_vpc_connection_is_back(ctx, recipes):
    # Lambda Invoke (API reference), ResourceNotReadyException: "The function is inactive and its
    # VPC connection is no longer available. Wait for the VPC connection to reestablish and try again."
    sm, lam = stub(ctx, "secretsmanager"), stub(ctx, "lambda")
    secret_value(sm, "cloudsite/dev/db-master", MASTER)
    secret_value(sm, "cloudsite/dev/db-app", APP)
    deps = {**DEPS, data.PRIMARY: {"id": "cloudsite-dev-db", "endpoint": "h", "port": 3306, "resource_id": "db-A"}}
    lam.add_client_error("invoke", "ResourceNotReadyException", "The function is inactive")
    lam.add_client_error("invoke", "ENINotReadyException", "not ready yet")
    lam.add_response("invoke", invoke_answer({"ok": True, "action": "ensure_app_user", "user": "cloudsite_app"}))
    sm.add_response("tag_resource", {})
    recipes[data.APP_USER].create(ctx, deps)
    lam.assert_no_pending_responses()
    lam.add_client_error("invoke", "AccessDeniedException", "no")
    secret_value(sm, "cloudsite/dev/db-master", MASTER)
    secret_value(sm, "cloudsite/dev/db-app", APP)
    with pytest.raises(Exception, match="AccessDenied"):  # not retried
        recipes[data.APP_USER].create(ctx, deps)
