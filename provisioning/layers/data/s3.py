"""The app and deploy S3 buckets, and emptying one (every version and delete marker)."""
from __future__ import annotations

import json

from botocore.exceptions import ClientError

from provisioning import naming
from provisioning.errors import StackError, absent_on, error_code, tolerate
from provisioning.policy import document
from provisioning.recipe_names import S3_KEY, bucket
from provisioning.resource import Drift, Resource, planned
from provisioning.retry import delete_once_free, waiter_config


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
        return document({"Sid": self.TLS_SID, "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                         "Resource": [arn, f"{arn}/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}})

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
            return absent_on(lambda: pick(call(Bucket=name)), *missing)

        def encryption(answer):
            rule = answer["ServerSideEncryptionConfiguration"]["Rules"][0]
            default = rule.get("ApplyServerSideEncryptionByDefault", {})
            return self.show_encryption(default.get("SSEAlgorithm"), default.get("KMSMasterKeyID"),
                                        bool(rule.get("BucketKeyEnabled")))

        def block(answer):
            c = answer["PublicAccessBlockConfiguration"]
            return self.show_block({k: c.get(k, False) for k in self.BLOCKS})

        have = {
            "encryption": read(s3.get_bucket_encryption, ("ServerSideEncryptionConfigurationNotFoundError",),
                               encryption),
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
        return absent_on(lambda: {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=name)["TagSet"]},
                         "NoSuchTagSet") or {}

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
