"""From a recorded AWS call to what IAM authorises: (action, resource ARN, condition context).

One entry per (service, operation) the offline flows make, after the Service Authorization
Reference ("Actions, resources, and condition keys for <service>"). An operation the table does
not know is refused (``UnknownOperation``), so a new call can never slip through unproven. The
requests and the calls AWS implies are built in ``world.py``, ``services.py`` and ``ec2.py``.
"""
from __future__ import annotations

from provisioning.permissions.ec2 import (
    ec2_create_image,
    ec2_create_tags,
    ec2_instances,
    ec2_one,
    ec2_run_instances,
    iam_profile,
    iam_role,
)
from provisioning.permissions.services import (
    autoscaling_group,
    codedeploy,
    codedeploy_create_deployment,
    dynamodb_batch,
    dynamodb_table,
    lambda_function,
    no_permission,
    no_resource,
    s3_bucket,
    s3_get,
    s3_object,
    s3_part,
    s3_put,
    secret_describe,
    secret_value,
    ses_send,
    sns_publish,
    sqs_by_name,
    sqs_queue,
    ssm_by_path,
    ssm_many,
    ssm_one,
    ssm_tags,
)
from provisioning.permissions.world import Request, UnknownOperation, World, kms_key_call

__all__ = ["OPERATIONS", "Request", "UnknownOperation", "World", "requests_for"]

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
