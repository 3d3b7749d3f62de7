"""The data layer against moto in-process: create, re-run, drift, plan, its settings (teardown and
prod protection: test_data_teardown.py)."""
import json

import pytest

from devkit.testing import engine_for, make_context
from provisioning import naming
from provisioning.config import load_file
from provisioning.context import RESOURCE_TAG, STACK_TAG
from provisioning.engine import EngineFailed
from provisioning.layers import data
from provisioning.tests.data_fixtures import apply, bucket, status, with_settings

NAMES = ["data.kms.s3", "data.kms.rds", "data.kms.ebs", "data.ebs-default-encryption", "data.bucket.app",
         "data.bucket.deploy", "data.db-parameter-group", "data.db-subnet-group", "data.secret.db-master",
         "data.secret.db-app", "data.db.primary", "data.db.replica", "data.role.db-admin",
         "data.db-admin-log-group", "data.db-admin-function", "data.db.app-user", "data.token-table",
         "data.outputs"]
OUTPUT_KEYS = ["app-bucket", "db-admin-function", "db-app-secret-arn", "db-endpoint", "db-master-secret-arn",
               "db-name", "db-port", "db-replica-endpoint", "db-user", "deploy-bucket", "ebs-key-arn",
               "rds-key-arn", "s3-key-arn", "token-table"]
ACCOUNT, REGION = "123456789012", "us-east-1"

pytestmark = pytest.mark.usefixtures("moto_ebs_default_key")


@pytest.fixture
def network(network_layer):
    return network_layer


@pytest.fixture
def built(data_layer):
    return data_layer


def test_first_apply_creates_every_resource_as_configured(built, ctx):
    assert sorted(built) == sorted(NAMES) and {r.action for r in built.values()} == {"create"}
    kms, s3, rds, ddb = (ctx.client(s) for s in ("kms", "s3", "rds", "dynamodb"))

    for purpose in ("s3", "rds", "ebs"):
        key = built[f"data.kms.{purpose}"].state
        meta = kms.describe_key(KeyId=f"alias/cloudsite/dev/{purpose}")["KeyMetadata"]
        assert meta["Arn"] == key["arn"] and meta["KeyManager"] == "CUSTOMER" and meta["KeyState"] == "Enabled"
        assert kms.get_key_rotation_status(KeyId=key["id"])["KeyRotationEnabled"]
        tags = {t["TagKey"]: t["TagValue"] for t in kms.list_resource_tags(KeyId=key["id"])["Tags"]}
        assert tags[STACK_TAG] == "dev" and tags[RESOURCE_TAG] == f"data.kms.{purpose}"
    ebs_policy = json.loads(kms.get_key_policy(KeyId=built["data.kms.ebs"].id, PolicyName="default")["Policy"])
    assert any(s.get("Condition", {}).get("StringEquals", {}).get("kms:ViaService") == "ec2.us-east-1.amazonaws.com"
               for s in ebs_policy["Statement"])

    ec2 = ctx.client("ec2")
    assert ec2.get_ebs_encryption_by_default()["EbsEncryptionByDefault"]
    assert ec2.get_ebs_default_kms_key_id()["KmsKeyId"] == built["data.kms.ebs"].state["arn"]

    s3_key = built["data.kms.s3"].state["arn"]
    for purpose in ("app", "deploy"):
        name = built[f"data.bucket.{purpose}"].state["name"]
        assert name == f"cloudsite-dev-{purpose}-{ACCOUNT}-{REGION}" == naming.bucket("dev", purpose, ACCOUNT, REGION)
        rule = s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]["Rules"][0]
        assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": s3_key}
        assert rule["BucketKeyEnabled"] is True
        assert set(s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"].values()) == {True}
        assert s3.get_bucket_ownership_controls(Bucket=name)["OwnershipControls"]["Rules"] == [
            {"ObjectOwnership": "BucketOwnerEnforced"}]
        with pytest.raises(s3.exceptions.ClientError, match="NoSuchBucketPolicy"):
            s3.get_bucket_policy(Bucket=name)  # an emulated stack: [data] tls_only_bucket_policy off
        rules = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket=name)["Rules"]}
        assert rules["abort-incomplete-multipart-uploads"]["AbortIncompleteMultipartUpload"] == {
            "DaysAfterInitiation": 7}
        tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=name)["TagSet"]}
        assert tags[STACK_TAG] == "dev"
        # both versioned (an overwritten picture is recoverable), old versions expiring
        assert s3.get_bucket_versioning(Bucket=name).get("Status") == "Enabled"
        assert rules["expire-old-versions"]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 30}

    params = {p["ParameterName"]: p["ParameterValue"] for p in rds.describe_db_parameters(
        DBParameterGroupName="cloudsite-dev-mysql8", Source="user")["Parameters"]}
    assert params["require_secure_transport"] == "1" and params["character_set_server"] == "utf8mb4"
    group = rds.describe_db_subnet_groups(DBSubnetGroupName="cloudsite-dev-db")["DBSubnetGroups"][0]
    private = {r.id for r in engine_for(ctx, ["network"]).status() if r.name.startswith("network.subnet.private")}
    assert {s["SubnetIdentifier"] for s in group["Subnets"]} == private

    rds_key = built["data.kms.rds"].state["arn"]
    primary = rds.describe_db_instances(DBInstanceIdentifier="cloudsite-dev-db")["DBInstances"][0]
    replica = rds.describe_db_instances(DBInstanceIdentifier="cloudsite-dev-db-replica")["DBInstances"][0]
    assert primary["StorageEncrypted"] and primary["KmsKeyId"] == rds_key
    assert "MasterUserSecret" not in primary and "MasterUserSecret" not in replica  # the stack's own secret
    assert primary["MasterUsername"] == "cloudsite_master" and primary["DBName"] == "cloudsite"
    assert primary["EngineVersion"].startswith("8.4")
    assert primary["EngineLifecycleSupport"] == "open-source-rds-extended-support-disabled"
    assert rds.describe_db_parameter_groups(DBParameterGroupName="cloudsite-dev-mysql8")["DBParameterGroups"][0][
        "DBParameterGroupFamily"] == "mysql8.4"
    assert not primary["PubliclyAccessible"] and not replica["PubliclyAccessible"]
    assert primary["DeletionProtection"] is False and primary["BackupRetentionPeriod"] == 7
    assert replica["ReadReplicaSourceDBInstanceIdentifier"] == "cloudsite-dev-db"
    assert replica["AvailabilityZone"] != primary["AvailabilityZone"]
    db_sg = [r.id for r in engine_for(ctx, ["network"]).status() if r.name == "network.sg.db"]
    assert [g["VpcSecurityGroupId"] for g in primary["VpcSecurityGroups"]] == db_sg

    table = ddb.describe_table(TableName="cloudsite-dev-verification-tokens")["Table"]
    assert table["KeySchema"] == [{"AttributeName": "token", "KeyType": "HASH"}]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert ddb.describe_time_to_live(TableName=table["TableName"])["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "ENABLED", "AttributeName": "ttl"}
    assert ddb.describe_continuous_backups(TableName=table["TableName"])["ContinuousBackupsDescription"][
        "PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"

    parameters = ctx.client("ssm").get_paginator("get_parameters_by_path").paginate(
        Path="/cloudsite/dev/data/").build_full_result()["Parameters"]
    values = {p["Name"].rsplit("/", 1)[1]: p["Value"] for p in parameters}
    assert sorted(values) == OUTPUT_KEYS and {p["Type"] for p in parameters} == {"String"}
    assert values["db-endpoint"] == primary["Endpoint"]["Address"]
    assert values["db-replica-endpoint"] == replica["Endpoint"]["Address"]
    sm = ctx.client("secretsmanager")
    for purpose, user in (("master", "cloudsite_master"), ("app", "cloudsite_app")):
        secret = sm.describe_secret(SecretId=f"cloudsite/dev/db-{purpose}")
        assert values[f"db-{purpose}-secret-arn"] == secret["ARN"] == built[f"data.secret.db-{purpose}"].state["arn"]
        assert secret["KmsKeyId"] == rds_key
        assert {t["Key"]: t["Value"] for t in secret["Tags"]}[RESOURCE_TAG] == f"data.secret.db-{purpose}"
        value = json.loads(sm.get_secret_value(SecretId=secret["ARN"])["SecretString"])
        assert value["username"] == user and len(value["password"]) == 40
        assert not set(value["password"]) & set('/"@ ')  # what RDS refuses in a master password
    assert values["s3-key-arn"] == s3_key and values["token-table"] == table["TableName"]
    assert values["db-admin-function"] == "cloudsite-dev-db-admin"
    assert (values["db-port"], values["db-name"], values["db-user"]) == ("3306", "cloudsite", "cloudsite_app")


def test_the_tls_only_bucket_policy_is_written_when_the_stack_asks(stacks_dir, network):
    """What a real stack gets (moto then refuses object calls, so only the buckets are applied)."""
    from provisioning import layers
    from provisioning.engine import Engine

    config = load_file(stacks_dir / "dev.toml")
    assert config.data.tls_only_bucket_policy
    recipes = {r.name: r for r in data.build(config)}
    ctx = make_context(config)
    Engine(ctx, [recipes[n] for n in ("data.kms.s3", "data.bucket.app", "data.bucket.deploy")],
           known=layers.resources(config)).apply()
    for purpose in ("app", "deploy"):
        name = naming.bucket("dev", purpose, ACCOUNT, REGION)
        (statement,) = json.loads(ctx.client("s3").get_bucket_policy(Bucket=name)["Policy"])["Statement"]
        assert statement["Effect"] == "Deny" and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        assert statement["Resource"] == [f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"]


def test_recipe_states_carry_what_the_compute_layer_builds_its_policy_from(built):
    contract = {"data.kms.s3": {"id", "arn"}, "data.kms.rds": {"id", "arn"}, "data.kms.ebs": {"id", "arn"},
                "data.bucket.app": {"id", "name", "arn"}, "data.bucket.deploy": {"id", "name", "arn"},
                "data.db.primary": {"id", "endpoint", "port", "arn", "resource_id"},
                "data.secret.db-app": {"id", "arn"}, "data.secret.db-master": {"id", "arn"},
                "data.db.replica": {"id", "endpoint", "port", "arn"}, "data.token-table": {"id", "name", "arn"}}
    for name, keys in contract.items():
        state = built[name].state
        assert keys <= set(state) and all(state[k] for k in keys), (name, state)
    assert built["data.bucket.app"].state["arn"] == f"arn:aws:s3:::{built['data.bucket.app'].state['name']}"


def test_rerun_makes_no_mutating_call(built, config):
    results, counter = apply(config)
    assert counter.mutating == 0, counter.mutating_calls()
    assert {r.action for r in results.values()} == {"no-op"}
    assert {r.id for r in results.values()} == {r.id for r in built.values()}


def test_plan_on_an_empty_account_makes_no_mutating_call(config, network):
    planned, counter = apply(config, dry_run=True)
    assert counter.mutating == 0
    assert {r.action for r in planned.values()} == {"create"} and sorted(planned) == sorted(NAMES)


def test_the_layer_needs_the_network_first(config, aws):
    with pytest.raises(EngineFailed, match="run provision_network first"):
        apply(config)


# --- drift ---------------------------------------------------------------------------------
DRIFTS = [
    ("data.bucket.app", lambda c, b: c("s3").delete_bucket_encryption(Bucket=bucket(b)),
     "encryption: - -> aws:kms arn:aws:kms:us-east-1:123456789012:key/"),
    ("data.bucket.app", lambda c, b: c("s3").delete_public_access_block(Bucket=bucket(b)),
     "public access block: - -> BlockPublicAcls on, IgnorePublicAcls on, BlockPublicPolicy on, "
     "RestrictPublicBuckets on"),
    ("data.bucket.deploy", lambda c, b: c("s3").put_bucket_policy(Bucket=bucket(b, "deploy"), Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Sid": "ByHand", "Effect": "Allow", "Action": "s3:GetObject",
                                                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                                                "Resource": f"arn:aws:s3:::{bucket(b, 'deploy')}/*"}]})),
     "policy: [ByHand] -> -"),  # the emulated stack has no TLS-only policy: a hand-made one goes
    ("data.bucket.deploy", lambda c, b: c("s3").put_bucket_versioning(
        Bucket=bucket(b, "deploy"), VersioningConfiguration={"Status": "Suspended"}),
     "versioning: Suspended -> Enabled"),
    ("data.bucket.deploy", lambda c, b: c("s3").delete_bucket_lifecycle(Bucket=bucket(b, "deploy")),
     "-> [abort-incomplete-multipart-uploads, expire-old-versions]"),
    ("data.bucket.app", lambda c, b: c("s3").delete_bucket_tagging(Bucket=bucket(b)), "tags: [] -> [cloudsite:"),
    ("data.kms.s3", lambda c, b: c("kms").disable_key_rotation(KeyId=b["data.kms.s3"].id), "rotation: False -> True"),
    ("data.kms.rds", lambda c, b: c("kms").disable_key(KeyId=b["data.kms.rds"].id), "key state: Disabled -> Enabled"),
    ("data.kms.ebs", lambda c, b: c("kms").delete_alias(AliasName="alias/cloudsite/dev/ebs"),
     "alias alias/cloudsite/dev/ebs: - -> "),
    ("data.ebs-default-encryption", lambda c, b: c("ec2").modify_ebs_default_kms_key_id(
        KmsKeyId=c("kms").create_key()["KeyMetadata"]["Arn"]),
     None),  # another key as the default: this stack's setting is missing, apply puts it back
    ("data.db-parameter-group", lambda c, b: c("rds").modify_db_parameter_group(
        DBParameterGroupName="cloudsite-dev-mysql8", Parameters=[
            {"ParameterName": "require_secure_transport", "ParameterValue": "0", "ApplyMethod": "immediate"}]),
     "require_secure_transport: 0 -> 1"),
    ("data.db.primary", lambda c, b: c("rds").modify_db_instance(
        DBInstanceIdentifier="cloudsite-dev-db", PubliclyAccessible=True, BackupRetentionPeriod=1,
        ApplyImmediately=True),
     "public: True -> False"),
    ("data.db.primary", lambda c, b: c("rds").modify_db_instance(
        DBInstanceIdentifier="cloudsite-dev-db", EngineLifecycleSupport="open-source-rds-extended-support",
        ApplyImmediately=True),
     "lifecycle: open-source-rds-extended-support -> open-source-rds-extended-support-disabled"),
    ("data.db.replica", lambda c, b: c("rds").modify_db_instance(
        DBInstanceIdentifier="cloudsite-dev-db-replica", DeletionProtection=True, ApplyImmediately=True),
     "deletion_protection: True -> False"),
    ("data.token-table", lambda c, b: c("dynamodb").update_time_to_live(
        TableName="cloudsite-dev-verification-tokens",
        TimeToLiveSpecification={"Enabled": False, "AttributeName": "ttl"}),
     "ttl: DISABLED ttl -> ENABLED ttl"),
    ("data.token-table", lambda c, b: c("dynamodb").update_continuous_backups(
        TableName="cloudsite-dev-verification-tokens",
        PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False}),
     "point-in-time recovery: DISABLED -> ENABLED"),
    ("data.outputs", lambda c, b: c("ssm").put_parameter(
        Name="/cloudsite/dev/data/db-endpoint", Value="elsewhere", Type="String", Overwrite=True),
     "db-endpoint: elsewhere -> cloudsite-dev-db."),
]


@pytest.mark.parametrize("name, make_drift, expected", DRIFTS,
                         ids=[f"{d[0]}:{(d[2] or 'missing').split(':')[0]}" for d in DRIFTS])
def test_drift_is_reported_planned_and_reconciled(built, config, ctx, name, make_drift, expected):
    make_drift(ctx.client, built)

    before = status(config)
    bad = {n: r for n, r in before.items() if r.action != "ok"}
    assert list(bad) == [name], {n: r.changes for n, r in bad.items()}
    if expected is None:
        assert bad[name].action == "missing"
    else:
        assert any(expected in change for change in bad[name].changes), bad[name].changes

    planned, counter = apply(config, dry_run=True)
    assert counter.mutating == 0
    assert planned[name].action == ("create" if expected is None else "update")

    results, counter = apply(config)
    assert results[name].action in ("create", "update") and counter.mutating > 0
    assert {n: r.changes for n, r in status(config).items() if r.action != "ok"} == {}
    again, counter = apply(config)
    assert counter.mutating == 0, counter.mutating_calls()
    assert {r.id for r in again.values()} == {r.id for r in built.values()}  # nothing replaced


def test_settings_that_cannot_change_in_place_fail_with_advice(built, config, ctx):
    ctx.client("dynamodb").delete_table(TableName="cloudsite-dev-verification-tokens")
    ctx.client("dynamodb").create_table(
        TableName="cloudsite-dev-verification-tokens", BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])
    with pytest.raises(EngineFailed, match=r"data.token-table: key schema: .* \(cannot be changed in place"):
        apply(config)


# --- teardown ------------------------------------------------------------------------------
def test_the_repository_stacks_protect_prod_only():
    from provisioning.config import load_stack

    dev, prod = load_stack("dev"), load_stack("prod")
    assert not dev.database.deletion_protection and not dev.database.final_snapshot
    assert prod.database.deletion_protection and prod.database.final_snapshot
    assert dev.data.tls_only_bucket_policy and prod.data.tls_only_bucket_policy


def test_bad_data_settings_are_one_line(stacks_dir):
    from provisioning.config import ConfigError

    with pytest.raises(ConfigError, match=r"\[data\] tls_only_bucket_policy: expected true or false, got 'no'"):
        with_settings(stacks_dir, text='\n[data]\ntls_only_bucket_policy = "no"\n')
    with pytest.raises(ConfigError, match=r"\[database\] backup_retention_days: expected an integer from 1 to 35"):
        with_settings(stacks_dir, name="qa", text="\n[database]\nbackup_retention_days = 0\n")
