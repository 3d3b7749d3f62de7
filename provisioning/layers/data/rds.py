"""The data layer: KMS keys, EBS default encryption, S3 buckets, RDS MySQL primary and replica,
the DynamoDB token table, and the layer's outputs.

* KMS: customer-managed keys for S3, RDS and EBS, rotation on, aliases ``alias/cloudsite/<stack>/<purpose>``.
  A key is found by its alias (the tagging API only for a key a crash left without one); a key
  pending deletion is never "found", so an apply after a teardown makes a new key and re-points
  the alias. Teardown removes the alias, then schedules the key's deletion with the shortest
  window AWS allows (7 days) — unless something still needs the key: the RDS key is kept while a
  DB snapshot (the final one) or retained automated backup is encrypted with it, the EBS key while
  a baked AMI's snapshots are; teardown says so, and the alias stays so a re-apply finds the key.
* EBS encryption by default with the EBS key as the default key: an ACCOUNT-AND-REGION setting
  (every new volume in the region, whatever made it). Teardown resets the default key to the
  AWS-managed ``aws/ebs`` and leaves encryption by default on.
* S3: the app bucket (SSE-KMS with the S3 key and bucket keys, the four public-access blocks,
  object ownership enforced, a bucket policy denying requests without TLS — ``[data]
  tls_only_bucket_policy`` —, a lifecycle rule aborting incomplete multipart uploads) and the
  deploy bucket (the same, plus versioning and a rule expiring old versions). Names carry the
  stack, account and region (``naming.bucket``). Teardown empties them, every version and delete
  marker included.
* RDS MySQL 8.4 (8.0 is past RDS standard support; extended support is off, so its cost is a
  decision, not a default): a parameter group (``require_secure_transport=1``, utf8mb4), a subnet
  group over the private subnets, the primary (storage encrypted with the RDS key) and a read
  replica in another zone. Neither is publicly accessible.
* Database credentials: two Secrets Manager secrets, generated here, encrypted with the RDS key and
  never printed: the master user's (given to RDS at creation; RDS refuses a read replica of a
  primary whose password it manages itself) and the app user's, which the app connects as.
* The db-admin Lambda, in the database's private subnets (no route out; it calls no AWS API): its
  role (network interfaces and its log group only), log group, and the function, whose code is
  ``deploy/db_admin``. The app-user recipe invokes it with both secrets' credentials to create the
  app user with exactly its grants; a tag on the app secret records the grant set and the instance
  it was applied to, so "exists" is observable without SQL.
* DynamoDB: the verification token table (on demand, ``token`` hash key, TTL on ``ttl``,
  point-in-time recovery).
* Outputs under ``/cloudsite/<stack>/data/``: everything the app's settings need, no secret.

``[database] deletion_protection`` (prod): RDS and DynamoDB deletion protection on, and teardown
refuses this layer unless ``--allow-prod-data`` is given; ``final_snapshot`` keeps a final
snapshot of the primary.
"""
from __future__ import annotations

import json
import secrets
import string
import time

from botocore.exceptions import ClientError

from provisioning import db_admin_invoke, naming
from provisioning.config import StackConfig
from provisioning.errors import UNIMPLEMENTED, StackError, emulator_lacks, error_code, tolerate
from provisioning.layer import Layer
from provisioning.outputs import Parameters, parameter_path
from provisioning.policy import allow, document, trust
from provisioning.recipe_names import (APP_BUCKET, APP_SECRET, APP_USER,
                                       DB_ADMIN_FUNCTION, DB_ADMIN_LOGS, DB_ADMIN_ROLE, DB_ADMIN_SG, DB_SG,
                                       DEPLOY_BUCKET, EBS_DEFAULT, EBS_KEY, MASTER_SECRET, PARAMETER_GROUP,
                                       PRIMARY, RDS_KEY, REPLICA, S3_KEY, SUBNET_GROUP, TOKEN_TABLE, bucket,
                                       private_subnets)
from provisioning.key_users import images_using, rds_backups_using
from provisioning.recipes.kms_key import KmsKey
from provisioning.recipes.lambda_function import LambdaFunction, zip_code
from provisioning.recipes.log_group import LogGroup
from provisioning.recipes.role import Role
from provisioning.recipes.secret import GeneratedSecret
from provisioning.resource import Drift, Resource, planned
from provisioning.retry import delete_once_free, retry_on, waiter_config

MYSQL_FAMILY = "mysql8.4"
MYSQL_VERSION = "8.4"         # RDS picks the current 8.4 minor version; minor upgrades are automatic
# CreateDBInstance EngineLifecycleSupport (RDS API reference): the default enrols the instance in
# RDS Extended Support, billed once the major version leaves standard support; disabled, RDS
# upgrades it instead. A stack that wants to pay for the extra time changes this on purpose.
ENGINE_LIFECYCLE = "open-source-rds-extended-support-disabled"
# RDS CreateDBInstance, MasterUserPassword for MySQL: 8 to 41 printable ASCII characters, not
# '/', '"', '@' or a space. The app user's password is made the same way.
PASSWORD_LENGTH = 40
PASSWORD_ALPHABET = string.ascii_letters + string.digits + "!#$%&()*+,-.:;<=>?[]^_{|}~"
DB_ADMIN_TIMEOUT = 60         # seconds: connect (10 s at most) and a few statements
DB_ADMIN_LOG_RETENTION_DAYS = 30
APP_USER_TAG = "cloudsite:app-user"
# Values as the API takes and DescribeDBParameters reads them back: RDS's MySQL parameter groups take
# 1/0 for require_secure_transport (RDS MySQL guide, "Requiring SSL/TLS for all connections": "set
# the require_secure_transport parameter to 1 (ON)"); a group holding "ON" drifts and is rewritten.
DB_PARAMETERS = {"require_secure_transport": "1", "character_set_server": "utf8mb4",
                 "collation_server": "utf8mb4_0900_ai_ci"}
# RDS: 5-20 minutes for an instance, as long again for a replica; deletion takes minutes too.
DB_CREATE_WAIT = waiter_config(30, 80)     # 40 minutes
DB_REPLICA_WAIT = waiter_config(30, 120)   # 60 minutes
DB_MODIFY_WAIT = waiter_config(30, 80)
DB_DELETE_WAIT = waiter_config(30, 80)
TABLE_WAIT = waiter_config(5, 60)
DB_BUSY = ("creating", "modifying", "backing-up", "configuring-enhanced-monitoring",
           "configuring-log-exports", "upgrading", "rebooting", "resetting-master-credentials",
           "renaming", "storage-optimization", "starting", "maintenance", "configuring-iam-database-auth")
PROTECTED_HINT = ("[database] deletion_protection is on for this stack; run teardown with "
                  "--allow-prod-data to delete its data")


# --- KMS keys --------------------------------------------------------------------------------
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


# --- EBS encryption by default ---------------------------------------------------------------
class EbsDefaultEncryption(Resource):
    """An account-and-region setting, not a resource: "exists" means encryption by default is on
    with this stack's EBS key as the default key (or the endpoint cannot tell which key)."""
    name, service, kind = EBS_DEFAULT, "ec2", "EBS encryption by default (account-and-region setting)"
    depends_on = (EBS_KEY,)

    def __init__(self, key: KmsKey):
        self.key = key

    @staticmethod
    def default_key(ec2) -> str | None:
        """The region's default EBS key ARN, or None when the endpoint cannot say (moto)."""
        try:
            return ec2.get_ebs_default_kms_key_id()["KmsKeyId"]
        except UNIMPLEMENTED as error:
            if emulator_lacks(error, ec2):
                return None
            raise

    def _our_keys(self, ctx, deps) -> set[str]:
        key = deps.get(EBS_KEY)
        if key:
            return {key["arn"], key["id"]}
        return {arn for s in self.key.find_all(ctx, {}) for arn in (s["arn"], s["id"])}

    def _scope(self, ctx) -> str:
        return f"{ctx.account_id}/{ctx.region}"

    def find_all(self, ctx, deps):
        ec2 = ctx.client("ec2")
        if not ec2.get_ebs_encryption_by_default()["EbsEncryptionByDefault"]:
            return []
        current = self.default_key(ec2)
        if current is not None and current not in self._our_keys(ctx, deps):
            return []  # on, but with another key: this stack's setting is not there
        return [{"id": self._scope(ctx), "enabled": True, "key": current}]

    def create(self, ctx, deps):
        ec2, key = ctx.client("ec2"), deps[EBS_KEY]["arn"]
        # the key first: a crash in between leaves encryption off, so the next run does both again
        ec2.modify_ebs_default_kms_key_id(KmsKeyId=key)
        ec2.enable_ebs_encryption_by_default()
        ctx.reporter.note(f"{self.name}: EBS encryption by default is an account-and-region setting: "
                          f"every new EBS volume of account {ctx.account_id} in {ctx.region} is now "
                          f"encrypted, by default with {naming.kms_alias(ctx.stack, 'ebs')}")
        return {"id": self._scope(ctx), "enabled": True, "key": key}

    def drift(self, ctx, state, deps):
        key = deps.get(EBS_KEY)
        want = key["arn"] if key else planned(EBS_KEY)
        if state["key"] is not None and state["key"] != want:
            return [Drift("default key", state["key"], want)]
        return []

    def reconcile(self, ctx, state, drift, deps):
        key = deps[EBS_KEY]["arn"]
        ctx.client("ec2").modify_ebs_default_kms_key_id(KmsKeyId=key)
        return {**state, "key": key}

    def delete(self, ctx, state):
        try:
            ctx.client("ec2").reset_ebs_default_kms_key_id()
        except UNIMPLEMENTED as error:
            if not emulator_lacks(error, ctx.client("ec2")):
                raise
            ctx.reporter.note(f"{self.name}: this endpoint cannot reset the default EBS key; reset it "
                              "with 'aws ec2 reset-ebs-default-kms-key-id'")
            return
        ctx.reporter.note(f"{self.name}: EBS encryption by default is an account-and-region setting: "
                          f"the default key of account {ctx.account_id} in {ctx.region} is the "
                          "AWS-managed aws/ebs again; encryption by default stays on")

    def outputs(self, state):
        return {"scope": f"account-and-region {state['id']}", "key": state["key"] or "unknown"}


# --- S3 buckets ------------------------------------------------------------------------------
class Bucket(Resource):
    service, kind = "s3", "S3 bucket"
    depends_on = (S3_KEY,)
    TLS_SID = "DenyRequestsWithoutTLS"

    def __init__(self, purpose: str, *, versioned: bool, tls_only: bool, abort_days: int,
                 noncurrent_days: int):
        self.purpose, self.versioned, self.tls_only = purpose, versioned, tls_only
        self.abort_days, self.noncurrent_days = abort_days, noncurrent_days
        self.name = bucket(purpose)

    def bucket_name(self, ctx) -> str:
        return naming.bucket(ctx.stack, self.purpose, ctx.account_id, ctx.region)

    def _state(self, ctx, name):
        return {"id": name, "name": name, "arn": f"arn:{ctx.partition}:s3:::{name}"}

    def find_all(self, ctx, deps):
        name = self.bucket_name(ctx)
        try:
            ctx.client("s3").head_bucket(Bucket=name, ExpectedBucketOwner=ctx.account_id)
        except ClientError as error:
            if error_code(error) in ("404", "NoSuchBucket", "NotFound"):
                return []
            if error_code(error) in ("403", "AccessDenied", "Forbidden"):
                raise StackError(f"bucket {name} exists but belongs to another account or denies "
                                 "this one; bucket names are global") from None
            raise
        return [self._state(ctx, name)]

    def create(self, ctx, deps):
        s3, name = ctx.client("s3"), self.bucket_name(ctx)
        configuration = {"Tags": ctx.tags(self.name)}
        if ctx.region != "us-east-1":
            configuration["LocationConstraint"] = ctx.region
        try:
            s3.create_bucket(Bucket=name, ObjectOwnership="BucketOwnerEnforced",
                             CreateBucketConfiguration=configuration)
        except ClientError as error:
            if error_code(error) == "BucketAlreadyExists":
                raise StackError(f"bucket name {name} is taken by another account") from None
            if error_code(error) != "BucketAlreadyOwnedByYou":
                raise
        s3.get_waiter("bucket_exists").wait(Bucket=name, WaiterConfig=waiter_config(2, 30))
        return self._state(ctx, name)

    # --- what the bucket should look like ---
    def wanted(self, ctx, deps) -> dict:
        key = deps.get(S3_KEY)
        name = self.bucket_name(ctx)
        want = {
            "encryption": self.show_encryption("aws:kms", key["arn"] if key else planned(S3_KEY), True),
            "public access block": self.show_block({k: True for k in self.BLOCKS}),
            "ownership": "BucketOwnerEnforced",
            "policy": self.policy(ctx, name) if self.tls_only else None,
            "lifecycle": self.lifecycle(),
            "tags": {t["Key"]: t["Value"] for t in ctx.tags(self.name)},
        }
        if self.versioned:
            want["versioning"] = "Enabled"
        return want

    BLOCKS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")

    @staticmethod
    def show_encryption(algorithm, key, bucket_keys) -> str:
        return f"{algorithm} {key or '(no key)'}, bucket keys {'on' if bucket_keys else 'off'}"

    @staticmethod
    def show_block(settings: dict) -> str:
        return ", ".join(f"{k} {'on' if v else 'off'}" for k, v in settings.items())

    def policy(self, ctx, name) -> dict:
        arn = f"arn:{ctx.partition}:s3:::{name}"
        return {"Version": "2012-10-17", "Statement": [{
            "Sid": self.TLS_SID, "Effect": "Deny", "Principal": "*", "Action": "s3:*",
            "Resource": [arn, f"{arn}/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}

    def lifecycle(self) -> list[dict]:
        rules = [{"ID": "abort-incomplete-multipart-uploads", "Status": "Enabled", "Filter": {"Prefix": ""},
                  "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": self.abort_days}}]
        if self.versioned:
            rules.append({"ID": "expire-old-versions", "Status": "Enabled", "Filter": {"Prefix": ""},
                          "NoncurrentVersionExpiration": {"NoncurrentDays": self.noncurrent_days},
                          "Expiration": {"ExpiredObjectDeleteMarker": True}})
        return rules

    @staticmethod
    def _rule_view(rule: dict) -> tuple:
        """The parts of a lifecycle rule this recipe sets, in a form AWS and moto both read back."""
        flt = rule.get("Filter", {"Prefix": rule.get("Prefix", "")})
        return (rule.get("ID"), rule.get("Status"), flt.get("Prefix", "") if set(flt) <= {"Prefix"} else str(flt),
                (rule.get("AbortIncompleteMultipartUpload") or {}).get("DaysAfterInitiation"),
                (rule.get("NoncurrentVersionExpiration") or {}).get("NoncurrentDays"),
                json.dumps(rule.get("Expiration"), sort_keys=True, default=str))

    def observed(self, ctx, name) -> dict:
        s3 = ctx.client("s3")

        def read(call, missing, pick):
            try:
                return pick(call(Bucket=name))
            except ClientError as error:
                if error_code(error) in missing:
                    return None
                raise

        def encryption(answer):
            rule = answer["ServerSideEncryptionConfiguration"]["Rules"][0]
            default = rule.get("ApplyServerSideEncryptionByDefault", {})
            return self.show_encryption(default.get("SSEAlgorithm"), default.get("KMSMasterKeyID"),
                                        bool(rule.get("BucketKeyEnabled")))

        def block(answer):
            c = answer["PublicAccessBlockConfiguration"]
            return self.show_block({k: c.get(k, False) for k in self.BLOCKS})

        have = {
            "encryption": read(s3.get_bucket_encryption, ("ServerSideEncryptionConfigurationNotFoundError",), encryption),
            "public access block": read(s3.get_public_access_block, ("NoSuchPublicAccessBlockConfiguration",), block),
            "ownership": read(s3.get_bucket_ownership_controls, ("OwnershipControlsNotFoundError",),
                              lambda a: a["OwnershipControls"]["Rules"][0]["ObjectOwnership"]),
            "policy": read(s3.get_bucket_policy, ("NoSuchBucketPolicy",), lambda a: json.loads(a["Policy"])),
            "lifecycle": read(s3.get_bucket_lifecycle_configuration, ("NoSuchLifecycleConfiguration",),
                              lambda a: a["Rules"]),
            "tags": read(s3.get_bucket_tagging, ("NoSuchTagSet",),
                         lambda a: {t["Key"]: t["Value"] for t in a["TagSet"]}) or {},
        }
        if self.versioned:
            have["versioning"] = read(s3.get_bucket_versioning, (), lambda a: a.get("Status", "Disabled"))
        return have

    def drift(self, ctx, state, deps):
        have, want = self.observed(ctx, state["name"]), self.wanted(ctx, deps)
        drift = []
        for setting, wanted in want.items():
            current = have[setting]
            if setting == "lifecycle":
                same = sorted(map(self._rule_view, current or [])) == sorted(map(self._rule_view, wanted))
                shown = ([r.get("ID") for r in current or []], [r["ID"] for r in wanted])
            elif setting == "tags":
                same = all(current.get(k) == v for k, v in wanted.items())
                shown = ([f"{k}={v}" for k, v in current.items() if k.startswith("cloudsite:")],
                         [f"{k}={v}" for k, v in wanted.items() if k.startswith("cloudsite:")])
            elif setting == "policy":
                same = current == wanted
                sids = lambda p: [s.get("Sid", "?") for s in p["Statement"]] if p else None  # noqa: E731
                shown = (sids(current), sids(wanted))
            else:
                same, shown = current == wanted, (current, wanted)
            if not same:
                drift.append(Drift(setting, *shown))
        return drift

    def reconcile(self, ctx, state, drift, deps):
        s3, name = ctx.client("s3"), state["name"]
        want, settings = self.wanted(ctx, deps), {d.setting for d in drift}
        if "public access block" in settings:
            s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration={
                "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True})
        if "ownership" in settings:
            s3.put_bucket_ownership_controls(Bucket=name, OwnershipControls={
                "Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
        if "encryption" in settings:
            s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": [{
                "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms",
                                                       "KMSMasterKeyID": deps[S3_KEY]["arn"]},
                "BucketKeyEnabled": True}]})
        if "versioning" in settings:
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        if "lifecycle" in settings:
            s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": want["lifecycle"]})
        if "policy" in settings:
            if want["policy"] is None:
                with tolerate("NoSuchBucketPolicy"):
                    s3.delete_bucket_policy(Bucket=name)
            else:
                s3.put_bucket_policy(Bucket=name, Policy=json.dumps(want["policy"]))
        if "tags" in settings:
            tags = self.observed_tags(s3, name)
            tags.update(want["tags"])
            s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [{"Key": k, "Value": v}
                                                                  for k, v in sorted(tags.items())]})

    @staticmethod
    def observed_tags(s3, name) -> dict:
        try:
            return {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=name)["TagSet"]}
        except ClientError as error:
            if error_code(error) == "NoSuchTagSet":
                return {}
            raise

    def delete(self, ctx, state):
        s3, name = ctx.client("s3"), state["name"]

        def empty_and_delete():
            empty_bucket(s3, name)
            s3.delete_bucket(Bucket=name)

        # BucketNotEmpty: something wrote meanwhile (or listing lagged); empty it again
        delete_once_free(empty_and_delete, gone="NoSuchBucket", busy=["BucketNotEmpty"], timeout=300, clock=ctx.clock)
        s3.get_waiter("bucket_not_exists").wait(Bucket=name, WaiterConfig=waiter_config(2, 30))

    def outputs(self, state):
        return {"bucket": state["name"]}


def empty_bucket(s3, name: str) -> int:
    """Abort incomplete multipart uploads, then delete every object version and delete marker,
    1000 a call. Returns how many versions and markers went."""
    for page in s3.get_paginator("list_multipart_uploads").paginate(Bucket=name):
        for upload in page.get("Uploads", []):
            with tolerate("NoSuchUpload"):
                s3.abort_multipart_upload(Bucket=name, Key=upload["Key"], UploadId=upload["UploadId"])
    deleted = 0
    batch: list[dict] = []

    def flush():
        nonlocal deleted, batch
        if batch:
            answer = s3.delete_objects(Bucket=name, Delete={"Objects": batch, "Quiet": True})
            errors = answer.get("Errors", [])
            if errors:
                first = errors[0]
                raise StackError(f"bucket {name}: could not delete {len(errors)} objects, e.g. "
                                 f"{first.get('Key')}: {first.get('Code')} {first.get('Message', '')}".strip())
            deleted += len(batch)
            batch = []

    for page in s3.get_paginator("list_object_versions").paginate(Bucket=name):
        for item in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
            batch.append({"Key": item["Key"], "VersionId": item["VersionId"]})
            if len(batch) == 1000:
                flush()
    flush()
    return deleted


# --- RDS parameter and subnet groups ---------------------------------------------------------
class DbParameterGroup(Resource):
    name, service, kind = PARAMETER_GROUP, "rds", "DB parameter group"

    def group_name(self, ctx):
        return naming.db_parameter_group(ctx.stack)

    def find_all(self, ctx, deps):
        try:
            groups = ctx.client("rds").describe_db_parameter_groups(
                DBParameterGroupName=self.group_name(ctx))["DBParameterGroups"]
        except ClientError as error:
            if error_code(error) == "DBParameterGroupNotFound":
                return []
            raise
        return [{"id": g["DBParameterGroupName"], "arn": g.get("DBParameterGroupArn"),
                 "family": g["DBParameterGroupFamily"]} for g in groups]

    def create(self, ctx, deps):
        rds = ctx.client("rds")
        try:
            group = rds.create_db_parameter_group(
                DBParameterGroupName=self.group_name(ctx), DBParameterGroupFamily=MYSQL_FAMILY,
                Description=f"cloudsite {ctx.stack}: MySQL {MYSQL_VERSION}, TLS only, utf8mb4",
                Tags=ctx.tags(self.name))["DBParameterGroup"]
        except ClientError as error:
            if error_code(error) != "DBParameterGroupAlreadyExists":
                raise
            return self.find_all(ctx, deps)[0]
        # the parameters: reconcile
        return {"id": group["DBParameterGroupName"], "arn": group.get("DBParameterGroupArn"),
                "family": group["DBParameterGroupFamily"]}

    def drift(self, ctx, state, deps):
        drift = []
        if state["family"] != MYSQL_FAMILY:
            drift.append(Drift("family", state["family"], MYSQL_FAMILY, fixable=False))
        pages = ctx.client("rds").get_paginator("describe_db_parameters").paginate(
            DBParameterGroupName=state["id"], Source="user")
        have = {p["ParameterName"]: p.get("ParameterValue") for page in pages for p in page["Parameters"]}
        for key, value in DB_PARAMETERS.items():  # others set by hand are left alone
            if have.get(key) != value:
                drift.append(Drift(key, have.get(key), value))
        return drift

    def reconcile(self, ctx, state, drift, deps):
        changes = [{"ParameterName": d.setting, "ParameterValue": d.want, "ApplyMethod": "immediate"}
                   for d in drift if d.setting in DB_PARAMETERS]  # all three are dynamic
        ctx.client("rds").modify_db_parameter_group(DBParameterGroupName=state["id"], Parameters=changes)

    def delete(self, ctx, state):
        rds = ctx.client("rds")
        # an instance being deleted still holds it for a while
        delete_once_free(lambda: rds.delete_db_parameter_group(DBParameterGroupName=state["id"]),
                         gone="DBParameterGroupNotFound", busy=["InvalidDBParameterGroupState"], timeout=900, delay=10, clock=ctx.clock)

    def outputs(self, state):
        return {"name": state["id"]}


class DbSubnetGroup(Resource):
    name, service, kind = SUBNET_GROUP, "rds", "DB subnet group"

    def __init__(self, subnets: list[str]):
        self.subnets = subnets
        self.depends_on = tuple(subnets)

    def group_name(self, ctx):
        return naming.db_subnet_group(ctx.stack)

    @staticmethod
    def _state(group):
        return {"id": group["DBSubnetGroupName"], "arn": group.get("DBSubnetGroupArn"),
                "vpc": group.get("VpcId"), "subnets": sorted(s["SubnetIdentifier"] for s in group.get("Subnets", []))}

    def find_all(self, ctx, deps):
        try:
            groups = ctx.client("rds").describe_db_subnet_groups(
                DBSubnetGroupName=self.group_name(ctx))["DBSubnetGroups"]
        except ClientError as error:
            if error_code(error) == "DBSubnetGroupNotFoundFault":
                return []
            raise
        return [self._state(g) for g in groups]

    def _wanted(self, deps):
        return sorted((deps.get(s) or {}).get("id") or planned(s) for s in self.subnets)

    def create(self, ctx, deps):
        try:
            group = ctx.client("rds").create_db_subnet_group(
                DBSubnetGroupName=self.group_name(ctx), SubnetIds=self._wanted(deps),
                DBSubnetGroupDescription=f"cloudsite {ctx.stack}: the database's subnets",
                Tags=ctx.tags(self.name))["DBSubnetGroup"]
        except ClientError as error:
            if error_code(error) != "DBSubnetGroupAlreadyExists":
                raise
            return self.find_all(ctx, deps)[0]
        return self._state(group)

    def drift(self, ctx, state, deps):
        want = self._wanted(deps)
        return [] if state["subnets"] == want else [Drift("subnets", state["subnets"], want)]

    def reconcile(self, ctx, state, drift, deps):
        group = ctx.client("rds").modify_db_subnet_group(
            DBSubnetGroupName=state["id"], SubnetIds=self._wanted(deps))["DBSubnetGroup"]
        return self._state(group)

    def delete(self, ctx, state):
        rds = ctx.client("rds")
        delete_once_free(lambda: rds.delete_db_subnet_group(DBSubnetGroupName=state["id"]),
                         gone="DBSubnetGroupNotFoundFault", busy=["InvalidDBSubnetGroupStateFault"], timeout=900, delay=10, clock=ctx.clock)

    def outputs(self, state):
        return {"name": state["id"]}


# --- RDS instances ---------------------------------------------------------------------------
class DbInstance(Resource):
    service, kind = "rds", "RDS MySQL instance"
    replica = False

    def __init__(self, config: StackConfig):
        self.db = config.database

    def identifier(self, ctx) -> str:
        return naming.db_instance(ctx.stack, replica=self.replica)

    @staticmethod
    def _state(db) -> dict:
        endpoint = db.get("Endpoint") or {}
        pending = db.get("PendingModifiedValues") or {}
        return {
            "id": db["DBInstanceIdentifier"], "arn": db["DBInstanceArn"],
            "endpoint": endpoint.get("Address"), "port": endpoint.get("Port") or db.get("DbInstancePort"),
            "status": db["DBInstanceStatus"], "zone": db.get("AvailabilityZone"),
            "class": pending.get("DBInstanceClass", db["DBInstanceClass"]),
            "engine": db.get("Engine"), "engine_version": db.get("EngineVersion", ""),
            "public": db.get("PubliclyAccessible", False),
            "deletion_protection": db.get("DeletionProtection", False),
            "backup_retention": pending.get("BackupRetentionPeriod", db.get("BackupRetentionPeriod")),
            "encrypted": db.get("StorageEncrypted", False), "kms_key": db.get("KmsKeyId"),
            "parameter_group": [g["DBParameterGroupName"] for g in db.get("DBParameterGroups", [])],
            "security_groups": sorted(g["VpcSecurityGroupId"] for g in db.get("VpcSecurityGroups", [])
                                      if g.get("Status", "active") in ("active", "adding")),
            "subnet_group": (db.get("DBSubnetGroup") or {}).get("DBSubnetGroupName"),
            "master_user": db.get("MasterUsername"),
            "managed_password": bool((db.get("MasterUserSecret") or {}).get("SecretArn")),
            "lifecycle": db.get("EngineLifecycleSupport"),
            "resource_id": db.get("DbiResourceId"),
            "source": db.get("ReadReplicaSourceDBInstanceIdentifier"),
            "tags": {t["Key"]: t["Value"] for t in db.get("TagList", [])},
        }

    def describe(self, ctx, identifier: str) -> dict | None:
        try:
            found = ctx.client("rds").describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"]
        except ClientError as error:
            if error_code(error) == "DBInstanceNotFound":
                return None
            raise
        return self._state(found[0]) if found else None

    def find_all(self, ctx, deps):
        state = self.describe(ctx, self.identifier(ctx))
        return [state] if state else []

    def wait_available(self, ctx, identifier: str, config: dict, doing: str) -> dict:
        minutes = config["Delay"] * config["MaxAttempts"] // 60
        ctx.reporter.start(self.name, f"{doing} (RDS takes minutes; waiting up to {minutes} min)")
        ctx.client("rds").get_waiter("db_instance_available").wait(
            DBInstanceIdentifier=identifier, WaiterConfig=config)
        return self.describe(ctx, identifier)

    # what both instances must match
    def common_wanted(self, ctx, deps) -> dict:
        sg = deps.get(DB_SG)
        return {"class": self.db.instance_class, "public": False,
                "deletion_protection": self.db.deletion_protection,
                "parameter_group": [naming.db_parameter_group(ctx.stack)],
                "security_groups": [sg["id"] if sg else planned(DB_SG)]}

    def wanted(self, ctx, deps) -> dict:
        return self.common_wanted(ctx, deps)

    MODIFY = {"class": "DBInstanceClass", "public": "PubliclyAccessible",
              "deletion_protection": "DeletionProtection", "backup_retention": "BackupRetentionPeriod",
              "lifecycle": "EngineLifecycleSupport"}

    def drift(self, ctx, state, deps):
        drift = []
        if state["status"] == "deleting":
            return [Drift("status", "deleting", "available", fixable=False)]
        if state["status"] != "available":
            drift.append(Drift("status", state["status"], "available"))
        if state["engine"] != "mysql" or state["engine_version"].split(".")[:2] != MYSQL_VERSION.split("."):
            # a major upgrade (new parameter group family, EngineVersion, AllowMajorVersionUpgrade)
            # is a planned operation of its own, not a reconcile
            drift.append(Drift("engine", f"{state['engine']} {state['engine_version']}", f"mysql {MYSQL_VERSION}",
                               fixable=False))
        for setting, want in self.wanted(ctx, deps).items():
            if state.get(setting) != want:
                drift.append(Drift(setting, state.get(setting), want))
        want_tags = {t["Key"]: t["Value"] for t in ctx.tags(self.name)}
        if any(state["tags"].get(k) != v for k, v in want_tags.items()):
            drift.append(Drift("tags", sorted(f"{k}={v}" for k, v in state["tags"].items() if k.startswith("cloudsite:")),
                               sorted(f"{k}={v}" for k, v in want_tags.items() if k.startswith("cloudsite:"))))
        return drift

    def reconcile(self, ctx, state, drift, deps):
        rds, settings = ctx.client("rds"), {d.setting: d for d in drift}
        if state["status"] == "stopped":
            rds.start_db_instance(DBInstanceIdentifier=state["id"])
        if "tags" in settings:
            rds.add_tags_to_resource(ResourceName=state["arn"], Tags=ctx.tags(self.name))
        changes = {self.MODIFY[s]: d.want for s, d in settings.items() if s in self.MODIFY}
        if "parameter_group" in settings:
            changes["DBParameterGroupName"] = settings["parameter_group"].want[0]
        if "security_groups" in settings:
            changes["VpcSecurityGroupIds"] = settings["security_groups"].want
        if "master password" in settings:
            changes.update(self.own_password(ctx))
        if changes:
            if state["status"] != "available":
                self.wait_available(ctx, state["id"], DB_MODIFY_WAIT, "waiting before modifying")
            ctx.reporter.start(self.name, "modifying")
            rds.modify_db_instance(DBInstanceIdentifier=state["id"], ApplyImmediately=True, **changes)
        if changes or state["status"] != "available":
            return self.wait_available(ctx, state["id"], DB_MODIFY_WAIT, "waiting until available")
        return self.describe(ctx, state["id"])

    def delete(self, ctx, state):
        rds, identifier = ctx.client("rds"), state["id"]
        if state["status"] != "deleting":
            if state["deletion_protection"]:
                if not ctx.options.allow_prod_data:
                    raise StackError(f"{identifier} has deletion protection; {PROTECTED_HINT}")
                if state["status"] != "available":
                    self.wait_available(ctx, identifier, DB_MODIFY_WAIT, "waiting before deleting")
                rds.modify_db_instance(DBInstanceIdentifier=identifier, DeletionProtection=False,
                                       ApplyImmediately=True)
            snapshot = self.final_snapshot(ctx, identifier)
            arguments = ({"SkipFinalSnapshot": False, "FinalDBSnapshotIdentifier": snapshot,
                          "DeleteAutomatedBackups": False} if snapshot else
                         {"SkipFinalSnapshot": True, "DeleteAutomatedBackups": True})
            # a busy instance (backing up, modifying) refuses deletion for a while
            delete_once_free(lambda: rds.delete_db_instance(DBInstanceIdentifier=identifier, **arguments),
                             gone="DBInstanceNotFound", busy=["InvalidDBInstanceState"], timeout=1800, delay=30, clock=ctx.clock)
            if snapshot:
                ctx.reporter.note(f"{self.name}: final snapshot {snapshot} kept; delete it when no longer needed")
        minutes = DB_DELETE_WAIT["Delay"] * DB_DELETE_WAIT["MaxAttempts"] // 60
        ctx.reporter.start(self.name, f"deleting (RDS takes minutes; waiting up to {minutes} min)")
        rds.get_waiter("db_instance_deleted").wait(DBInstanceIdentifier=identifier, WaiterConfig=DB_DELETE_WAIT)

    def final_snapshot(self, ctx, identifier: str) -> str | None:
        return None

    def own_password(self, ctx) -> dict:
        return {}

    def outputs(self, state):
        return {"endpoint": state["endpoint"], "port": state["port"]}


class DbPrimary(DbInstance):
    name = PRIMARY
    kind = "RDS MySQL primary"
    depends_on = (RDS_KEY, PARAMETER_GROUP, SUBNET_GROUP, DB_SG, MASTER_SECRET)

    def __init__(self, config: StackConfig, master: GeneratedSecret):
        super().__init__(config)
        self.master = master

    def wanted(self, ctx, deps):
        want = self.common_wanted(ctx, deps)
        want["backup_retention"] = self.db.backup_retention_days
        want["subnet_group"] = naming.db_subnet_group(ctx.stack)
        want["lifecycle"] = ENGINE_LIFECYCLE
        return want

    def drift(self, ctx, state, deps):
        drift = super().drift(ctx, state, deps)
        key = deps.get(RDS_KEY)
        want_key = key["arn"] if key else planned(RDS_KEY)
        if not state["encrypted"] or state["kms_key"] not in (want_key, key and key["id"]):
            drift.append(Drift("storage encryption", state["kms_key"] if state["encrypted"] else "off",
                               want_key, fixable=False))
        if state["master_user"] != naming.DB_MASTER_USER:
            drift.append(Drift("master user", state["master_user"], naming.DB_MASTER_USER, fixable=False))
        if state["managed_password"]:
            # RDS refuses a read replica of a primary whose master password it manages (RDS User
            # Guide, "Limitations for Secrets Manager integration with Amazon RDS")
            drift.append(Drift("master password", "managed by RDS", f"the stack's secret {self.master.secret_name(ctx.stack)}"))
        fixed = {"subnet_group"}
        return [Drift(d.setting, d.have, d.want, fixable=False) if d.setting in fixed else d for d in drift]

    def own_password(self, ctx) -> dict:
        """ModifyDBInstance (RDS API reference, ManageMasterUserPassword): turning RDS's management
        off requires MasterUserPassword; RDS then deletes its secret and uses this password."""
        return {"ManageMasterUserPassword": False, "MasterUserPassword": self.master.read(ctx)["password"]}

    def create(self, ctx, deps):
        rds, identifier = ctx.client("rds"), self.identifier(ctx)
        key = deps[RDS_KEY]["arn"]
        master = self.master.read(ctx)
        try:
            rds.create_db_instance(
                DBInstanceIdentifier=identifier, Engine="mysql", EngineVersion=MYSQL_VERSION,
                EngineLifecycleSupport=ENGINE_LIFECYCLE,
                AutoMinorVersionUpgrade=True, DBInstanceClass=self.db.instance_class,
                AllocatedStorage=self.db.allocated_storage, StorageType="gp3",
                StorageEncrypted=True, KmsKeyId=key,
                # the stack's own secret, not ManageMasterUserPassword: RDS makes no read replica
                # of a primary whose password it manages
                MasterUsername=master["username"], MasterUserPassword=master["password"],
                DBName=naming.DB_NAME, Port=naming.DB_PORT,
                DBSubnetGroupName=deps[SUBNET_GROUP]["id"], DBParameterGroupName=deps[PARAMETER_GROUP]["id"],
                VpcSecurityGroupIds=[deps[DB_SG]["id"]], PubliclyAccessible=False,
                AvailabilityZone=ctx.availability_zones()[0],
                BackupRetentionPeriod=self.db.backup_retention_days,
                DeletionProtection=self.db.deletion_protection, CopyTagsToSnapshot=True,
                Tags=ctx.tags(self.name))
        except ClientError as error:
            if error_code(error) != "DBInstanceAlreadyExists":
                raise
            state = self.describe(ctx, identifier)
            if state and state["status"] == "deleting":
                raise StackError(f"{identifier} is still being deleted; run the command again when it is gone") from None
        return self.wait_available(ctx, identifier, DB_CREATE_WAIT, "creating")

    def final_snapshot(self, ctx, identifier):
        if not self.db.final_snapshot:
            return None
        return f"{identifier}-final-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"


class DbReplica(DbInstance):
    name = REPLICA
    kind = "RDS MySQL read replica"
    replica = True
    depends_on = (PRIMARY, PARAMETER_GROUP, DB_SG)

    def zone(self, ctx, deps) -> str:
        primary = deps.get(PRIMARY)
        zones = ctx.availability_zones()
        taken = primary["zone"] if primary else zones[0]
        return next(z for z in zones if z != taken)

    def wanted(self, ctx, deps):
        want = self.common_wanted(ctx, deps)
        primary = deps.get(PRIMARY)
        want["source"] = primary["id"] if primary else planned(PRIMARY)
        return want

    def drift(self, ctx, state, deps):
        drift = super().drift(ctx, state, deps)
        primary = deps.get(PRIMARY)
        if primary and state["zone"] == primary["zone"]:
            drift.append(Drift("zone", state["zone"], f"not {primary['zone']} (the primary's)", fixable=False))
        return [Drift(d.setting, d.have, d.want, fixable=False) if d.setting == "source" else d for d in drift]

    def create(self, ctx, deps):
        rds, identifier = ctx.client("rds"), self.identifier(ctx)
        try:
            # same region: encrypted with the source's key, in the source's subnet group, with the
            # source's master user (a replica has no password of its own to manage)
            rds.create_db_instance_read_replica(
                DBInstanceIdentifier=identifier, SourceDBInstanceIdentifier=deps[PRIMARY]["id"],
                DBInstanceClass=self.db.instance_class, AvailabilityZone=self.zone(ctx, deps),
                Port=naming.DB_PORT, AutoMinorVersionUpgrade=True, PubliclyAccessible=False,
                # no DBParameterGroupName: CreateDBInstanceReadReplica (RDS API reference) does not
                # take one for a same-Region MySQL replica; it inherits the source's group
                VpcSecurityGroupIds=[deps[DB_SG]["id"]],
                DeletionProtection=self.db.deletion_protection, CopyTagsToSnapshot=True,
                Tags=ctx.tags(self.name))
        except ClientError as error:
            if error_code(error) != "DBInstanceAlreadyExists":
                raise
            state = self.describe(ctx, identifier)
            if state and state["status"] == "deleting":
                raise StackError(f"{identifier} is still being deleted; run the command again when it is gone") from None
        return self.wait_available(ctx, identifier, DB_REPLICA_WAIT, "creating (a replica takes as long again)")


# --- Database credentials --------------------------------------------------------------------
def new_password() -> str:
    """40 characters RDS takes in a master password (none of '/', '"', '@', space)."""
    return "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(PASSWORD_LENGTH))


def credentials_secret(name: str, purpose: str, username: str, description: str) -> GeneratedSecret:
    """``{"username", "password"}``, generated once, encrypted with the RDS key."""
    return GeneratedSecret(name, lambda stack: naming.db_secret(stack, purpose), description,
                           lambda ctx: json.dumps({"username": username, "password": new_password()}),
                           key=RDS_KEY)


# --- The db-admin Lambda ----------------------------------------------------------------------
def db_admin_log_group(stack: str) -> str:
    return f"/aws/lambda/{naming.db_admin_function(stack)}"


def db_admin_role(subnets: list[str]) -> Role:
    """Lambda's execution role for the db-admin function: the network interfaces a function in a
    VPC needs (AWSLambdaVPCAccessExecutionRole's EC2 actions, scoped where EC2 allows it) and its
    own log group. The function calls no AWS API, so nothing else."""

    def policies(ctx, deps) -> dict | None:
        if any(deps.get(name) is None for name in (*subnets, DB_ADMIN_SG)):
            return None
        subnet_arns = [ctx.arn("ec2", f"subnet/{deps[name]['id']}") for name in subnets]
        group = ctx.arn("ec2", f"security-group/{deps[DB_ADMIN_SG]['id']}")
        interfaces = ctx.arn("ec2", "network-interface/*")
        log_group = ctx.arn("logs", f"log-group:{db_admin_log_group(ctx.stack)}")
        return {"db-admin": document(
            allow("CreateInterfacesInItsSubnetsWithItsGroup", ["ec2:CreateNetworkInterface"],
                  [interfaces, *subnet_arns, group]),
            # Lambda developer guide (VPC access): DescribeNetworkInterfaces only works on "*";
            # DescribeSubnets has no resource-level permissions
            allow("DescribeNetworking", ["ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"], "*"),
            # the same guide: DeleteNetworkInterface needs the interface's id or all of the
            # account's EC2 resources in the region, which Lambda's own interfaces fall under
            allow("DeleteItsInterfaces", ["ec2:DeleteNetworkInterface"], [ctx.arn("ec2", "*/*")]),
            allow("AddressesOnItsInterfaces", ["ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"],
                  [interfaces]),
            allow("WriteItsLogs", ["logs:CreateLogStream", "logs:PutLogEvents"], [f"{log_group}:*"]),
        )}

    return Role(DB_ADMIN_ROLE, "db-admin", "cloudsite db-admin Lambda: its network interfaces and its logs",
                trust=lambda ctx: trust("lambda.amazonaws.com", ctx.account_id), policies=policies,
                depends_on=(*subnets, DB_ADMIN_SG))


def db_admin_code():
    """The db-admin zip (``deploy/db_admin``, PyMySQL, the RDS CA bundle), its digest and CodeSha256."""
    from deploy.db_admin_zip import build_db_admin_zip

    return zip_code(build_db_admin_zip())


class DbAdminFunction(LambdaFunction):
    """In the database's subnets with its own group (which only reaches the database on 3306); no
    environment at all: the credentials come in each invocation's event."""
    name = DB_ADMIN_FUNCTION
    role_purpose, timeout = "db-admin", DB_ADMIN_TIMEOUT
    description = "db-admin (SQL that needs the master user, inside the VPC)"

    def __init__(self, subnets: list[str]):
        from deploy.db_admin_zip import HANDLER, RUNTIME

        self.handler, self.runtime, self.subnets = HANDLER, RUNTIME, subnets
        self.depends_on = (DB_ADMIN_ROLE, DB_ADMIN_LOGS, DEPLOY_BUCKET, DB_ADMIN_SG, *subnets)

    def function_name(self, ctx) -> str:
        return naming.db_admin_function(ctx.stack)

    def code(self):
        return db_admin_code()  # looked up at call time (tests replace it)

    def vpc(self, ctx, deps):
        return {"subnets": [(deps.get(s) or {}).get("id") or planned(s) for s in self.subnets],
                "security_groups": [(deps.get(DB_ADMIN_SG) or {}).get("id") or planned(DB_ADMIN_SG)]}


def grants_version() -> str:
    """Names the app user's grant set (``deploy.db_admin.users.APP_PRIVILEGES``): a new set makes
    the app-user recipe drift, and its reconcile grants it."""
    import hashlib

    from deploy.db_admin.users import APP_PRIVILEGES

    return "grants-" + hashlib.sha256(",".join(sorted(APP_PRIVILEGES)).encode()).hexdigest()[:12]


class DbAppUser(Resource):
    """The app's database user, made by the db-admin function with the master user's credentials.

    Observable from AWS without SQL: after a successful invocation the app secret is tagged
    ``cloudsite:app-user = <grant set version>@<the primary's DbiResourceId>``; a new grant set or
    a new primary (a re-created instance has a new resource id) drifts, and the reconcile invokes
    again (idempotent: it creates the user if missing, sets the password, grants exactly)."""
    name, service, kind = APP_USER, "lambda", "database app user (via the db-admin function)"
    depends_on = (PRIMARY, MASTER_SECRET, APP_SECRET, DB_ADMIN_FUNCTION)

    def __init__(self, master: GeneratedSecret, app: GeneratedSecret):
        self.master, self.app = master, app

    def wanted(self, deps) -> str:
        primary = deps.get(PRIMARY)
        return f"{grants_version()}@{primary['resource_id'] if primary else planned(PRIMARY)}"

    def find_all(self, ctx, deps):
        try:
            secret = ctx.client("secretsmanager").describe_secret(SecretId=self.app.secret_name(ctx.stack))
        except ClientError as error:
            if error_code(error) == "ResourceNotFoundException":
                return []
            raise
        applied = {t["Key"]: t["Value"] for t in secret.get("Tags", [])}.get(APP_USER_TAG)
        if secret.get("DeletedDate") or not applied:
            return []
        return [{"id": f"{naming.DB_APP_USER}@{naming.DB_NAME}", "applied": applied, "secret": secret["ARN"]}]

    def create(self, ctx, deps):
        return self.ensure(ctx, deps)

    def drift(self, ctx, state, deps):
        want = self.wanted(deps)
        return [] if state["applied"] == want else [Drift("app user", state["applied"], want)]

    def reconcile(self, ctx, state, drift, deps):
        return self.ensure(ctx, deps)

    def ensure(self, ctx, deps) -> dict:
        primary, admin, user = deps[PRIMARY], self.master.read(ctx), self.app.read(ctx)
        invoke_db_admin(ctx, {
            "action": "ensure_app_user", "host": primary["endpoint"], "port": int(primary["port"]),
            "database": naming.DB_NAME, "tls": True,
            "admin": {"username": admin["username"], "password": admin["password"]},
            "user": {"username": user["username"], "password": user["password"]}})
        applied = self.wanted(deps)
        arn = deps[APP_SECRET]["arn"]
        ctx.client("secretsmanager").tag_resource(SecretId=arn, Tags=[{"Key": APP_USER_TAG, "Value": applied}])
        return {"id": f"{naming.DB_APP_USER}@{naming.DB_NAME}", "applied": applied, "secret": arn}

    def delete(self, ctx, state):
        """The user goes with the instance; what this recipe made in AWS is the tag."""
        with tolerate("ResourceNotFoundException", "InvalidRequestException"):
            ctx.client("secretsmanager").untag_resource(SecretId=state["secret"], TagKeys=[APP_USER_TAG])

    def outputs(self, state):
        return {"user": naming.DB_APP_USER, "applied": state["applied"]}


def invoke_db_admin(ctx, event: dict) -> dict:
    """Invoke the db-admin function synchronously; a function error or ``ok: false`` is a
    StackError of one line, with the event's passwords masked (the handler masks them too)."""
    name = naming.db_admin_function(ctx.stack)
    result, function_error = db_admin_invoke.invoke(ctx.client("lambda"), name, event, clock=ctx.clock)
    if function_error or not isinstance(result, dict) or result.get("ok") is not True:
        detail = result.get("error") or result.get("errorMessage") if isinstance(result, dict) else result
        kind = f" ({function_error})" if function_error else ""
        raise StackError(f"{name}: {event['action']} failed{kind}: "
                         f"{db_admin_invoke.mask(str(detail or 'no answer'), event)}")
    return result


# --- DynamoDB token table --------------------------------------------------------------------
class TokenTable(Resource):
    name, service, kind = TOKEN_TABLE, "dynamodb", "DynamoDB table"
    HASH_KEY, TTL_ATTRIBUTE = "token", "ttl"

    def __init__(self, config: StackConfig):
        self.deletion_protection = config.database.deletion_protection

    def table_name(self, ctx):
        return naming.token_table(ctx.stack)

    @staticmethod
    def _state(table):
        return {"id": table["TableName"], "name": table["TableName"], "arn": table["TableArn"],
                "status": table["TableStatus"],
                "billing": (table.get("BillingModeSummary") or {}).get("BillingMode", "PROVISIONED"),
                "keys": [(k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]],
                "deletion_protection": table.get("DeletionProtectionEnabled", False)}

    def find_all(self, ctx, deps):
        try:
            table = ctx.client("dynamodb").describe_table(TableName=self.table_name(ctx))["Table"]
        except ClientError as error:
            if error_code(error) == "ResourceNotFoundException":
                return []
            raise
        return [self._state(table)]

    def _wait_active(self, ctx, name):
        ctx.client("dynamodb").get_waiter("table_exists").wait(TableName=name, WaiterConfig=TABLE_WAIT)
        return self._state(ctx.client("dynamodb").describe_table(TableName=name)["Table"])

    def create(self, ctx, deps):
        ddb, name = ctx.client("dynamodb"), self.table_name(ctx)
        try:
            ddb.create_table(
                TableName=name, BillingMode="PAY_PER_REQUEST",
                AttributeDefinitions=[{"AttributeName": self.HASH_KEY, "AttributeType": "S"}],
                KeySchema=[{"AttributeName": self.HASH_KEY, "KeyType": "HASH"}],
                DeletionProtectionEnabled=self.deletion_protection, Tags=ctx.tags(self.name))
        except ClientError as error:
            if error_code(error) != "ResourceInUseException":  # created meanwhile
                raise
        # TTL and point-in-time recovery: reconcile
        return self._wait_active(ctx, name)

    def drift(self, ctx, state, deps):
        ddb, drift = ctx.client("dynamodb"), []
        if state["status"] == "DELETING":
            return [Drift("status", "DELETING", "ACTIVE", fixable=False)]
        if state["status"] != "ACTIVE":
            drift.append(Drift("status", state["status"], "ACTIVE"))
        if state["keys"] != [(self.HASH_KEY, "HASH")]:
            drift.append(Drift("key schema", state["keys"], [(self.HASH_KEY, "HASH")], fixable=False))
        if state["billing"] != "PAY_PER_REQUEST":
            drift.append(Drift("billing mode", state["billing"], "PAY_PER_REQUEST"))
        if state["deletion_protection"] != self.deletion_protection:
            drift.append(Drift("deletion protection", state["deletion_protection"], self.deletion_protection))
        ttl = ddb.describe_time_to_live(TableName=state["id"])["TimeToLiveDescription"]
        ttl_have = (ttl.get("TimeToLiveStatus"), ttl.get("AttributeName"))
        if ttl_have[0] not in ("ENABLED", "ENABLING") or ttl_have[1] != self.TTL_ATTRIBUTE:
            drift.append(Drift("ttl", " ".join(filter(None, ttl_have)), f"ENABLED {self.TTL_ATTRIBUTE}"))
        backups = ddb.describe_continuous_backups(TableName=state["id"])["ContinuousBackupsDescription"]
        pitr = (backups.get("PointInTimeRecoveryDescription") or {}).get("PointInTimeRecoveryStatus", "DISABLED")
        if pitr != "ENABLED":
            drift.append(Drift("point-in-time recovery", pitr, "ENABLED"))
        return drift

    def reconcile(self, ctx, state, drift, deps):
        ddb, settings = ctx.client("dynamodb"), {d.setting for d in drift}
        name = state["id"]
        changes = {}
        if "billing mode" in settings:
            changes["BillingMode"] = "PAY_PER_REQUEST"
        if "deletion protection" in settings:
            changes["DeletionProtectionEnabled"] = self.deletion_protection
        if changes:
            ddb.update_table(TableName=name, **changes)
        if changes or "status" in settings:
            state = self._wait_active(ctx, name)
        if "ttl" in settings:
            try:
                ddb.update_time_to_live(TableName=name, TimeToLiveSpecification={
                    "Enabled": True, "AttributeName": self.TTL_ATTRIBUTE})
            except ClientError as error:
                if error_code(error) == "ValidationException" and "already" in str(error).lower():
                    raise StackError(f"{name}: TTL is being changed already (AWS allows one change an hour "
                                     "or so); run the command again later") from None
                raise
        if "point-in-time recovery" in settings:
            # a table just created answers ContinuousBackupsUnavailable for a little while
            retry_on(["ContinuousBackupsUnavailableException"],
                     lambda: ddb.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification={
                         "PointInTimeRecoveryEnabled": True}), timeout=600, delay=10, clock=ctx.clock)
        return state

    def delete(self, ctx, state):
        ddb, name = ctx.client("dynamodb"), state["id"]
        if state["status"] != "DELETING":
            if state["deletion_protection"]:
                if not ctx.options.allow_prod_data:
                    raise StackError(f"table {name} has deletion protection; {PROTECTED_HINT}")
                ddb.update_table(TableName=name, DeletionProtectionEnabled=False)
                self._wait_active(ctx, name)
            delete_once_free(lambda: ddb.delete_table(TableName=name), gone="ResourceNotFoundException",
                             busy=["ResourceInUseException"], delay=10, clock=ctx.clock)
        ddb.get_waiter("table_not_exists").wait(TableName=name, WaiterConfig=TABLE_WAIT)

    def outputs(self, state):
        return {"table": state["name"]}


# --- The layer -------------------------------------------------------------------------------
def build(config: StackConfig) -> list[Resource]:
    data = config.data
    keys = [KmsKey("s3", "S3 buckets"),
            KmsKey("rds", "RDS storage and the master user secret", users=rds_backups_using),
            KmsKey("ebs", "EBS volumes (the region's default EBS key)", statements=ebs_statements,
                   users=images_using)]
    buckets = [Bucket(purpose, versioned=purpose == "deploy", tls_only=data.tls_only_bucket_policy,
                      abort_days=data.abort_multipart_days, noncurrent_days=data.noncurrent_version_days)
               for purpose in ("app", "deploy")]
    master = credentials_secret(MASTER_SECRET, "master", naming.DB_MASTER_USER,
                                "the RDS master user (for the db-admin function's invocations only)")
    app = credentials_secret(APP_SECRET, "app", naming.DB_APP_USER, "the app's database user")
    primary, replica = DbPrimary(config, master), DbReplica(config)
    subnets = private_subnets()

    def values(deps):
        return {
            "app-bucket": deps[APP_BUCKET]["name"],
            "deploy-bucket": deps[DEPLOY_BUCKET]["name"],
            "s3-key-arn": deps[S3_KEY]["arn"],
            "rds-key-arn": deps[RDS_KEY]["arn"],
            "ebs-key-arn": deps[EBS_KEY]["arn"],
            "db-endpoint": deps[PRIMARY]["endpoint"] or "(not yet known)",
            "db-replica-endpoint": deps[REPLICA]["endpoint"] or "(not yet known)",
            "db-port": str(deps[PRIMARY]["port"] or naming.DB_PORT),
            "db-name": naming.DB_NAME,
            "db-user": naming.DB_APP_USER,
            # where the passwords live (Secrets Manager secrets {"username", "password"}), not the passwords
            "db-app-secret-arn": deps[APP_SECRET]["arn"],
            "db-master-secret-arn": deps[MASTER_SECRET]["arn"],
            "db-admin-function": deps[DB_ADMIN_FUNCTION]["id"],
            "token-table": deps[TOKEN_TABLE]["name"],
        }

    outputs = Parameters("data", (S3_KEY, RDS_KEY, EBS_KEY, APP_BUCKET, DEPLOY_BUCKET, PRIMARY, REPLICA,
                                  MASTER_SECRET, APP_SECRET, DB_ADMIN_FUNCTION, APP_USER, TOKEN_TABLE), values)
    db_admin = [db_admin_role(subnets), LogGroup(DB_ADMIN_LOGS, db_admin_log_group, DB_ADMIN_LOG_RETENTION_DAYS),
                DbAdminFunction(subnets)]
    return [*keys, EbsDefaultEncryption(keys[2]), *buckets, DbParameterGroup(),
            DbSubnetGroup(subnets), master, app, primary, replica, *db_admin, DbAppUser(master, app),
            TokenTable(config), outputs]


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


LAYER = Layer("data", build, inventory)
