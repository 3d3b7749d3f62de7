"""The baked AMI (``image.ami``): the bake, its signal, the images kept, the builders cleaned up."""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from deploy.bootstrap import bake_fingerprint, bake_script
from provisioning import naming
from provisioning.config import StackConfig
from provisioning.errors import StackError, absent_on, tolerate
from provisioning.recipe_names import AMI, APP_SG, BUILDER, BUILDER_PROFILE, EBS_DEFAULT, public_subnet
from provisioning.recipes.role import retry_profile_propagation
from provisioning.resource import Drift, Resource
from provisioning.retry import wait_until, waiter_config

COMMIT_TAG, FINGERPRINT_TAG = "cloudsite:source-commit", "cloudsite:bake"
LIVE_STATES = ["pending", "running", "stopping", "stopped", "shutting-down"]


def source_commit() -> str:
    """The commit the image is baked from: CLOUDSITE_SOURCE_COMMIT, or git's HEAD, or "unknown"."""
    if os.environ.get("CLOUDSITE_SOURCE_COMMIT"):
        return os.environ["CLOUDSITE_SOURCE_COMMIT"]
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
                              cwd=Path(__file__).resolve().parent, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def live_builders(ctx) -> list[dict]:
    pages = ctx.client("ec2").get_paginator("describe_instances").paginate(
        Filters=ctx.tag_filters(BUILDER) + [{"Name": "instance-state-name", "Values": LIVE_STATES}])
    return [i for page in pages for r in page["Reservations"] for i in r["Instances"]]


def read_bake_signal(ctx, instance_id: str) -> str | None:
    """The signal the builder's script wrote (``ok`` or ``failed: ...``), None before it has. An
    emulator never runs the script: tests give the Context a ``bake_signal`` reader of their own."""
    answer = absent_on(lambda: ctx.client("ssm").get_parameter(Name=naming.bake_signal(ctx.stack, instance_id)),
                       "ParameterNotFound")
    return answer["Parameter"]["Value"] if answer else None


class Ami(Resource):
    name, service, kind = AMI, "ec2", "baked AMI"
    # The builder's encrypted root volume, so the AMI's snapshots, take the region's default EBS
    # key: bake after the data layer made it the stack's key; teardown deregisters the AMIs before
    # that key's recipe asks whether an AMI still needs it.
    depends_on = (BUILDER_PROFILE, public_subnet(0), APP_SG, EBS_DEFAULT)

    def __init__(self, config: StackConfig):
        self.config = config
        self._rebaked = False  # --rebake bakes once a run: the drift check after the bake is clean


    # --- find ------------------------------------------------------------------------------
    def images(self, ctx) -> list[dict]:
        """This stack's baked images, newest first."""
        found = ctx.client("ec2").describe_images(Owners=["self"], Filters=ctx.tag_filters(self.name))["Images"]
        found = [i for i in found if i["State"] in ("pending", "available")]
        # names carry the bake's time to the microsecond: two bakes within a second still sort right
        return sorted(found, key=lambda i: (i["CreationDate"][:19], i.get("Name") or "", i["ImageId"]), reverse=True)

    def find_all(self, ctx, deps):
        images = self.images(ctx)
        if not images:
            return []
        newest = images[0]
        tags = {t["Key"]: t["Value"] for t in newest.get("Tags", [])}
        return [{"id": newest["ImageId"], "state": newest["State"], "name": newest.get("Name"),
                 "root_device": newest.get("RootDeviceName", "/dev/xvda"),
                 "commit": tags.get(COMMIT_TAG), "fingerprint": tags.get(FINGERPRINT_TAG),
                 "images": [i["ImageId"] for i in images]}]

    def fingerprint(self, ctx) -> str:
        image = self.config.image
        return bake_fingerprint(ctx.stack, ctx.region, image.base, image.builder_instance_type)

    # --- create: the bake --------------------------------------------------------------------
    def create(self, ctx, deps):
        self._terminate(ctx, live_builders(ctx))  # left by a crashed run
        return self._bake(ctx, deps)

    def _bake(self, ctx, deps):
        ec2, ssm, image = ctx.client("ec2"), ctx.client("ssm"), self.config.image
        base = ssm.get_parameter(Name=naming.BASE_IMAGES[image.base])["Parameter"]["Value"]
        root = ec2.describe_images(Filters=[{"Name": "image-id", "Values": [base]}])["Images"]
        root_device = root[0].get("RootDeviceName", "/dev/xvda") if root else "/dev/xvda"
        ctx.reporter.start(self.name, f"launching a builder from {base}")
        launch = lambda: ec2.run_instances(  # noqa: E731
            ImageId=base, InstanceType=image.builder_instance_type, MinCount=1, MaxCount=1,
            SubnetId=deps[public_subnet(0)]["id"], SecurityGroupIds=[deps[APP_SG]["id"]],
            IamInstanceProfile={"Arn": deps[BUILDER_PROFILE]["arn"]},
            UserData=bake_script(ctx.stack, ctx.region, image.base),
            MetadataOptions={"HttpTokens": "required", "HttpPutResponseHopLimit": 1, "HttpEndpoint": "enabled"},
            BlockDeviceMappings=[{"DeviceName": root_device, "Ebs": {
                "VolumeSize": self.config.compute.root_volume_gb, "VolumeType": "gp3", "Encrypted": True,
                "DeleteOnTermination": True}}],
            InstanceInitiatedShutdownBehavior="stop",
            TagSpecifications=ctx.tag_specifications("instance", BUILDER)
            + ctx.tag_specifications("volume", BUILDER))
        instance_id = retry_profile_propagation(launch, clock=ctx.clock)["Instances"][0]["InstanceId"]
        try:
            ctx.reporter.start(self.name, f"builder {instance_id}: waiting for the bake")
            ec2.get_waiter("instance_running").wait(InstanceIds=[instance_id], WaiterConfig=waiter_config(10, 60))
            ec2.get_waiter("instance_status_ok").wait(InstanceIds=[instance_id],
                                                      WaiterConfig=waiter_config(15, 60))
            self.wait_for_signal(ctx, instance_id)
            ctx.reporter.start(self.name, f"builder {instance_id}: stopping")
            ec2.stop_instances(InstanceIds=[instance_id])
            ec2.get_waiter("instance_stopped").wait(InstanceIds=[instance_id], WaiterConfig=waiter_config(10, 60))
            now = time.time()
            stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)) + f".{int(now % 1 * 1e6):06d}Z"
            tags = ctx.tags(self.name) + [{"Key": COMMIT_TAG, "Value": source_commit()},
                                          {"Key": FINGERPRINT_TAG, "Value": self.fingerprint(ctx)}]
            image_id = ec2.create_image(
                InstanceId=instance_id, Name=naming.image(ctx.stack, stamp),
                Description=f"cloudsite {ctx.stack}: {image.base} with Python, CodeDeploy and CloudWatch agents",
                TagSpecifications=[{"ResourceType": "image", "Tags": tags}])["ImageId"]
            ctx.reporter.start(self.name, f"{image_id}: waiting until available")
            ec2.get_waiter("image_available").wait(ImageIds=[image_id], WaiterConfig=waiter_config(15, 120))
            self._tag_snapshots(ctx, image_id)
        finally:
            self._terminate(ctx, [{"InstanceId": instance_id}])
        self._rebaked = True
        return self.find_all(ctx, deps)[0]

    def wait_for_signal(self, ctx, instance_id: str) -> None:
        """The builder's script writes ``ok`` or ``failed: ...``; bounded by the bake timeout."""
        answer = {}

        def signalled():
            answer["value"] = (ctx.bake_signal or read_bake_signal)(ctx, instance_id)
            return answer["value"] is not None
        wait_until(signalled, what=f"the bake script on {instance_id} (see /var/log/cloudsite-bake.log)",
                   clock=ctx.clock, timeout=self.config.image.bake_timeout_minutes * 60, delay=15)
        if answer["value"] != "ok":
            raise StackError(f"the bake on {instance_id} failed: {answer['value']}; its builder is "
                             "terminated, run provision_image again once the script is fixed")

    def _tag_snapshots(self, ctx, image_id: str) -> None:
        # moto cannot tag snapshots through create_image's TagSpecifications; the snapshots are found
        # through the image anyway, so an untagged one is never an orphan.
        snapshots = self._snapshots(ctx, image_id)
        if snapshots:
            ctx.client("ec2").create_tags(Resources=snapshots, Tags=ctx.tags(self.name))

    @staticmethod
    def _snapshots(ctx, image_id: str) -> list[str]:
        images = ctx.client("ec2").describe_images(ImageIds=[image_id])["Images"]
        return [m["Ebs"]["SnapshotId"] for i in images for m in i.get("BlockDeviceMappings", [])
                if m.get("Ebs", {}).get("SnapshotId")]

    def _terminate(self, ctx, instances: list[dict]) -> None:
        ec2, ssm = ctx.client("ec2"), ctx.client("ssm")
        ids = [i["InstanceId"] for i in instances]
        if not ids:
            return
        with tolerate("ParameterNotFound"):
            ssm.delete_parameters(Names=[naming.bake_signal(ctx.stack, i) for i in ids])
        with tolerate("InvalidInstanceID.NotFound"):
            ec2.terminate_instances(InstanceIds=ids)
            ec2.get_waiter("instance_terminated").wait(InstanceIds=ids, WaiterConfig=waiter_config(10, 60))

    # --- drift -----------------------------------------------------------------------------
    def drift(self, ctx, state, deps):
        drift = []
        leftovers = live_builders(ctx)
        if leftovers:
            drift.append(Drift("builder instances", [i["InstanceId"] for i in leftovers], []))
        if state["state"] != "available":
            drift.append(Drift("state", state["state"], "available"))
        if ctx.options.rebake and not self._rebaked:
            drift.append(Drift("image", state["id"], "a fresh bake (--rebake)"))
        elif state["fingerprint"] != self.fingerprint(ctx):
            drift.append(Drift("bake", state["fingerprint"], self.fingerprint(ctx)))
        keep = self.config.image.retention
        if len(state["images"]) > keep:
            drift.append(Drift("images kept", len(state["images"]), keep))
        return drift

    def reconcile(self, ctx, state, drift, deps):
        ec2 = ctx.client("ec2")
        self._terminate(ctx, live_builders(ctx))
        if state["state"] != "available":
            ec2.get_waiter("image_available").wait(ImageIds=[state["id"]], WaiterConfig=waiter_config(15, 120))
        if (ctx.options.rebake and not self._rebaked) or state["fingerprint"] != self.fingerprint(ctx):
            self._bake(ctx, deps)
        for image_id in self.find_all(ctx, deps)[0]["images"][self.config.image.retention:]:
            self._deregister(ctx, image_id)
        return self.find_all(ctx, deps)[0]

    def _deregister(self, ctx, image_id: str) -> None:
        ec2 = ctx.client("ec2")
        snapshots = self._snapshots(ctx, image_id)
        with tolerate("InvalidAMIID.NotFound", "InvalidAMIID.Unavailable"):
            ec2.deregister_image(ImageId=image_id)
        for snapshot in snapshots:
            with tolerate("InvalidSnapshot.NotFound"):
                ec2.delete_snapshot(SnapshotId=snapshot)

    def delete(self, ctx, state):
        self._terminate(ctx, live_builders(ctx))
        for image_id in state["images"]:
            self._deregister(ctx, image_id)

    def outputs(self, state):
        return {"image-id": state["id"], "source-commit": state["commit"]}
