"""From a recorded AWS call to what IAM authorises: (action, resource ARN, condition context).

One entry per (service, operation) the offline flows make, after the Service Authorization
Reference ("Actions, resources, and condition keys for <service>"). An operation the table does
not know is refused (``UnknownOperation``), so a new call can never slip through unproven.

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
from email.utils import parseaddr

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


# --- per service ------------------------------------------------------------------------------
# Every client here talks HTTPS: the TLS-only bucket policy's aws:SecureTransport is true.
S3_CONTEXT = {"aws:SecureTransport": True}


def s3_object(world, call, action: str):
    p = call.params
    return [Request(action, f"arn:{world.partition}:s3:::{p['Bucket']}/{p['Key']}", dict(S3_CONTEXT))]


def s3_bucket(world, call, action: str):
    return [Request(action, f"arn:{world.partition}:s3:::{call.params['Bucket']}", dict(S3_CONTEXT))]


def s3_put_key(world, call) -> str | None:
    p = call.params
    if p.get("ServerSideEncryption") == "aws:kms" and p.get("SSEKMSKeyId"):
        return world.key_arn(p["SSEKMSKeyId"])
    return world.bucket_key(p["Bucket"])


def s3_put(world, call):
    by, key = f"s3 {call.operation}", s3_put_key(world, call)
    if call.operation == "CreateMultipartUpload":  # its parts are encrypted under the same key
        world.upload_keys[(call.params["Bucket"], call.params["Key"])] = key
    return s3_object(world, call, "s3:PutObject") + kms_implied(world, key, ["kms:GenerateDataKey"], "s3", by)


def s3_part(world, call):
    """A part, or the completion, of a multipart upload under SSE-KMS needs ``kms:Decrypt`` of the
    upload's data key (S3 User Guide, "Multipart upload and permissions"): the key its
    CreateMultipartUpload was given, else the bucket's."""
    p, by = call.params, f"s3 {call.operation}"
    key = world.upload_keys.get((p["Bucket"], p["Key"])) or world.bucket_key(p["Bucket"])
    return s3_object(world, call, "s3:PutObject") + kms_implied(world, key, ["kms:Decrypt"], "s3", by)


def s3_get(world, call):
    """A get or head: ``kms:Decrypt`` of an SSE-KMS object's key; of a missing object S3 answers 404
    only to a caller who may ``s3:ListBucket``, 403 to others (S3 API reference, HeadObject and
    GetObject, "Permissions")."""
    p, by = call.params, f"s3 {call.operation}"
    try:
        key = world.object_key(p["Bucket"], p["Key"])
    except world.client("s3").exceptions.ClientError:
        return s3_object(world, call, "s3:GetObject") + [
            Request("s3:ListBucket", f"arn:{world.partition}:s3:::{p['Bucket']}", dict(S3_CONTEXT),
                    implied_by=f"{by} of a missing key")]
    return s3_object(world, call, "s3:GetObject") + kms_implied(world, key, ["kms:Decrypt"], "s3", by)


def dynamodb_table(action: str):
    def mapping(world, call):
        return [Request(action, world.arn("dynamodb", f"table/{call.params['TableName']}"))]
    return mapping


def dynamodb_batch(action: str):
    def mapping(world, call):
        return [Request(action, world.arn("dynamodb", f"table/{table}"))
                for table in sorted(call.params["RequestItems"])]
    return mapping


def sns_publish(world, call):
    topic = call.params["TopicArn"]
    return [Request("sns:Publish", topic)] + kms_implied(world, world.topic_key(topic),
                                                         ["kms:GenerateDataKey", "kms:Decrypt"], "sns", "sns Publish")


def ssm_parameter_arn(world, name: str) -> str:
    if name.startswith("arn:"):
        return name
    name = name.rstrip("/") if len(name) > 1 else name
    if name.startswith("/aws/service/"):  # AWS's public parameters: no account in their ARN
        return world.arn("ssm", f"parameter{name}", account="")
    return world.arn("ssm", f"parameter/{name.lstrip('/')}")


def ssm_one(action: str, key: str = "Name"):
    def mapping(world, call):
        return [Request(action, ssm_parameter_arn(world, call.params[key]))]
    return mapping


def ssm_many(action: str):
    def mapping(world, call):
        return [Request(action, ssm_parameter_arn(world, name)) for name in call.params["Names"]]
    return mapping


def ssm_by_path(world, call):
    return [Request("ssm:GetParametersByPath", ssm_parameter_arn(world, call.params["Path"]))]


def ssm_tags(action: str):
    def mapping(world, call):
        return [Request(action, ssm_parameter_arn(world, call.params["ResourceId"]))]
    return mapping


def secret_value(world, call):
    secret = world.secret(call.params["SecretId"])
    key = secret.get("KmsKeyId")
    requests = [Request("secretsmanager:GetSecretValue", secret["ARN"])]
    if key:  # no KmsKeyId: the account's aws/secretsmanager key, which any principal of it may use
        requests += kms_implied(world, world.key_arn(key), ["kms:Decrypt"], "secretsmanager",
                                "secretsmanager GetSecretValue")
    return requests


def secret_describe(world, call):
    return [Request("secretsmanager:DescribeSecret", world.secret(call.params["SecretId"])["ARN"])]


def ses_send(world, call):
    """SES v2 SendEmail: authorised on the sending identity (the From address's domain, or the
    address itself when that is the verified identity) and, while the account is in the sandbox,
    on each recipient's identity too (SES Developer Guide, "Identity and access management in
    Amazon SES": the sandbox's restrictions prevent some policies)."""
    p = call.params
    sender = parseaddr(p["FromEmailAddress"])[1]
    recipients = [parseaddr(a)[1] for kind in ("ToAddresses", "CcAddresses", "BccAddresses")
                  for a in p.get("Destination", {}).get(kind, [])]
    identities = [sender.split("@", 1)[1]]
    if world.sandbox:
        identities += recipients
    context = {"ses:FromAddress": sender, "ses:Recipients": recipients,
               "ses:FromDisplayName": parseaddr(p["FromEmailAddress"])[0] or ABSENT}
    return [Request("ses:SendEmail", world.arn("ses", f"identity/{i}"), context) for i in dict.fromkeys(identities)]


def no_resource(action: str):
    """Actions the Service Authorization Reference lists without a resource type: Resource "*"."""
    def mapping(world, call):
        return [Request(action, "*")]
    return mapping


def no_permission(world, call):
    return []  # sts:GetCallerIdentity: "No permissions are required to perform this operation"


def lambda_function(action: str):
    def mapping(world, call):
        name = call.params["FunctionName"]
        arn = name if name.startswith("arn:") else world.arn("lambda", f"function:{name}")
        return [Request(action, arn)]
    return mapping


def codedeploy(action: str, kind: str):
    def mapping(world, call):
        p = call.params
        if kind == "application":
            resource = f"application:{p['applicationName']}"
        elif kind == "group":
            resource = f"deploymentgroup:{p['applicationName']}/{p['deploymentGroupName']}"
        elif kind == "deployment":  # a deployment is authorised on its group
            info = world.client("codedeploy").get_deployment(deploymentId=p["deploymentId"])["deploymentInfo"]
            resource = f"deploymentgroup:{info['applicationName']}/{info['deploymentGroupName']}"
        else:
            resource = f"deploymentconfig:{p['deploymentConfigName']}"
        return [Request(action, world.arn("codedeploy", resource))]
    return mapping


def codedeploy_create_deployment(world, call):
    """CreateDeployment registers the revision and reads the rollout's config as the caller: the
    CodeDeploy User Guide's policy for a user who deploys grants RegisterApplicationRevision on the
    application and GetDeploymentConfig on the configs with CreateDeployment ("Identity-based policy
    examples": "Allow a user to deploy")."""
    p = call.params
    config = p.get("deploymentConfigName") or world.client("codedeploy").get_deployment_group(
        applicationName=p["applicationName"], deploymentGroupName=p["deploymentGroupName"]
    )["deploymentGroupInfo"]["deploymentConfigName"]
    by = "codedeploy CreateDeployment"
    return (codedeploy("codedeploy:CreateDeployment", "group")(world, call)
            + [Request("codedeploy:RegisterApplicationRevision",
                       world.arn("codedeploy", f"application:{p['applicationName']}"), implied_by=by),
               Request("codedeploy:GetDeploymentConfig", world.arn("codedeploy", f"deploymentconfig:{config}"),
                       implied_by=by)])


# SQS with a customer managed key: a producer needs kms:GenerateDataKey and kms:Decrypt, a
# consumer kms:Decrypt (SQS Developer Guide, "Key management"); SQS-managed SSE implies nothing.
SQS_KMS = {"sqs:SendMessage": ["kms:GenerateDataKey", "kms:Decrypt"], "sqs:ReceiveMessage": ["kms:Decrypt"]}


def sqs_queue(action: str):
    def mapping(world, call):
        url = call.params["QueueUrl"]
        attributes = world.client("sqs").get_queue_attributes(
            QueueUrl=url, AttributeNames=["QueueArn", "KmsMasterKeyId"])["Attributes"]
        requests = [Request(action, attributes["QueueArn"])]
        key = attributes.get("KmsMasterKeyId")
        if key and action in SQS_KMS and key != "alias/aws/sqs":
            requests += kms_implied(world, world.key_arn(key), SQS_KMS[action], "sqs", f"sqs {call.operation}")
        return requests
    return mapping


def autoscaling_group(action: str):
    def mapping(world, call):
        name = call.params["AutoScalingGroupName"]
        groups = world.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[name])
        arn = groups["AutoScalingGroups"][0]["AutoScalingGroupARN"] if groups["AutoScalingGroups"] else \
            world.arn("autoscaling", f"autoScalingGroup:*:autoScalingGroupName/{name}")
        return [Request(action, arn)]
    return mapping


def sqs_by_name(world, call):
    return [Request("sqs:GetQueueUrl", world.arn("sqs", call.params["QueueName"]))]


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


OPERATIONS = {
    ("s3", "PutObject"): s3_put,
    ("s3", "CreateMultipartUpload"): s3_put,
    ("s3", "UploadPart"): s3_part,
    ("s3", "CompleteMultipartUpload"): s3_part,
    ("s3", "AbortMultipartUpload"): lambda w, c: s3_object(w, c, "s3:AbortMultipartUpload"),
    ("s3", "ListParts"): lambda w, c: s3_object(w, c, "s3:ListMultipartUploadParts"),
    ("s3", "GetObject"): s3_get,
    ("s3", "HeadObject"): s3_get,
    ("s3", "DeleteObject"): lambda w, c: s3_object(w, c, "s3:DeleteObject"),
    ("s3", "ListObjectsV2"): lambda w, c: s3_bucket(w, c, "s3:ListBucket"),
    ("s3", "ListObjects"): lambda w, c: s3_bucket(w, c, "s3:ListBucket"),
    ("s3", "HeadBucket"): lambda w, c: s3_bucket(w, c, "s3:ListBucket"),
    ("dynamodb", "PutItem"): dynamodb_table("dynamodb:PutItem"),
    ("dynamodb", "GetItem"): dynamodb_table("dynamodb:GetItem"),
    ("dynamodb", "UpdateItem"): dynamodb_table("dynamodb:UpdateItem"),
    ("dynamodb", "DeleteItem"): dynamodb_table("dynamodb:DeleteItem"),
    ("dynamodb", "Query"): dynamodb_table("dynamodb:Query"),
    ("dynamodb", "BatchGetItem"): dynamodb_batch("dynamodb:BatchGetItem"),
    ("dynamodb", "BatchWriteItem"): dynamodb_batch("dynamodb:BatchWriteItem"),
    ("sns", "Publish"): sns_publish,
    ("ssm", "GetParameter"): ssm_one("ssm:GetParameter"),
    ("ssm", "GetParameters"): ssm_many("ssm:GetParameters"),
    ("ssm", "GetParametersByPath"): ssm_by_path,
    ("ssm", "PutParameter"): ssm_one("ssm:PutParameter"),
    ("ssm", "DeleteParameter"): ssm_one("ssm:DeleteParameter"),
    ("ssm", "DeleteParameters"): ssm_many("ssm:DeleteParameters"),
    ("ssm", "AddTagsToResource"): ssm_tags("ssm:AddTagsToResource"),
    ("ssm", "ListTagsForResource"): ssm_tags("ssm:ListTagsForResource"),
    ("ssm", "DescribeParameters"): no_resource("ssm:DescribeParameters"),
    ("secretsmanager", "GetSecretValue"): secret_value,
    ("secretsmanager", "DescribeSecret"): secret_describe,
    ("sesv2", "SendEmail"): ses_send,
    ("sts", "GetCallerIdentity"): no_permission,
    ("lambda", "GetFunctionConfiguration"): lambda_function("lambda:GetFunctionConfiguration"),
    ("lambda", "GetFunction"): lambda_function("lambda:GetFunction"),
    ("lambda", "UpdateFunctionCode"): lambda_function("lambda:UpdateFunctionCode"),
    ("codedeploy", "CreateDeployment"): codedeploy_create_deployment,
    ("codedeploy", "GetDeployment"): codedeploy("codedeploy:GetDeployment", "deployment"),
    ("codedeploy", "GetDeploymentGroup"): codedeploy("codedeploy:GetDeploymentGroup", "group"),
    ("codedeploy", "ListDeploymentInstances"): codedeploy("codedeploy:ListDeploymentInstances", "deployment"),
    ("codedeploy", "GetDeploymentTarget"): codedeploy("codedeploy:GetDeploymentTarget", "deployment"),
    ("codedeploy", "GetApplication"): codedeploy("codedeploy:GetApplication", "application"),
    ("codedeploy", "RegisterApplicationRevision"): codedeploy("codedeploy:RegisterApplicationRevision", "application"),
    ("codedeploy", "GetDeploymentConfig"): codedeploy("codedeploy:GetDeploymentConfig", "config"),
    ("sqs", "SendMessage"): sqs_queue("sqs:SendMessage"),
    ("sqs", "ReceiveMessage"): sqs_queue("sqs:ReceiveMessage"),
    ("sqs", "DeleteMessage"): sqs_queue("sqs:DeleteMessage"),
    ("sqs", "ChangeMessageVisibility"): sqs_queue("sqs:ChangeMessageVisibility"),
    ("sqs", "GetQueueAttributes"): sqs_queue("sqs:GetQueueAttributes"),
    ("sqs", "GetQueueUrl"): sqs_by_name,
    # EC2's Describe* take no resource ("Actions, resources, and condition keys for Amazon EC2")
    **{("ec2", op): no_resource(f"ec2:{op}") for op in (
        "DescribeVpcs", "DescribeSubnets", "DescribeSecurityGroups", "DescribeImages", "DescribeInstances",
        "DescribeInstanceStatus", "DescribeSnapshots", "DescribeTags")},
    # the account-and-region EBS default encryption settings: no resource ("Actions, resources, and
    # condition keys for Amazon EC2": GetEbsEncryptionByDefault, GetEbsDefaultKmsKeyId take "*")
    **{("ec2", op): no_resource(f"ec2:{op}") for op in ("GetEbsEncryptionByDefault", "GetEbsDefaultKmsKeyId")},
    ("kms", "DescribeKey"): kms_key_call("kms:DescribeKey"),
    ("kms", "ListResourceTags"): kms_key_call("kms:ListResourceTags"),
    ("ec2", "RunInstances"): ec2_run_instances,
    ("ec2", "StopInstances"): ec2_instances("ec2:StopInstances"),
    ("ec2", "TerminateInstances"): ec2_instances("ec2:TerminateInstances"),
    ("ec2", "CreateImage"): ec2_create_image,
    ("ec2", "CreateTags"): ec2_create_tags,
    ("ec2", "DeregisterImage"): ec2_one("image", "ImageId", "ec2:DeregisterImage"),
    ("ec2", "DeleteSnapshot"): ec2_one("snapshot", "SnapshotId", "ec2:DeleteSnapshot"),
    **{("iam", op): iam_role(f"iam:{op}") for op in (
        "GetRole", "ListRoleTags", "ListRolePolicies", "GetRolePolicy", "ListAttachedRolePolicies",
        "ListInstanceProfilesForRole")},
    ("iam", "GetInstanceProfile"): iam_profile("iam:GetInstanceProfile"),
    # deploy's switch of the group's health check to ELB (issue #13, defect 13)
    ("autoscaling", "DescribeAutoScalingGroups"): no_resource("autoscaling:DescribeAutoScalingGroups"),
    ("autoscaling", "UpdateAutoScalingGroup"): autoscaling_group("autoscaling:UpdateAutoScalingGroup"),
}


def requests_for(world: World, call) -> list[Request]:
    mapping = OPERATIONS.get((call.service, call.operation))
    if mapping is None:
        raise UnknownOperation(f"{call.service} {call.operation} is not in the permission table "
                               "(provisioning/permissions/requests.py): add what IAM authorises for it")
    return mapping(world, call)
