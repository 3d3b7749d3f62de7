"""What IAM authorises for each call of the app's and the pipeline's services (S3, DynamoDB, SNS, SSM,
Secrets Manager, SES, Lambda, CodeDeploy, SQS, Auto Scaling), with the KMS calls they imply."""
from __future__ import annotations

from email.utils import parseaddr

from provisioning.permissions.evaluator import ABSENT
from provisioning.permissions.world import Request, kms_implied

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
