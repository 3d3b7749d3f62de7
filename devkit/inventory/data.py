"""What exists of the data layer's kinds in the region (test machinery: crash-resume counts)."""
from __future__ import annotations

from provisioning import naming
from provisioning.layers.data.ebs import EbsDefaultEncryption
from provisioning.outputs import parameter_path


def inventory(ctx) -> dict:
    """What exists of the layer's kinds in the region, tagged or not (crash-resume tests)."""
    kms, rds, ec2 = ctx.client("kms"), ctx.client("rds"), ctx.client("ec2")
    keys = [k["KeyId"] for page in kms.get_paginator("list_keys").paginate() for k in page["Keys"]]
    states = [kms.describe_key(KeyId=k)["KeyMetadata"] for k in keys]
    aliases = {a["AliasName"]: a.get("TargetKeyId") for page in kms.get_paginator("list_aliases").paginate()
               for a in page["Aliases"] if a["AliasName"].startswith(f"alias/cloudsite/{ctx.stack}/")}
    ebs_key = EbsDefaultEncryption.default_key(ec2)
    ebs_alias_key = aliases.get(naming.kms_alias(ctx.stack, "ebs"))
    return {
        "kms_keys": sum(m["KeyManager"] == "CUSTOMER" and m["KeyState"] != "PendingDeletion" for m in states),
        "kms_aliases": len(aliases),
        "kms_aliases_on_live_keys": sum(
            any(m["KeyId"] == target and m["KeyState"] == "Enabled" for m in states) for target in aliases.values()),
        "ebs_encryption_by_default": ec2.get_ebs_encryption_by_default()["EbsEncryptionByDefault"],
        "ebs_default_key_is_the_stacks": bool(ebs_key and ebs_alias_key and ebs_key.endswith(ebs_alias_key)),
        "buckets": len(ctx.client("s3").list_buckets()["Buckets"]),
        "db_parameter_groups": sum(not g["DBParameterGroupName"].startswith("default.")
                                   for g in rds.describe_db_parameter_groups()["DBParameterGroups"]),
        "db_subnet_groups": len(rds.describe_db_subnet_groups()["DBSubnetGroups"]),
        "db_instances": len(rds.describe_db_instances()["DBInstances"]),
        "secrets": len(ctx.client("secretsmanager").list_secrets()["SecretList"]),
        "secret_tags": sum(len(s.get("Tags", [])) for s in ctx.client("secretsmanager").list_secrets()["SecretList"]),
        "functions": len(ctx.client("lambda").list_functions()["Functions"]),
        "lambda_zips": ctx.client("s3").list_objects_v2(
            Bucket=naming.bucket(ctx.stack, "deploy", ctx.account_id, ctx.region),
            Prefix="lambda/").get("KeyCount", 0) if _bucket_exists(ctx) else 0,
        "roles": len(ctx.client("iam").list_roles()["Roles"]),
        "role_policies": sum(len(ctx.client("iam").list_role_policies(RoleName=r["RoleName"])["PolicyNames"])
                             for r in ctx.client("iam").list_roles()["Roles"]),
        "log_groups": len(ctx.client("logs").describe_log_groups()["logGroups"]),
        "tables": len(ctx.client("dynamodb").list_tables()["TableNames"]),
        "parameters": sum(len(page["Parameters"]) for page in ctx.client("ssm").get_paginator(
            "get_parameters_by_path").paginate(Path=parameter_path(ctx.stack, "data"))),
    }


def _bucket_exists(ctx) -> bool:
    name = naming.bucket(ctx.stack, "deploy", ctx.account_id, ctx.region)
    return any(b["Name"] == name for b in ctx.client("s3").list_buckets()["Buckets"])
