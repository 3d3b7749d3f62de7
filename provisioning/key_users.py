"""What still needs a KMS key: a teardown keeps a key (and says why) while anything encrypted with
it could still be restored or launched, and the leftovers report says the same of any key."""
from __future__ import annotations

from provisioning.recipes.kms_key import key_names


def rds_backups_using(ctx, state: dict) -> list[str]:
    """DB snapshots (a teardown's final snapshot among them) and automated backups (retained after
    the instance is deleted) encrypted with the key: restoring any of them needs the key."""
    rds, names = ctx.client("rds"), key_names(ctx, state)
    snapshots = [s for page in rds.get_paginator("describe_db_snapshots").paginate() for s in page["DBSnapshots"]]
    backups = [b for page in rds.get_paginator("describe_db_instance_automated_backups").paginate()
               for b in page["DBInstanceAutomatedBackups"]]
    return ([f"DB snapshot {s['DBSnapshotIdentifier']}" for s in snapshots if s.get("KmsKeyId") in names]
            + [f"automated backups of {b['DBInstanceIdentifier']} ({b.get('Status', 'retained')})"
               for b in backups if b.get("KmsKeyId") in names])


def images_using(ctx, state: dict) -> list[str]:
    """The AMIs whose snapshots are encrypted with the key (image retention keeps a stack's older
    ones): launching any of them needs the key."""
    return [f"AMI {image_id}" for image_id in images_encrypted_with(ctx, key_names(ctx, state))]


def key_users(ctx, state: dict) -> list[str]:
    """Everything of the account that needs this key, for any key (the leftovers report)."""
    return rds_backups_using(ctx, state) + images_using(ctx, state)


def images_encrypted_with(ctx, key_names: set[str]) -> list[str]:
    """The account's AMIs in the region (disabled ones too) with a snapshot encrypted with the key
    (any of ``key_names``: its ARN, id or alias): launching them needs the key. Not only this
    stack's: while a stack's EBS key is the region's default, anything baked there takes it
    (EBS encryption by default is an account-and-region setting). Read only."""
    ec2 = ctx.client("ec2")
    pages = ec2.get_paginator("describe_images").paginate(Owners=["self"], IncludeDisabled=True)
    snapshots_of = {i["ImageId"]: {m["Ebs"]["SnapshotId"] for m in i.get("BlockDeviceMappings", [])
                                   if m.get("Ebs", {}).get("SnapshotId")}
                    for page in pages for i in page["Images"]}
    wanted = sorted(set().union(*snapshots_of.values())) if snapshots_of else []
    encrypted = set()
    for start in range(0, len(wanted), 200):  # a filter (not SnapshotIds): a snapshot gone meanwhile is no error
        pages = ec2.get_paginator("describe_snapshots").paginate(
            OwnerIds=["self"], Filters=[{"Name": "snapshot-id", "Values": wanted[start:start + 200]}])
        encrypted |= {s["SnapshotId"] for page in pages for s in page["Snapshots"]
                      if s.get("Encrypted") and s.get("KmsKeyId") in key_names}
    return sorted(i for i, snapshots in snapshots_of.items() if snapshots & encrypted)
