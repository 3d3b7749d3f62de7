"""Counts of the image layer's kinds in the region, tagged or not (crash-resume tests)."""
from __future__ import annotations

from provisioning import naming
from provisioning.layers.image.ami import LIVE_STATES


def inventory(ctx) -> dict:
    ec2, iam = ctx.client("ec2"), ctx.client("iam")
    images = ec2.describe_images(Owners=["self"])["Images"]
    instances = [i for r in ec2.describe_instances(Filters=[
        {"Name": "instance-state-name", "Values": LIVE_STATES}])["Reservations"] for i in r["Instances"]]
    return {
        "roles": len(iam.list_roles()["Roles"]),
        "instance_profiles": len(iam.list_instance_profiles()["InstanceProfiles"]),
        "images": len(images),
        "snapshots": len(ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]),
        "live_instances": len(instances),
        "bake_signals": len(ctx.client("ssm").get_parameters_by_path(
            Path=naming.bake_signal(ctx.stack), Recursive=True)["Parameters"]),
    }
