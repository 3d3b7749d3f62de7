"""The image layer against moto: the bake (builder launched as configured, signal, stop, image,
builder gone), re-run, failures leaving no builder, retention, a crashed run's leftover builder."""
import base64

import pytest

from devkit.testing import FakeBuilder, engine_for, make_context
from provisioning import naming, retry
from provisioning.calls import CallCounter, CallHook
from provisioning.context import RunOptions
from provisioning.engine import EngineFailed
from provisioning.layers import image


class Spy(CallHook):
    def __init__(self):
        self.calls = []

    def before(self, service, operation, params):
        self.calls.append((operation, params))

    def params(self, operation):
        return [p for op, p in self.calls if op == operation]


def apply(config, hooks=(), **kwargs):
    ctx = make_context(config, hooks=hooks, **kwargs)
    return {r.name: r for r in engine_for(ctx, ["image"]).apply()}


def live_builders(ctx):
    return image.live_builders(ctx)


def test_bake_launches_a_locked_down_builder_and_leaves_an_image(config, prerequisites, ctx, fake_builder):
    spy = Spy()
    results = apply(config, hooks=[spy])
    assert {r.action for r in results.values()} == {"create"}
    (launch,) = spy.params("RunInstances")
    assert launch["MetadataOptions"]["HttpTokens"] == "required"
    (volume,) = launch["BlockDeviceMappings"]
    assert volume["Ebs"]["Encrypted"] is True and volume["Ebs"]["VolumeType"] == "gp3"
    assert launch["IamInstanceProfile"]["Arn"].endswith(":instance-profile/cloudsite-dev-image-builder")
    assert {s["ResourceType"] for s in launch["TagSpecifications"]} == {"instance", "volume"}
    script = base64.b64decode(launch["UserData"]).decode()  # botocore encoded it
    assert "(base: debian-13)" in script  # the default base
    for needed in ("python3-dev", "/etc/cloudsite/python", "amazon-cloudwatch-agent", "aws-codedeploy-$REGION",
                   "signal ok", "trap"):
        assert needed in script
    assert "CLOUDSITE_BAKE_SKIP_AWS_DOWNLOADS=" not in script  # the instance test's switch only
    (base,) = [p["Name"] for p in spy.params("GetParameter") if p["Name"].startswith("/aws/service/")]
    assert base == "/aws/service/debian/release/13/latest/amd64"
    assert launch["ImageId"] == ctx.client("ssm").get_parameter(Name=base)["Parameter"]["Value"]
    operations = [op for op, _ in spy.calls]
    assert operations.index("StopInstances") < operations.index("CreateImage") < operations.index("TerminateInstances")

    ami = results["image.ami"]
    found = ctx.client("ec2").describe_images(ImageIds=[ami.id])["Images"][0]
    tags = {t["Key"]: t["Value"] for t in found["Tags"]}
    assert tags["cloudsite:stack"] == "dev" and tags["cloudsite:resource"] == "image.ami"
    assert len(tags[image.COMMIT_TAG]) == 40  # the repository's HEAD
    assert ami.outputs["source-commit"] == tags[image.COMMIT_TAG]
    assert live_builders(ctx) == []  # the builder is gone
    assert ctx.client("ssm").get_parameters_by_path(Path=naming.bake_signal("dev"))["Parameters"] == []


def test_rerun_makes_no_mutating_call(config, prerequisites):
    apply(config)
    counter = CallCounter()
    results = apply(config, hooks=[counter])
    assert {r.action for r in results.values()} == {"no-op"}
    assert counter.mutating == 0, counter.mutating_calls()


def test_builder_role_may_only_write_its_signal(config, prerequisites, ctx):
    apply(config)
    iam = ctx.client("iam")
    doc = iam.get_role_policy(RoleName="cloudsite-dev-image-builder", PolicyName="bake-signal")["PolicyDocument"]
    (statement,) = doc["Statement"]
    assert statement["Action"] == ["ssm:PutParameter"]
    assert statement["Resource"] == ["arn:aws:ssm:us-east-1:123456789012:parameter/cloudsite/dev/image/bake/*"]


@pytest.mark.parametrize("signal", ["failed: line 12 (see /var/log/cloudsite-bake.log)", None])
def test_a_failed_or_silent_bake_leaves_no_builder_running(config, prerequisites, ctx, monkeypatch, signal):
    FakeBuilder(signal).install(monkeypatch)
    clock = [0.0]
    monkeypatch.setattr(retry, "SYSTEM_CLOCK",
                        retry.Clock(sleep=lambda seconds: clock.__setitem__(0, clock[0] + seconds),
                                    monotonic=lambda: clock[0]))
    with pytest.raises(EngineFailed) as failed:
        apply(config)
    message = str(failed.value)
    assert ("failed: line 12" in message) if signal else ("timed out after 1800s" in message)
    assert live_builders(ctx) == []
    assert ctx.client("ec2").describe_images(Owners=["self"])["Images"] == []
    if signal is None:
        assert clock[0] <= 30 * 60 + 60  # bounded by [image] bake_timeout_minutes


def test_a_crashed_runs_builder_is_terminated_by_the_next_run(config, prerequisites, ctx):
    apply(config)
    ec2 = ctx.client("ec2")
    left = ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1,
                             TagSpecifications=ctx.tag_specifications("instance", image.BUILDER))["Instances"][0]
    status = {r.name: r for r in engine_for(make_context(config), ["image"]).status()}
    assert status["image.ami"].action == "drifted" and left["InstanceId"] in status["image.ami"].changes[0]
    results = apply(config)
    assert results["image.ami"].action == "update"
    assert live_builders(ctx) == []


def test_rebake_and_retention_keep_the_newest_images_with_their_snapshots(config, prerequisites, ctx):
    first = apply(config)["image.ami"].id
    ec2 = ctx.client("ec2")
    recipes = None
    for _ in range(3):
        from provisioning import layers
        recipes = layers.resources(config, ["image"])
        from provisioning.engine import Engine
        Engine(make_context(config, options=RunOptions(rebake=True)), recipes, known=layers.resources(config)).apply()
    images = ec2.describe_images(Owners=["self"])["Images"]
    assert len(images) == config.image.retention == 3
    assert first not in {i["ImageId"] for i in images}
    snapshots = {s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]}
    assert snapshots == {m["Ebs"]["SnapshotId"] for i in images for m in i["BlockDeviceMappings"]}
    assert live_builders(ctx) == []


def test_a_changed_bake_script_is_drift(config, prerequisites, monkeypatch):
    apply(config)
    from provisioning.layers.image import ami

    monkeypatch.setattr(ami, "bake_fingerprint", lambda *args: "0123456789abcdef")  # a changed script
    status = {r.name: r for r in engine_for(make_context(config), ["image"]).status()}
    assert status["image.ami"].action == "drifted"
    assert apply(config)["image.ami"].action == "update"
    assert {r.action for r in apply(config).values()} == {"no-op"}


def test_the_instance_profile_not_visible_yet_is_retried(config, prerequisites):
    from botocore.exceptions import ClientError

    class NotYet(CallHook):
        failures = 2

        def before(self, service, operation, params):
            if operation == "RunInstances" and self.failures:
                self.failures -= 1
                raise ClientError({"Error": {"Code": "InvalidParameterValue",
                                             "Message": "Value (cloudsite-dev-image-builder) for parameter "
                                                        "iamInstanceProfile.name is invalid. "
                                                        "Invalid IAM Instance Profile name"}},
                                  "RunInstances")
    hook = NotYet()
    assert apply(config, hooks=[hook])["image.ami"].action == "create"
    assert hook.failures == 0


def test_plan_changes_nothing(config, prerequisites):
    counter = CallCounter()
    results = apply(config, hooks=[counter], dry_run=True)
    assert {r.action for r in results.values()} == {"create"} and counter.mutating == 0


def test_teardown_deregisters_images_and_deletes_snapshots(config, prerequisites, ctx):
    apply(config)
    engine_for(make_context(config), ["image"]).teardown()
    ec2 = ctx.client("ec2")
    assert ec2.describe_images(Owners=["self"])["Images"] == []
    assert ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"] == []
    assert {r.action for r in engine_for(make_context(config), ["image"]).status()} == {"missing"}


def test_user_data_decodes(config):
    # the bake script is plain text (run_instances encodes it); the boot script is base64 in the template
    from deploy.bootstrap import boot_script
    text = boot_script(stack="dev", region="us-east-1", account="123456789012", partition="aws",
                       domain="dev.example.com")
    assert base64.b64decode(base64.b64encode(text.encode())).decode() == text
