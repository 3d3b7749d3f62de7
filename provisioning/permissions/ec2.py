"""What IAM authorises for the image bake's EC2 and IAM calls: launches tagged at creation, the
builder's volume under the region's default EBS key, images and snapshots of the stack."""
from __future__ import annotations

from provisioning.permissions.evaluator import ABSENT
from provisioning.permissions.world import Request, kms_implied


# --- EC2 and IAM (the image bake) -------------------------------------------------------------
def tag_context(prefix: str, tags: dict[str, str]) -> dict:
    """``aws:RequestTag/<k>`` or ``aws:ResourceTag/<k>`` for exactly these tags, none other."""
    return {**{f"{prefix}/{k}": v for k, v in tags.items()}, f"{prefix}/*": ABSENT}


def request_tags(params: dict, resource_type: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for spec in params.get("TagSpecifications", [])
            if spec["ResourceType"] == resource_type for t in spec["Tags"]}


def ec2_arn(world, kind: str, ident: str = "*", owned: bool = True) -> str:
    # images and snapshots carry no account in their ARNs ("Actions, resources, and condition keys
    # for Amazon EC2", resource types image and snapshot)
    return world.arn("ec2", f"{kind}/{ident}", account=world.account if owned else "")


def created(world, params, kinds: dict[str, str], action: str, create_action: str, by: str) -> list[Request]:
    """The resources a call makes (``kinds``: ARN kind -> TagSpecifications type), each with its
    request tags, and, for each one tagged at creation, the implied ``ec2:CreateTags`` (EC2 User
    Guide, "Grant permission to tag resources during creation")."""
    requests = []
    for kind, spec_type in kinds.items():
        tags = request_tags(params, spec_type)
        arn = ec2_arn(world, kind, owned=kind not in ("image", "snapshot"))
        new = {**tag_context("aws:RequestTag", tags), "aws:ResourceTag/*": ABSENT}  # no tags of its own yet
        requests.append(Request(action, arn, new))
        if tags:
            requests.append(Request("ec2:CreateTags", arn, {**new, "ec2:CreateAction": create_action}, implied_by=by))
    return requests


def existing(world, kind: str, ident: str, action: str, owned: bool = True, context: dict | None = None) -> Request:
    return Request(action, ec2_arn(world, kind, ident, owned),
                   {**tag_context("aws:ResourceTag", world.ec2_tags(ident)), **(context or {})})


def ebs_implied(world, call) -> list[Request]:
    """An encrypted volume made for the caller: EBS asks KMS as the caller, through EC2 (EBS User
    Guide, "Permissions for IAM users": CreateGrant, Decrypt, DescribeKey,
    GenerateDataKeyWithoutPlaintext). The key: the mapping's, else the region's default EBS key."""
    mappings = [m["Ebs"] for m in call.params.get("BlockDeviceMappings", []) if m.get("Ebs", {}).get("Encrypted")]
    if not mappings:
        return []
    key = mappings[0].get("KmsKeyId") or world.client("ec2").get_ebs_default_kms_key_id()["KmsKeyId"]
    key_arn = world.key_arn(key)
    requests = kms_implied(world, key_arn, ["kms:GenerateDataKeyWithoutPlaintext", "kms:Decrypt", "kms:DescribeKey"],
                           "ec2", f"ec2 {call.operation}")
    requests += [Request(r.action, r.resource, {**r.context, "kms:GrantIsForAWSResource": True}, r.key, r.implied_by)
                 for r in kms_implied(world, key_arn, ["kms:CreateGrant"], "ec2", f"ec2 {call.operation}")]
    return requests


def ec2_run_instances(world, call):
    p, by = call.params, "ec2 RunInstances"
    requests = created(world, p, {"instance": "instance", "volume": "volume", "network-interface": "network-interface"},
                       "ec2:RunInstances", "RunInstances", by)
    requests.append(Request("ec2:RunInstances", ec2_arn(world, "image", p["ImageId"], owned=False)))
    requests.append(Request("ec2:RunInstances", ec2_arn(world, "subnet", p["SubnetId"])))
    requests += [Request("ec2:RunInstances", ec2_arn(world, "security-group", g))
                 for g in p.get("SecurityGroupIds", [])]
    if p.get("IamInstanceProfile"):  # IAM User Guide, "Using an IAM role to grant permissions to ... EC2"
        requests.append(Request("iam:PassRole", world.instance_profile_role(p["IamInstanceProfile"]),
                                {"iam:PassedToService": "ec2.amazonaws.com"}, implied_by=by))
    return requests + ebs_implied(world, call)


def ec2_instances(action: str):
    def mapping(world, call):
        return [existing(world, "instance", i, action) for i in call.params["InstanceIds"]]
    return mapping


def ec2_create_image(world, call):
    p = call.params
    return ([existing(world, "instance", p["InstanceId"], "ec2:CreateImage")]
            + created(world, p, {"image": "image", "snapshot": "snapshot"}, "ec2:CreateImage", "CreateImage",
                      "ec2 CreateImage"))


def ec2_create_tags(world, call):
    """Tagging what exists: each resource with its current and its requested tags (not at creation)."""
    tags = {t["Key"]: t["Value"] for t in call.params["Tags"]}
    kinds = {"i-": "instance", "vol-": "volume", "ami-": "image", "snap-": "snapshot"}
    requests = []
    for ident in call.params["Resources"]:
        kind = next(k for prefix, k in kinds.items() if ident.startswith(prefix))
        requests.append(existing(world, kind, ident, "ec2:CreateTags", owned=kind not in ("image", "snapshot"),
                                 context={**tag_context("aws:RequestTag", tags), "ec2:CreateAction": ABSENT}))
    return requests


def ec2_one(kind: str, key: str, action: str):
    def mapping(world, call):
        return [existing(world, kind, call.params[key], action, owned=kind not in ("image", "snapshot"))]
    return mapping


def iam_role(action: str):
    def mapping(world, call):
        return [Request(action, world.arn("iam", f"role/{call.params['RoleName']}", region=""))]
    return mapping


def iam_profile(action: str):
    def mapping(world, call):
        return [Request(action, world.arn("iam", f"instance-profile/{call.params['InstanceProfileName']}", region=""))]
    return mapping
