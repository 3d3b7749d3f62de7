"""Test machinery: counts of what exists of the pipeline layer's kinds (crash-resume tests)."""
from __future__ import annotations

import json

from botocore.exceptions import ClientError

from provisioning import naming
from provisioning.layers.pipeline.arns import bucket_name
from provisioning.outputs import parameter_path


def inventory(ctx) -> dict:
    """Counts of what exists of the layer's kinds, tagged or not (crash-resume tests)."""
    kms, iam, stack = ctx.client("kms"), ctx.client("iam"), ctx.stack
    keys = 0
    for page in kms.get_paginator("list_keys").paginate():
        for entry in page["Keys"]:
            if kms.describe_key(KeyId=entry["KeyId"])["KeyMetadata"]["KeyState"] != "PendingDeletion":
                keys += 1
    roles = [r["RoleName"] for page in iam.get_paginator("list_roles").paginate() for r in page["Roles"]]
    lam = ctx.client("lambda")
    functions = [f["FunctionName"] for page in lam.get_paginator("list_functions").paginate()
                 for f in page["Functions"]]
    try:
        statements = len(json.loads(lam.get_policy(FunctionName=naming.lambda_function(stack))["Policy"])["Statement"])
    except ClientError:
        statements = 0
    zone_records = 0
    for zone in ctx.client("route53").list_hosted_zones()["HostedZones"]:
        zone_records += sum(len(p["ResourceRecordSets"]) for p in ctx.client("route53").get_paginator(
            "list_resource_record_sets").paginate(HostedZoneId=zone["Id"]))
    secrets_list = ctx.client("secretsmanager").list_secrets()["SecretList"]
    return {
        "kms_keys": keys,
        "kms_aliases": len(kms.list_aliases()["Aliases"]),
        "topics": len(ctx.client("sns").list_topics()["Topics"]),
        "subscriptions": len(ctx.client("sns").list_subscriptions()["Subscriptions"]),
        "roles": len(roles),
        "role_policies": sum(len(iam.list_role_policies(RoleName=r)["PolicyNames"]) for r in roles),
        "oidc_providers": len(iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]),
        "functions": len(functions),
        "permission_statements": statements,
        "log_groups": len(ctx.client("logs").describe_log_groups()["logGroups"]),
        "ses_identities": len(ctx.client("sesv2").list_email_identities()["EmailIdentities"]),
        "dns_records": zone_records,
        "queues": len(ctx.client("sqs").list_queues().get("QueueUrls", [])),
        "codedeploy_applications": len(ctx.client("codedeploy").list_applications()["applications"]),
        "codedeploy_groups": len(ctx.client("codedeploy").list_deployment_groups(
            applicationName=naming.codedeploy_application(stack))["deploymentGroups"])
        if naming.codedeploy_application(stack) in ctx.client("codedeploy").list_applications()["applications"] else 0,
        "secrets": len([s for s in secrets_list if not s.get("DeletedDate")]),
        "lambda_zips": ctx.client("s3").list_objects_v2(
            Bucket=bucket_name(ctx), Prefix=naming.LAMBDA_PREFIX).get("KeyCount", 0),
        "parameters": sum(len(page["Parameters"]) for page in ctx.client("ssm").get_paginator(
            "get_parameters_by_path").paginate(Path=parameter_path(stack, "pipeline"))),
    }
