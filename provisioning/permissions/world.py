"""What a request to IAM is (action, resource ARN, condition context), the world it is evaluated in,
and the KMS requests AWS makes on the caller's behalf.

Implied calls are the ones AWS makes *as the caller* (KMS Developer Guide, "How AWS services use
AWS KMS"): an SSE-KMS object put asks ``kms:GenerateDataKey`` of the object's key, a get
``kms:Decrypt`` (Amazon S3 User Guide, "Using server-side encryption with AWS KMS keys");
``GetSecretValue`` of a secret under a customer key ``kms:Decrypt`` (Secrets Manager User Guide,
"Secret encryption and decryption"); ``Publish`` to an encrypted topic ``kms:GenerateDataKey`` and
``kms:Decrypt`` (SNS Developer Guide, "Encryption at rest": publishers need both). An SQS queue
with SQS-managed SSE implies nothing. Each implied request carries the key, whose key policy is
evaluated too, and the context AWS gives it (``kms:ViaService``, ``kms:CallerAccount``,
``kms:ResourceAliases``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from provisioning.permissions.evaluator import ABSENT


class UnknownOperation(Exception):
    pass


@dataclass(frozen=True)
class Request:
    action: str
    resource: str
    context: dict = field(default_factory=dict, hash=False, compare=False)
    key: str | None = None   # a KMS key ARN: its key policy is evaluated too
    implied_by: str = ""     # "s3 PutObject" for a call AWS makes as the caller

    def describe(self) -> str:
        return f"{self.action} on {self.resource}" + (f" (implied by {self.implied_by})" if self.implied_by else "")


class World:
    """Reads the state a mapping needs (a bucket's key, a secret's key, a key's aliases, a
    resource's tags) with the harness's own clients, never recorded."""

    def __init__(self, session, account: str, region: str, partition: str = "aws", sandbox: bool = True):
        self.session, self.account, self.region, self.partition = session, account, region, partition
        self.sandbox = sandbox  # SES: a new account is in the sandbox until AWS grants production access
        self._clients = {}
        self.upload_keys: dict[tuple[str, str], str | None] = {}  # (bucket, key) -> its multipart upload's KMS key

    def client(self, service: str, region: str | None = None):
        key = (service, region or self.region)
        if key not in self._clients:
            self._clients[key] = self.session.client(service, region_name=key[1])
        return self._clients[key]

    def arn(self, service: str, resource: str, *, region: str | None = None, account: str | None = None) -> str:
        return (f"arn:{self.partition}:{service}:{self.region if region is None else region}:"
                f"{self.account if account is None else account}:{resource}")

    # --- KMS ---------------------------------------------------------------------------------
    def key_arn(self, key_id: str) -> str:
        return self.client("kms").describe_key(KeyId=key_id)["KeyMetadata"]["Arn"]

    def key_aliases(self, key_arn: str) -> list[str]:
        aliases = self.client("kms").list_aliases(KeyId=key_arn.rsplit("/", 1)[-1])["Aliases"]
        return sorted(a["AliasName"] for a in aliases)

    def key_policy(self, key_arn: str) -> dict:
        import json

        policy = self.client("kms").get_key_policy(KeyId=key_arn, PolicyName="default")["Policy"]
        return json.loads(policy) if isinstance(policy, str) else policy

    def bucket_key(self, bucket: str) -> str | None:
        s3 = self.client("s3")
        try:
            rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
        except s3.exceptions.ClientError as error:  # AWS answers SSE-S3 for every bucket; moto may have none
            if error.response["Error"]["Code"] == "ServerSideEncryptionConfigurationNotFoundError":
                return None
            raise
        default = rules[0]["ApplyServerSideEncryptionByDefault"]
        if default.get("SSEAlgorithm") != "aws:kms":
            return None
        return self.key_arn(default.get("KMSMasterKeyID") or "alias/aws/s3")

    def object_key(self, bucket: str, key: str) -> str | None:
        head = self.client("s3").head_object(Bucket=bucket, Key=key)
        if head.get("ServerSideEncryption") != "aws:kms":
            return None
        return self.key_arn(head["SSEKMSKeyId"])

    def bucket_policy(self, bucket: str) -> dict | None:
        import json

        s3 = self.client("s3")
        try:
            return json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
        except s3.exceptions.ClientError as error:
            if error.response["Error"]["Code"] == "NoSuchBucketPolicy":
                return None
            raise

    def secret(self, secret_id: str) -> dict:
        return self.client("secretsmanager").describe_secret(SecretId=secret_id)

    def topic_key(self, topic_arn: str) -> str | None:
        key = self.client("sns").get_topic_attributes(TopicArn=topic_arn)["Attributes"].get("KmsMasterKeyId")
        return self.key_arn(key) if key else None

    def ec2_tags(self, resource_id: str) -> dict[str, str]:
        tags = self.client("ec2").describe_tags(Filters=[{"Name": "resource-id", "Values": [resource_id]}])["Tags"]
        return {t["Key"]: t["Value"] for t in tags}

    def instance_profile_role(self, profile: dict) -> str:
        name = profile.get("Name") or profile["Arn"].rsplit("/", 1)[-1]
        roles = self.client("iam").get_instance_profile(InstanceProfileName=name)["InstanceProfile"]["Roles"]
        return roles[0]["Arn"]


def kms_implied(world: World, key_arn: str | None, actions: list[str], via: str, by: str) -> list[Request]:
    if key_arn is None or key_arn.split(":")[4] != world.account:
        return []  # no key, or an AWS managed key in another account (aws/s3 is the account's own)
    context = {"kms:ViaService": f"{via}.{world.region}.amazonaws.com", "kms:CallerAccount": world.account,
               "kms:ResourceAliases": world.key_aliases(key_arn)}
    return [Request(action, key_arn, context, key=key_arn, implied_by=by) for action in actions]


def kms_key_call(action: str):
    """A call on a key itself (``DescribeKey`` by alias or ARN, ``ListResourceTags``): authorised on
    the key it resolves to, by the caller's policies and the key policy (no ``kms:ViaService``)."""
    def mapping(world, call):
        key_arn = world.key_arn(call.params["KeyId"])
        context = {"kms:CallerAccount": world.account, "kms:ResourceAliases": world.key_aliases(key_arn),
                   "kms:ViaService": ABSENT, "kms:GrantIsForAWSResource": ABSENT}  # the caller's own call
        return [Request(action, key_arn, context, key=key_arn)]
    return mapping
