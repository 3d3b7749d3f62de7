"""The data layer's three KMS keys (S3, RDS, EBS) and the EBS key's extra statements."""
from __future__ import annotations

from provisioning.key_users import images_using, rds_backups_using
from provisioning.recipes.kms_key import KmsKey


def ebs_statements(ctx) -> list[dict]:
    """As AWS's own aws/ebs key: any principal of the account may use the key through EC2 (the
    Auto Scaling service-linked role included, which launches the app's encrypted volumes)."""
    via = {"kms:CallerAccount": ctx.account_id, "kms:ViaService": f"ec2.{ctx.region}.amazonaws.com"}
    return [
        {"Sid": "Allow use through EC2 by the account", "Effect": "Allow", "Principal": {"AWS": "*"},
         "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*",
                    "kms:DescribeKey"],
         "Resource": "*", "Condition": {"StringEquals": via}},
        {"Sid": "Allow grants for EC2 volumes by the account", "Effect": "Allow", "Principal": {"AWS": "*"},
         "Action": "kms:CreateGrant", "Resource": "*",
         "Condition": {"StringEquals": via, "Bool": {"kms:GrantIsForAWSResource": "true"}}},
    ]


def kms_keys() -> list[KmsKey]:
    """The S3, RDS and EBS keys, in that order."""
    return [KmsKey("s3", "S3 buckets"),
            KmsKey("rds", "RDS storage and the master user secret", users=rds_backups_using),
            KmsKey("ebs", "EBS volumes (the region's default EBS key)", statements=ebs_statements,
                   users=images_using)]
