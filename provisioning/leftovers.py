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


def _listed(client, method: str, key: str, **kwargs) -> list[dict]:
    """Every item of a paginated list or describe call."""
    return [item for page in client.get_paginator(method).paginate(**kwargs) for item in page[key]]


def _missed_by_tagging_api(ctx):
    """The kinds the Resource Groups Tagging API does not list (IAM, launch templates, auto scaling
    groups, RDS groups, hosted zones), each through its own list call and its tags."""
    stack = ctx.stack
    iam, rds, route53 = ctx.client("iam"), ctx.client("rds"), ctx.client("route53")
    tags_of = [
        (_listed(iam, "list_roles", "Roles"), "Arn",
         lambda r: iam.list_role_tags(RoleName=r["RoleName"])["Tags"]),
        (_listed(iam, "list_instance_profiles", "InstanceProfiles"), "Arn",
         lambda p: iam.list_instance_profile_tags(InstanceProfileName=p["InstanceProfileName"])["Tags"]),
        (iam.list_open_id_connect_providers()["OpenIDConnectProviderList"], "Arn",
         lambda p: iam.list_open_id_connect_provider_tags(OpenIDConnectProviderArn=p["Arn"])["Tags"]),
        (_listed(ctx.client("autoscaling"), "describe_auto_scaling_groups", "AutoScalingGroups"),
         "AutoScalingGroupARN", lambda g: g.get("Tags")),
        (_listed(rds, "describe_db_parameter_groups", "DBParameterGroups"), "DBParameterGroupArn",
         lambda g: rds.list_tags_for_resource(ResourceName=g["DBParameterGroupArn"])["TagList"]),
        (_listed(rds, "describe_db_subnet_groups", "DBSubnetGroups"), "DBSubnetGroupArn",
         lambda g: rds.list_tags_for_resource(ResourceName=g["DBSubnetGroupArn"])["TagList"]),
    ]
    found = [item[arn] for items, arn, tags in tags_of for item in items if _tagged(tags(item), stack)]
    templates = _listed(ctx.client("ec2"), "describe_launch_templates", "LaunchTemplates",
                        Filters=[{"Name": f"tag:{STACK_TAG}", "Values": [stack]}])
    found += [f"launch-template/{t['LaunchTemplateId']}" for t in templates]
    for zone in _listed(route53, "list_hosted_zones", "HostedZones"):
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
