"""The data layer's teardown against moto in-process: nothing left, keys pending deletion never found
again, versioned buckets emptied, prod's data protected unless asked."""
import pytest

from devkit.testing import engine_for, make_context
from provisioning.calls import CallHook
from provisioning.engine import EngineFailed
from provisioning.errors import StackError
from provisioning.layers import data
from provisioning.tests.data_fixtures import apply, bucket, status, teardown, with_settings
from provisioning.tests.pipeline_fixtures import EMULATED_DATA

pytestmark = pytest.mark.usefixtures("moto_ebs_default_key")


@pytest.fixture
def built(data_layer):
    return data_layer


class Recorder(CallHook):
    def __init__(self):
        self.calls = []

    def before(self, service, operation, params):
        self.calls.append((operation, dict(params)))


def test_teardown_leaves_nothing_of_the_layer(built, config, ctx):
    recorder = Recorder()
    tctx = make_context(config, hooks=[recorder])
    results = {r.name: r.action for r in engine_for(tctx, ["data"]).teardown()}
    assert set(results.values()) == {"delete"}
    deletes = [p for op, p in recorder.calls if op == "DeleteDBInstance"]
    assert [p["DBInstanceIdentifier"] for p in deletes] == ["cloudsite-dev-db-replica", "cloudsite-dev-db"]
    assert all(p["SkipFinalSnapshot"] for p in deletes)  # dev: no final snapshot
    schedules = [p for op, p in recorder.calls if op == "ScheduleKeyDeletion"]
    assert len(schedules) == 3 and {p["PendingWindowInDays"] for p in schedules} == {7}

    kms, rds, ec2 = ctx.client("kms"), ctx.client("rds"), ctx.client("ec2")
    assert ctx.client("s3").list_buckets()["Buckets"] == []
    assert rds.describe_db_instances()["DBInstances"] == [] and rds.describe_db_snapshots()["DBSnapshots"] == []
    assert [g for g in rds.describe_db_parameter_groups()["DBParameterGroups"]
            if not g["DBParameterGroupName"].startswith("default.")] == []
    assert rds.describe_db_subnet_groups()["DBSubnetGroups"] == []
    assert ctx.client("dynamodb").list_tables()["TableNames"] == []
    assert ctx.client("secretsmanager").list_secrets()["SecretList"] == []
    assert ctx.client("ssm").get_parameters_by_path(Path="/cloudsite/dev/data/")["Parameters"] == []
    assert [a for a in kms.list_aliases()["Aliases"] if a["AliasName"].startswith("alias/cloudsite/")] == []
    for name in ("data.kms.s3", "data.kms.rds", "data.kms.ebs"):
        assert kms.describe_key(KeyId=built[name].id)["KeyMetadata"]["KeyState"] == "PendingDeletion"
    assert ec2.get_ebs_default_kms_key_id()["KmsKeyId"].endswith(":alias/aws/ebs")
    assert ec2.get_ebs_encryption_by_default()["EbsEncryptionByDefault"]  # left on, with AWS's key
    assert {r.action for r in status(config).values()} == {"missing"}

    again, counter = teardown(config)
    assert set(r.action for r in again.values()) == {"absent"} and counter.mutating == 0
    assert make_context(config).client("ec2").describe_vpcs(
        Filters=[{"Name": "tag:cloudsite:stack", "Values": ["dev"]}])["Vpcs"]  # the network stays


def test_a_key_pending_deletion_is_not_found_again(built, config, ctx):
    teardown(config)
    results, _ = apply(config)
    assert {r.action for r in results.values()} == {"create"}
    kms = ctx.client("kms")
    for name in ("data.kms.s3", "data.kms.rds", "data.kms.ebs"):
        new = results[name].state
        assert new["id"] != built[name].id
        alias = name.replace("data.kms.", "alias/cloudsite/dev/")
        assert kms.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"] == new["id"]
    assert ctx.client("ec2").get_ebs_default_kms_key_id()["KmsKeyId"] == results["data.kms.ebs"].state["arn"]
    assert {r.action for r in status(config).values()} == {"ok"}


def test_an_alias_left_on_a_pending_key_is_moved_to_the_new_key(built, config, ctx):
    """A teardown that scheduled a key's deletion but never removed its alias (by hand, or an
    older version): the next apply makes a new key and re-points the alias."""
    kms = ctx.client("kms")
    kms.schedule_key_deletion(KeyId=built["data.kms.s3"].id, PendingWindowInDays=7)
    assert status(config)["data.kms.s3"].action == "missing"
    results, _ = apply(config)
    assert results["data.kms.s3"].action == "create"
    assert kms.describe_key(KeyId="alias/cloudsite/dev/s3")["KeyMetadata"]["KeyId"] == results["data.kms.s3"].id
    assert {n: r.changes for n, r in status(config).items() if r.action != "ok"} == {}


def test_teardown_empties_versioned_buckets_in_batches(stacks_dir, aws):
    config = with_settings(stacks_dir, text="\n[data]\ntls_only_bucket_policy = false\n")
    apply(config, "network")
    built, _ = apply(config)
    ctx = make_context(config)
    s3 = ctx.client("s3")
    app, deploy = bucket(built), bucket(built, "deploy")
    with pytest.raises(Exception):
        s3.get_bucket_policy(Bucket=app)  # the setting is off: no policy, objects can be written
    s3.put_object(Bucket=app, Key="u/1/a.txt", Body=b"x")
    s3.create_multipart_upload(Bucket=app, Key="u/1/big.bin")
    for i in range(1001):
        s3.put_object(Bucket=deploy, Key="bundle.zip", Body=str(i).encode())
    s3.put_object(Bucket=deploy, Key="gone.zip", Body=b"x")
    s3.delete_object(Bucket=deploy, Key="gone.zip")  # a delete marker
    recorder = Recorder()
    engine_for(make_context(config, hooks=[recorder]), ["data"]).teardown()
    batches = sorted(len(p["Delete"]["Objects"]) for op, p in recorder.calls if op == "DeleteObjects")
    assert batches == [1, 4, 1000]  # app: 1; deploy: 1001 + 1 versions, 1 marker, the db-admin zip
    assert [op for op, _ in recorder.calls].count("AbortMultipartUpload") == 1
    assert s3.list_buckets()["Buckets"] == []


# --- prod: deletion protection, refusal, final snapshot ------------------------------------
PROD = "\ndeletion_protection = true\nfinal_snapshot = true\n"


def test_protected_data_is_not_deleted_unless_asked(stacks_dir, aws):
    config = with_settings(stacks_dir, text="\n[database]" + PROD + EMULATED_DATA)
    assert config.database.deletion_protection and config.database.final_snapshot
    apply(config, "network")
    built, _ = apply(config)
    ctx = make_context(config)
    rds = ctx.client("rds")
    assert all(rds.describe_db_instances(DBInstanceIdentifier=i)["DBInstances"][0]["DeletionProtection"]
               for i in ("cloudsite-dev-db", "cloudsite-dev-db-replica"))
    assert ctx.client("dynamodb").describe_table(
        TableName="cloudsite-dev-verification-tokens")["Table"]["DeletionProtectionEnabled"]

    with pytest.raises(EngineFailed, match="deletion protection.*--allow-prod-data"):
        teardown(config)
    assert len(rds.describe_db_instances()["DBInstances"]) == 2

    results, _ = teardown(config, allow=True)
    assert {r.action for r in results.values()} <= {"delete", "absent"}
    assert rds.describe_db_instances()["DBInstances"] == []
    snapshots = [s["DBSnapshotIdentifier"] for s in rds.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]]
    assert len(snapshots) == 1 and snapshots[0].startswith("cloudsite-dev-db-final-")
    assert ctx.client("dynamodb").list_tables()["TableNames"] == []


def test_recipe_refuses_protected_delete_without_the_flag(config, aws):
    primary = {r.name: r for r in data.build(config)}["data.db.primary"]
    ctx = make_context(config)
    with pytest.raises(StackError, match="--allow-prod-data"):
        primary.delete(ctx, {"id": "cloudsite-dev-db", "status": "available", "deletion_protection": True})
