"""Security posture checks: each reads resources back from AWS (any account, moto or real) and
returns a list of problems, empty when the resource is as it must be.

    from provisioning import posture
    problems = posture.check_stack(ctx)        # every check over this stack's resources

The checks do not trust the recipes: they read what AWS says exists.
"""
from __future__ import annotations

import json
import urllib.parse

from provisioning import naming
from provisioning.layers.network import flatten

WORLD = {"0.0.0.0/0", "::/0"}
# Actions AWS cannot scope to a resource ARN: the only ones allowed with Resource "*".
NO_RESOURCE_LEVEL = {
    "cloudwatch:PutMetricData", "ec2:DescribeTags", "ec2:DescribeVolumes",
    "ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel", "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
    "codedeploy-commands-secure:GetDeploymentSpecification", "codedeploy-commands-secure:PollHostCommand",
    "codedeploy-commands-secure:PutHostCommandAcknowledgement", "codedeploy-commands-secure:PutHostCommandComplete",
    # the image, CI and CodeDeploy roles' lookups (no resource types in the Service Authorization Reference)
    "ec2:DescribeImages", "ec2:DescribeInstances", "ec2:DescribeInstanceStatus", "ec2:DescribeSecurityGroups",
    "ec2:DescribeSubnets", "ec2:DescribeVpcs", "autoscaling:DescribeAutoScalingGroups",
    "autoscaling:DescribeLifecycleHooks", "autoscaling:DescribeScalingActivities",
    "elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:DescribeTargetHealth", "tag:GetResources",
    # the image role's read of the account-and-region EBS default encryption
    "ec2:GetEbsDefaultKmsKeyId", "ec2:GetEbsEncryptionByDefault",
    # the db-admin function's role: Lambda describes the interfaces it manages for the function
    "ec2:DescribeNetworkInterfaces",
}
WEAK_TLS = {"SSLv3", "TLSv1", "TLSv1.1"}


# --- security groups -------------------------------------------------------------------------
def _group(ec2, group_id: str) -> dict:
    return ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]


def check_app_group(ec2, group_id: str, app_port: int) -> list[str]:
    """Only the app port, only from other security groups: no SSH, no other port, no address range."""
    problems = []
    for proto, low, high, kind, source in sorted(flatten(_group(ec2, group_id)["IpPermissions"]), key=str):
        if proto != "tcp" or (low, high) != (app_port, app_port):
            ports = "all ports" if proto == "-1" else f"{proto} {low}-{high}"
            problems.append(f"{group_id}: {ports} open (only tcp {app_port} is allowed)"
                            + (" — SSH" if proto in ("tcp", "-1") and (low is None or low <= 22 <= high) else ""))
        if kind != "sg":
            problems.append(f"{group_id}: port {low} open to the address range {source} (only groups allowed)")
    return problems


def check_not_open_to_world(ec2, group_id: str) -> list[str]:
    problems = []
    for proto, low, high, kind, source in sorted(flatten(_group(ec2, group_id)["IpPermissions"]), key=str):
        if source in WORLD:
            ports = "all ports" if proto == "-1" else f"{proto} {low}-{high}"
            problems.append(f"{group_id}: {ports} open to the world ({source})")
    return problems


# --- launch template -------------------------------------------------------------------------
def check_launch_template(ec2, template_id: str) -> list[str]:
    """Its default version: IMDSv2 required (hop limit at most 2), every EBS volume encrypted."""
    data = ec2.describe_launch_template_versions(LaunchTemplateId=template_id, Versions=["$Default"])[
        "LaunchTemplateVersions"][0]["LaunchTemplateData"]
    problems = []
    metadata = data.get("MetadataOptions", {})
    if metadata.get("HttpTokens") != "required":
        problems.append(f"{template_id}: IMDSv1 allowed (HttpTokens {metadata.get('HttpTokens', 'optional')})")
    if metadata.get("HttpPutResponseHopLimit", 1) > 2:
        problems.append(f"{template_id}: metadata hop limit {metadata['HttpPutResponseHopLimit']} (at most 2)")
    mappings = data.get("BlockDeviceMappings", [])
    if not mappings:
        problems.append(f"{template_id}: no block device mapping: the root volume's encryption is the AMI's")
    for mapping in mappings:
        if "Ebs" in mapping and not mapping["Ebs"].get("Encrypted"):
            problems.append(f"{template_id}: volume {mapping.get('DeviceName')} not encrypted")
    return problems


def check_image_encrypted(ec2, image_id: str) -> list[str]:
    image = ec2.describe_images(ImageIds=[image_id])["Images"][0]
    return [f"{image_id}: snapshot of {m.get('DeviceName')} not encrypted"
            for m in image.get("BlockDeviceMappings", []) if "Ebs" in m and not m["Ebs"].get("Encrypted")]


def check_volumes_encrypted(ec2, volume_ids: list[str]) -> list[str]:
    if not volume_ids:
        return []
    volumes = ec2.describe_volumes(VolumeIds=volume_ids)["Volumes"]
    return [f"{v['VolumeId']}: not encrypted" for v in volumes if not v.get("Encrypted")]


# --- IAM -------------------------------------------------------------------------------------
def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def _document(doc) -> dict:
    return json.loads(urllib.parse.unquote(doc)) if isinstance(doc, str) else doc


def check_statements(where: str, doc) -> list[str]:
    problems = []
    for statement in _as_list(_document(doc).get("Statement", [])):
        if statement.get("Effect") != "Allow":
            continue
        sid = statement.get("Sid", "?")
        if "NotAction" in statement or "NotResource" in statement:
            problems.append(f"{where} {sid}: Allow with NotAction/NotResource")
        actions = _as_list(statement.get("Action", []))
        for action in actions:
            if action == "*" or action.endswith(":*") or "*" in action.split(":", 1)[-1]:
                problems.append(f"{where} {sid}: wildcard action {action}")
        if "*" in _as_list(statement.get("Resource", [])):
            scoped = [a for a in actions if a not in NO_RESOURCE_LEVEL]
            if scoped:
                problems.append(f"{where} {sid}: Resource \"*\" for actions that can name an ARN: {', '.join(scoped)}")
    return problems


def check_role(iam, role_name: str) -> list[str]:
    """Inline and attached policies (the attached ones' default versions): no wildcard action, no
    ``Resource: "*"`` where AWS allows naming the ARN, no Allow with NotAction."""
    problems = []
    for page in iam.get_paginator("list_role_policies").paginate(RoleName=role_name):
        for name in page["PolicyNames"]:
            doc = iam.get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"]
            problems += check_statements(f"{role_name}/{name}", doc)
    for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=role_name):
        for attached in page["AttachedPolicies"]:
            policy = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]
            doc = iam.get_policy_version(PolicyArn=attached["PolicyArn"],
                                         VersionId=policy["DefaultVersionId"])["PolicyVersion"]["Document"]
            problems += check_statements(f"{role_name}/{attached['PolicyName']}", doc)
    return problems


# --- load balancer ---------------------------------------------------------------------------
def check_listeners(elbv2, load_balancer_arn: str) -> list[str]:
    """HTTP listeners only redirect to HTTPS; HTTPS listeners use a policy without TLS below 1.2."""
    problems = []
    listeners = elbv2.describe_listeners(LoadBalancerArn=load_balancer_arn)["Listeners"]
    if not any(li["Protocol"] == "HTTPS" for li in listeners):
        problems.append(f"{load_balancer_arn}: no HTTPS listener")
    for listener in listeners:
        where = f"listener {listener['Protocol']}:{listener['Port']}"
        if listener["Protocol"] == "HTTP":
            for action in listener["DefaultActions"]:
                redirect = action.get("RedirectConfig", {})
                if action["Type"] != "redirect" or redirect.get("Protocol") != "HTTPS":
                    problems.append(f"{where}: {action['Type']} instead of a redirect to HTTPS")
        elif listener["Protocol"] == "HTTPS":
            policy = listener.get("SslPolicy")
            found = elbv2.describe_ssl_policies(Names=[policy])["SslPolicies"] if policy else []
            protocols = set(found[0].get("SslProtocols", [])) if found else set()
            weak = sorted(protocols & WEAK_TLS)
            if not found or weak:
                problems.append(f"{where}: TLS policy {policy} allows {', '.join(weak) or 'unknown protocols'} "
                                "(TLS 1.2 minimum)")
    return problems


def check_bucket_versioned(s3, name: str) -> list[str]:
    """Versioning on and old versions expiring: a deleted or overwritten object is recoverable for
    a while, and the old versions do not pile up forever."""
    problems = []
    if s3.get_bucket_versioning(Bucket=name).get("Status") != "Enabled":
        problems.append(f"bucket {name}: versioning is not enabled (a deleted object cannot be recovered)")
    try:
        rules = s3.get_bucket_lifecycle_configuration(Bucket=name)["Rules"]
    except s3.exceptions.ClientError:
        rules = []
    if not any(r.get("Status") == "Enabled" and r.get("NoncurrentVersionExpiration") for r in rules):
        problems.append(f"bucket {name}: no lifecycle rule expires noncurrent versions")
    return problems


# --- everything for one stack ----------------------------------------------------------------
def check_stack(ctx) -> list[str]:
    """Every check over the stack's resources, found by their tags and names."""
    ec2, stack = ctx.client("ec2"), ctx.stack
    problems = []
    groups = {}
    for logical in ("network.sg.app", "network.sg.db"):
        found = ec2.describe_security_groups(Filters=ctx.tag_filters(logical))["SecurityGroups"]
        groups[logical] = [g["GroupId"] for g in found]
    for group in groups["network.sg.app"]:
        problems += check_app_group(ec2, group, ctx.config.network.app_port)
    for group in groups["network.sg.app"] + groups["network.sg.db"]:
        problems += check_not_open_to_world(ec2, group)
    templates = ec2.describe_launch_templates(Filters=[{"Name": f"tag:{naming.STACK_TAG}", "Values": [stack]}])
    for template in templates["LaunchTemplates"]:
        problems += check_launch_template(ec2, template["LaunchTemplateId"])
    iam = ctx.client("iam")
    for purpose in ("instance", "image-builder", "lambda", "codedeploy", "ci", "image", "db-admin"):
        try:
            problems += check_role(iam, naming.role(stack, purpose))
        except iam.exceptions.NoSuchEntityException:
            pass
    elbv2 = ctx.client("elbv2")
    try:
        lbs = elbv2.describe_load_balancers(Names=[naming.load_balancer(stack)])["LoadBalancers"]
    except elbv2.exceptions.LoadBalancerNotFoundException:
        lbs = []
    for lb in lbs:
        problems += check_listeners(elbv2, lb["LoadBalancerArn"])
    s3 = ctx.client("s3")
    for purpose in ("app", "deploy"):
        name = naming.bucket(stack, purpose, ctx.account_id, ctx.region)
        try:
            s3.head_bucket(Bucket=name)
        except s3.exceptions.ClientError:
            continue  # not built (yet)
        problems += check_bucket_versioned(s3, name)
    return problems
