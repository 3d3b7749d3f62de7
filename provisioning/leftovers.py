"""What is still tagged with a stack after teardown: the Resource Groups Tagging API, plus
per-service describes for the kinds that API does not list (IAM, launch templates, auto scaling
groups, RDS groups, hosted zones).

Some resources are still listed by AWS after a successful teardown, by design; those come with the
reason (``lingering``): keys and secrets scheduled for deletion, terminated instances, a final DB
snapshot kept on purpose, and a key teardown kept because such a snapshot or a baked AMI is
encrypted with it. Anything else is left behind.
"""
from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import ClientError

from provisioning.key_users import key_users
from provisioning.naming import STACK_TAG
from provisioning.recipes.kms_key import kept_because


@dataclass(frozen=True)
class Leftover:
    id: str
    lingering: str = ""  # why AWS still lists it although teardown did its part

    def __str__(self):
        return f"{self.id} ({self.lingering})" if self.lingering else self.id


def find(ctx) -> list[Leftover]:
    ids = sorted(set(_tagging_api(ctx)) | set(_missed_by_tagging_api(ctx)))
    return [Leftover(i, _lingering(ctx, i)) for i in ids]


def _tagged(tags, stack, key="Key", value="Value") -> bool:
    return any(t.get(key) == STACK_TAG and t.get(value) == stack for t in tags or [])


def _tagging_api(ctx):
    pages = ctx.client("resourcegroupstaggingapi").get_paginator("get_resources").paginate(
        TagFilters=[{"Key": STACK_TAG, "Values": [ctx.stack]}])
    return [r["ResourceARN"] for page in pages for r in page["ResourceTagMappingList"]]


def _missed_by_tagging_api(ctx):
    stack, found = ctx.stack, []
    iam = ctx.client("iam")
    for page in iam.get_paginator("list_roles").paginate():
        for role in page["Roles"]:
            if _tagged(iam.list_role_tags(RoleName=role["RoleName"])["Tags"], stack):
                found.append(role["Arn"])
    for page in iam.get_paginator("list_instance_profiles").paginate():
        for profile in page["InstanceProfiles"]:
            tags = iam.list_instance_profile_tags(InstanceProfileName=profile["InstanceProfileName"])["Tags"]
            if _tagged(tags, stack):
                found.append(profile["Arn"])
    for provider in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]:
        tags = iam.list_open_id_connect_provider_tags(OpenIDConnectProviderArn=provider["Arn"])["Tags"]
        if _tagged(tags, stack):
            found.append(provider["Arn"])
    stack_filter = [{"Name": f"tag:{STACK_TAG}", "Values": [stack]}]
    for page in ctx.client("ec2").get_paginator("describe_launch_templates").paginate(Filters=stack_filter):
        found += [f"launch-template/{t['LaunchTemplateId']}" for t in page["LaunchTemplates"]]
    autoscaling = ctx.client("autoscaling")
    for page in autoscaling.get_paginator("describe_auto_scaling_groups").paginate():
        found += [g["AutoScalingGroupARN"] for g in page["AutoScalingGroups"]
                  if _tagged(g.get("Tags"), stack)]
    rds = ctx.client("rds")
    for page in rds.get_paginator("describe_db_parameter_groups").paginate():
        for group in page["DBParameterGroups"]:
            if _tagged(rds.list_tags_for_resource(ResourceName=group["DBParameterGroupArn"])["TagList"], stack):
                found.append(group["DBParameterGroupArn"])
    for page in rds.get_paginator("describe_db_subnet_groups").paginate():
        for group in page["DBSubnetGroups"]:
            if _tagged(rds.list_tags_for_resource(ResourceName=group["DBSubnetGroupArn"])["TagList"], stack):
                found.append(group["DBSubnetGroupArn"])
    route53 = ctx.client("route53")
    for page in route53.get_paginator("list_hosted_zones").paginate():
        for zone in page["HostedZones"]:
            zone_id = zone["Id"].rsplit("/", 1)[-1]
            tags = route53.list_tags_for_resource(ResourceType="hostedzone", ResourceId=zone_id)
            if _tagged(tags["ResourceTagSet"].get("Tags"), stack):
                found.append(f"hostedzone/{zone_id}")
    return found


def _lingering(ctx, arn: str) -> str:
    """Why AWS still lists this although it is deleted or scheduled for deletion, or ''."""
    try:
        if ":kms:" in arn and ":key/" in arn:
            key = ctx.client("kms").describe_key(KeyId=arn)["KeyMetadata"]
            if key["KeyState"] == "PendingDeletion":
                return f"key scheduled for deletion on {key.get('DeletionDate')}: AWS keeps keys 7-30 days"
            return _kept_key(ctx, key)
        if ":rds:" in arn and (":snapshot:" in arn or ":auto-backup:" in arn):
            return ("a DB snapshot or retained backup (teardown never deletes one; [database] "
                    "final_snapshot makes one): restorable until you delete it, its KMS key is kept as long")
        if ":secretsmanager:" in arn:
            secret = ctx.client("secretsmanager").describe_secret(SecretId=arn)
            if secret.get("DeletedDate"):
                return "secret scheduled for deletion: recoverable until its recovery window ends"
        if ":ec2:" in arn and ":instance/" in arn:
            instance_id = arn.rsplit("/", 1)[-1]
            reservations = ctx.client("ec2").describe_instances(InstanceIds=[instance_id])["Reservations"]
            states = {i["State"]["Name"] for r in reservations for i in r["Instances"]}
            if states <= {"terminated", "shutting-down"}:
                return "terminated: AWS lists terminated instances for about an hour"
    except ClientError:
        return "gone (not found when described)"
    return ""


def _kept_key(ctx, key: dict) -> str:
    """Why teardown kept a live key: what is still encrypted with it (a final DB snapshot, a baked
    AMI), or '' when nothing is (then it is left behind)."""
    users = key_users(ctx, {"id": key["KeyId"], "arn": key["Arn"], "alias": _alias_of(ctx, key["KeyId"])})
    return f"kept: {kept_because(users)}" if users else ""


def _alias_of(ctx, key_id: str) -> str | None:
    aliases = ctx.client("kms").list_aliases(KeyId=key_id).get("Aliases", [])
    return aliases[0]["AliasName"] if aliases else None
