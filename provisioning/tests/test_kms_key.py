"""The one KMS key recipe (``recipes/kms_key.py``: the data layer's S3, RDS and EBS keys and the pipeline's
SNS key): found by alias, the tagging API only for a key a crash left without its alias; its policy
statements per purpose; teardown keeps a key while a DB snapshot, a retained automated backup or a
baked AMI is encrypted with it."""
import json

import pytest
from botocore.stub import Stubber

from devkit.testing import make_context
from provisioning import key_users
from provisioning.calls import CallHook
from provisioning.context import RESOURCE_TAG, STACK_TAG, RunOptions
from provisioning.layers import data, pipeline
from provisioning.recipes.kms_key import KmsKey, key_names

pytestmark = pytest.mark.usefixtures("moto_ebs_default_key")


class Recorder(CallHook):
    def __init__(self):
        self.calls = []

    def before(self, service, operation, params):
        self.calls.append((operation, dict(params)))

    def operations(self):
        return [op for op, _ in self.calls]


def recorded(config):
    recorder = Recorder()
    return make_context(config, hooks=[recorder]), recorder


def made(ctx, recipe):
    """Create and reconcile as the engine does; the state found afterwards."""
    state = recipe.create(ctx, {})
    recipe.reconcile(ctx, state, recipe.drift(ctx, state, {}), {})
    (found,) = recipe.find_all(ctx, {})
    return found


@pytest.fixture
def key():
    return KmsKey("s3", "S3 buckets")


# --- find ------------------------------------------------------------------------------------
def test_a_key_is_found_by_its_alias_without_the_tagging_api(ctx, config, key):
    state = made(ctx, key)
    found_ctx, recorder = recorded(config)
    assert key.find_all(found_ctx, {}) == [state]
    assert state["alias_target"] == state["id"] and key.drift(found_ctx, state, {}) == []
    assert "GetResources" not in recorder.operations()
    assert ("DescribeKey", {"KeyId": "alias/cloudsite/dev/s3"}) in recorder.calls


def test_a_key_left_without_its_alias_is_found_by_its_tags_and_gets_the_alias(ctx, config, key):
    orphan = key.create(ctx, {})  # a crash right after CreateKey: no alias, no rotation
    found_ctx, recorder = recorded(config)
    (state,) = key.find_all(found_ctx, {})
    assert state["id"] == orphan["id"] and state["alias_target"] is None
    assert "GetResources" in recorder.operations()
    drift = key.drift(ctx, state, {})
    assert {d.setting for d in drift} == {"rotation", "alias alias/cloudsite/dev/s3"}
    key.reconcile(ctx, state, drift, {})
    assert ctx.client("kms").describe_key(KeyId="alias/cloudsite/dev/s3")["KeyMetadata"]["KeyId"] == orphan["id"]


def test_an_alias_moved_to_another_key_does_not_adopt_that_key(ctx, key):
    state = made(ctx, key)
    kms = ctx.client("kms")
    foreign = kms.create_key(Description="someone else's")["KeyMetadata"]["KeyId"]
    kms.update_alias(AliasName="alias/cloudsite/dev/s3", TargetKeyId=foreign)
    (found,) = key.find_all(ctx, {})
    assert found["id"] == state["id"] and found["alias_target"] == foreign
    key.reconcile(ctx, found, key.drift(ctx, found, {}), {})
    assert kms.describe_key(KeyId="alias/cloudsite/dev/s3")["KeyMetadata"]["KeyId"] == state["id"]
    assert json.loads(kms.get_key_policy(KeyId=foreign, PolicyName="default")["Policy"])["Id"] == "key-default-1"


def test_a_key_pending_deletion_behind_its_alias_is_not_found(ctx, key):
    state = made(ctx, key)
    ctx.client("kms").schedule_key_deletion(KeyId=state["id"], PendingWindowInDays=7)
    assert key.find_all(ctx, {}) == []


def test_another_recipes_key_is_not_found(ctx, key):
    made(ctx, KmsKey("rds", "RDS"))
    assert key.find_all(ctx, {}) == []


# --- policy per purpose ----------------------------------------------------------------------
def test_each_purpose_adds_its_statements_to_the_accounts(config):
    recipes = {r.name: r for r in data.build(config) + pipeline.build(config) if isinstance(r, data.KmsKey)}
    assert sorted(recipes) == ["data.kms.ebs", "data.kms.rds", "data.kms.s3", "pipeline.kms.sns"]
    assert isinstance(recipes["pipeline.kms.sns"], data.KmsKey)

    class Ctx:
        account_id, partition, region, stack = "123456789012", "aws", "us-east-1", "dev"

    sids = {name: [s["Sid"] for s in r.policy(Ctx)["Statement"]] for name, r in recipes.items()}
    root = "Enable IAM policies of the account"
    assert sids["data.kms.s3"] == sids["data.kms.rds"] == [root]
    assert sids["data.kms.ebs"] == [root, "Allow use through EC2 by the account",
                                    "Allow grants for EC2 volumes by the account"]
    assert sids["pipeline.kms.sns"] == [root, "SnsForThisAccount"]
    sns = recipes["pipeline.kms.sns"].policy(Ctx)["Statement"][1]
    assert sns["Principal"] == {"Service": "sns.amazonaws.com"}
    assert sns["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}
    assert recipes["pipeline.kms.sns"].policy(Ctx)["Id"] == "cloudsite-dev-sns"


def test_the_sns_key_is_made_tagged_as_the_pipelines(ctx):
    state = made(ctx, KmsKey("sns", "SNS verification topic", layer="pipeline", statements=pipeline.sns_key_statements))
    kms = ctx.client("kms")
    tags = {t["TagKey"]: t["TagValue"] for t in kms.list_resource_tags(KeyId=state["id"])["Tags"]}
    assert tags[STACK_TAG] == "dev" and tags[RESOURCE_TAG] == "pipeline.kms.sns"
    assert kms.describe_key(KeyId="alias/cloudsite/dev/sns")["KeyMetadata"]["Description"] == \
        "cloudsite dev: SNS verification topic"
    assert kms.get_key_rotation_status(KeyId=state["id"])["KeyRotationEnabled"]


# --- teardown keeps a key something still needs ----------------------------------------------
def test_a_key_nothing_needs_goes_with_its_alias(ctx, config):
    rds_key = KmsKey("rds", "RDS", users=key_users.rds_backups_using)
    state = made(ctx, rds_key)
    tctx, recorder = recorded(config)
    rds_key.delete(tctx, state)
    assert [op for op in recorder.operations() if op in ("DeleteAlias", "ScheduleKeyDeletion")] == [
        "DeleteAlias", "ScheduleKeyDeletion"]
    assert ctx.client("kms").describe_key(KeyId=state["id"])["KeyMetadata"]["KeyState"] == "PendingDeletion"


def test_a_key_a_db_snapshot_needs_is_kept_with_its_alias_and_found_again(ctx, config):
    rds_key = KmsKey("rds", "RDS", users=key_users.rds_backups_using)
    state = made(ctx, rds_key)
    rds = ctx.client("rds")
    rds.create_db_instance(DBInstanceIdentifier="cloudsite-dev-db", Engine="mysql", DBInstanceClass="db.t3.micro",
                           AllocatedStorage=20, StorageEncrypted=True, KmsKeyId=state["arn"],
                           MasterUsername="admin", MasterUserPassword="not-a-real-one-1", BackupRetentionPeriod=0)
    rds.delete_db_instance(DBInstanceIdentifier="cloudsite-dev-db", SkipFinalSnapshot=False,
                           FinalDBSnapshotIdentifier="cloudsite-dev-db-final-1", DeleteAutomatedBackups=True)

    tctx, recorder = recorded(config)
    rds_key.delete(tctx, state)
    assert not {"DeleteAlias", "ScheduleKeyDeletion"} & set(recorder.operations())
    note = tctx.reporter.stream.getvalue()
    assert "data.kms.rds: KEPT key" in note and "DB snapshot cloudsite-dev-db-final-1" in note
    assert len([line for line in note.splitlines() if "KEPT" in line]) == 1
    assert ctx.client("kms").describe_key(KeyId=state["id"])["KeyMetadata"]["KeyState"] == "Enabled"
    assert rds_key.find_all(ctx, {}) == [state]  # the alias stays: a re-apply finds the key again

    rds.delete_db_snapshot(DBSnapshotIdentifier="cloudsite-dev-db-final-1")
    rds_key.delete(ctx, state)
    assert "KEPT" not in ctx.reporter.stream.getvalue(), ctx.reporter.stream.getvalue()
    assert ctx.client("kms").describe_key(KeyId=state["id"])["KeyMetadata"]["KeyState"] == "PendingDeletion"


KEY = "arn:aws:kms:us-east-1:123456789012:key/1111"
RDS_STATE = {"id": "1111", "arn": KEY, "alias": "alias/cloudsite/dev/rds"}


def test_retained_automated_backups_need_the_key_on_every_page(ctx):
    """moto's automated backups carry no KmsKeyId: the RDS answers as AWS gives them, two pages."""
    rds = Stubber(ctx.client("rds"))
    rds.add_response("describe_db_snapshots", {"DBSnapshots": [
        {"DBSnapshotIdentifier": "other", "KmsKeyId": "arn:aws:kms:us-east-1:123456789012:key/2222"}],
        "Marker": "m"}, {})
    rds.add_response("describe_db_snapshots", {"DBSnapshots": []}, {"Marker": "m"})
    rds.add_response("describe_db_instance_automated_backups", {"DBInstanceAutomatedBackups": [
        {"DBInstanceIdentifier": "old", "Status": "retained",
         "KmsKeyId": "arn:aws:kms:us-east-1:123456789012:key/2222"}],
        "Marker": "n"}, {})
    rds.add_response("describe_db_instance_automated_backups", {"DBInstanceAutomatedBackups": [
        {"DBInstanceIdentifier": "cloudsite-dev-db", "Status": "retained", "KmsKeyId": KEY}]}, {"Marker": "n"})
    with rds:
        users = key_users.rds_backups_using(ctx, RDS_STATE)
    rds.assert_no_pending_responses()
    assert users == ["automated backups of cloudsite-dev-db (retained)"]


def test_amis_whose_snapshots_use_the_key_need_it(ctx):
    """moto reports no KmsKeyId on snapshots: EC2 answers as AWS does. Every image of the account
    (disabled ones too: another stack's, baked while this key was the default) counts, and only a
    snapshot encrypted with this key."""

    ec2 = Stubber(ctx.client("ec2"))

    def mapping(snapshot):
        return {"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": snapshot}}

    ec2.add_response("describe_images", {"Images": [
        {"ImageId": "ami-mine", "BlockDeviceMappings": [mapping("snap-1")]},
        {"ImageId": "ami-other-key", "BlockDeviceMappings": [mapping("snap-2")]},
        {"ImageId": "ami-snapshot-gone", "BlockDeviceMappings": [mapping("snap-3")]}]},
        {"Owners": ["self"], "IncludeDisabled": True})
    ec2.add_response("describe_snapshots", {"Snapshots": [
        {"SnapshotId": "snap-1", "Encrypted": True, "KmsKeyId": KEY},
        {"SnapshotId": "snap-2", "Encrypted": True, "KmsKeyId": "arn:aws:kms:us-east-1:123456789012:key/2222"}]},
        {"OwnerIds": ["self"], "Filters": [{"Name": "snapshot-id", "Values": ["snap-1", "snap-2", "snap-3"]}]})
    with ec2:
        found = key_users.images_encrypted_with(ctx, key_names(ctx, {"id": "1111", "arn": KEY}))
    ec2.assert_no_pending_responses()
    assert found == ["ami-mine"]


# --- the layers: what teardown sees ------------------------------------------------------------
def test_prod_teardown_keeps_the_rds_key_its_final_snapshot_needs(stacks_dir, aws):
    from devkit.testing import engine_for
    from provisioning import leftovers
    from provisioning.config import load_file

    path = stacks_dir / "dev.toml"
    # moto answers 403 to every object call under the TLS-only bucket policy (docs/moto.md): the
    # db-admin function's zip goes to the deploy bucket
    path.write_text(path.read_text() + "\n[database]\ndeletion_protection = true\nfinal_snapshot = true\n"
                    "\n[data]\ntls_only_bucket_policy = false\n")
    config = load_file(path)
    engine_for(make_context(config), ["network", "data"]).apply()
    tctx = make_context(config, options=RunOptions(allow_prod_data=True))
    engine_for(tctx, ["data"]).teardown()

    kms, rds = tctx.client("kms"), tctx.client("rds")
    (snapshot,) = [s for s in rds.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]]
    kept = kms.describe_key(KeyId="alias/cloudsite/dev/rds")["KeyMetadata"]
    assert kept["KeyState"] == "Enabled" and snapshot["KmsKeyId"] == kept["Arn"]
    for purpose in ("s3", "ebs"):
        assert not [a for a in kms.list_aliases()["Aliases"] if a["AliasName"] == f"alias/cloudsite/dev/{purpose}"]
    output = tctx.reporter.stream.getvalue()
    assert f"data.kms.rds: KEPT key {kept['KeyId']}" in output and snapshot["DBSnapshotIdentifier"] in output

    reasons = {item.id: item.lingering for item in leftovers.find(tctx)}
    assert (reasons[kept["Arn"]].startswith("kept: DB snapshot ")
            and snapshot["DBSnapshotIdentifier"] in reasons[kept["Arn"]])
    assert "restorable until you delete it" in reasons[snapshot["DBSnapshotArn"]]

    # a re-apply finds the kept key by its alias, unchanged (moto's automated snapshot names
    # collide within a minute, so the recipe is asked rather than the whole layer applied)
    recipe = {r.name: r for r in data.build(config)}["data.kms.rds"]
    (found,) = recipe.find_all(tctx, {})
    assert found["id"] == kept["KeyId"] and recipe.drift(tctx, found, {}) == []


def test_teardown_deregisters_the_amis_before_asking_whether_the_ebs_key_is_needed(
        config, prerequisites, monkeypatch):
    """moto never encrypts an AMI's snapshots, so every image of the stack counts as encrypted
    with the EBS key here; one worker makes the order the engine's alone."""
    from devkit.testing import engine_for

    engine_for(make_context(config), ["image"]).apply()

    def stack_images(ctx, names):
        return [i["ImageId"] for i in ctx.client("ec2").describe_images(Owners=["self"], Filters=[
            {"Name": "tag:cloudsite:stack", "Values": [ctx.stack]}])["Images"]]

    monkeypatch.setattr(key_users, "images_encrypted_with", stack_images)
    ctx = make_context(config, max_workers=1)
    (ebs_key,) = {r.name: r for r in data.build(config)}["data.kms.ebs"].find_all(ctx, {})
    assert key_users.images_using(ctx, ebs_key)  # the AMI needs the key while it exists

    engine_for(ctx, ["data", "image"]).teardown()
    assert ctx.client("ec2").describe_images(Owners=["self"])["Images"] == []
    assert ctx.client("kms").describe_key(KeyId=ebs_key["id"])["KeyMetadata"]["KeyState"] == "PendingDeletion"
    assert "KEPT" not in ctx.reporter.stream.getvalue()


def test_teardown_of_the_data_layer_refuses_while_baked_images_exist(stacks_dir, prerequisites, config):
    """The AMIs' snapshots take the stack's default EBS key: the image layer goes first."""
    from devkit.testing import engine_for, run

    engine_for(make_context(config), ["image"]).apply()
    code, out, err = run("teardown", "--stack", "dev", "--layer", "data", "--yes", stacks_dir=stacks_dir)
    assert code == 1 and "image.ami still exist and depend on this layer; tear down image first" in err
    assert "Traceback" not in err
    assert make_context(config).client("kms").describe_key(
        KeyId="alias/cloudsite/dev/ebs")["KeyMetadata"]["KeyState"] == "Enabled"
