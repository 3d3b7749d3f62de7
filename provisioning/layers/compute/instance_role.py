"""The instance role's inline policies (``compute.role``), built from the data layer's outputs and from names."""
from __future__ import annotations

from deploy.cloudwatch import log_group_names
from provisioning import naming
from provisioning.policy import allow, document
from provisioning.recipe_names import DATA_OUTPUTS


def instance_policies(ctx, deps):
    data = deps.get(DATA_OUTPUTS)
    if not data:
        return None
    out, p, stack = data["values"], ctx.partition, ctx.stack
    needed = ("app-bucket", "deploy-bucket", "s3-key-arn", "rds-key-arn", "token-table")
    if any(not out.get(key) for key in needed):
        return None
    s3 = lambda bucket, suffix="": f"arn:{p}:s3:::{bucket}{suffix}"  # noqa: E731
    parameters = f"parameter/cloudsite/{stack}"
    logs = [ctx.arn("logs", f"log-group:{name}:*") for name in log_group_names(stack)]
    app = document(
        # by path: render_env reads every layer's outputs; one by name: the CloudWatch agent's config
        allow("ReadOwnParameters", ["ssm:GetParameter", "ssm:GetParametersByPath"],
              [ctx.arn("ssm", parameters), ctx.arn("ssm", f"{parameters}/*")]),
        # The app user's secret only, never the master's. Secrets Manager appends "-" and six random
        # characters to a secret's ARN: "-??????" matches exactly that (Secrets Manager User Guide,
        # "Permissions policy examples": "use ?????? to match the six random characters").
        allow("ReadDatabaseSecret", ["secretsmanager:GetSecretValue"],
              [ctx.arn("secretsmanager", f"secret:{naming.db_secret(stack, 'app')}-??????")]),
        # The database secrets are encrypted with the stack's RDS key: GetSecretValue decrypts as the
        # caller, so the caller needs kms:Decrypt on that key, through Secrets Manager only (Secrets
        # Manager User Guide, "Secret encryption and decryption": "kms:ViaService").
        allow("DatabaseSecretKeyThroughSecretsManager", ["kms:Decrypt"], [out["rds-key-arn"]],
              {"StringEquals": {"kms:ViaService": f"secretsmanager.{ctx.region}.amazonaws.com"}}),
        # the pipeline layer's generated DJANGO_SECRET_KEY (the deploy hook renders it into the env file)
        allow("ReadDjangoSecret", ["secretsmanager:GetSecretValue"],
              [ctx.arn("secretsmanager", f"secret:{naming.django_secret(stack)}-??????")]),
        # AbortMultipartUpload: s3transfer aborts a multipart upload that failed part-way
        allow("AppBucketObjects", ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
              [s3(out["app-bucket"], "/*")]),
        # the storage's exists() is a HeadObject: S3 answers a missing key with 404 only to a caller
        # who may ListBucket, with 403 to others (S3 API reference, HeadObject, "Permissions")
        allow("AppBucketList", ["s3:ListBucket"], [s3(out["app-bucket"])]),
        allow("DeployBundles", ["s3:GetObject", "s3:GetObjectVersion"], [s3(out["deploy-bucket"], "/*")]),
        allow("DeployBucketList", ["s3:ListBucket"], [s3(out["deploy-bucket"])]),
        allow("BucketKey", ["kms:Decrypt", "kms:GenerateDataKey"], [out["s3-key-arn"]]),
        # BatchGetItem: the token store reads a token and its address's newest-token pointer at once
        allow("TokenTable", ["dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
              [ctx.arn("dynamodb", f"table/{out['token-table']}")]),
        allow("PublishVerification", ["sns:Publish"], [ctx.arn("sns", naming.topic(stack))]),
        allow("TopicKeyThroughSns", ["kms:Decrypt", "kms:GenerateDataKey"], [ctx.arn("kms", "key/*")],
              {"ForAnyValue:StringEquals": {"kms:ResourceAliases": naming.kms_alias(stack, "sns")},
               "StringEquals": {"kms:ViaService": f"sns.{ctx.region}.amazonaws.com"}}),
        # kombu's SQS transport with the queue's URL given: no GetQueueUrl; ChangeMessageVisibility
        # when a worker hands back an unacknowledged message (warm shutdown, a rejected task)
        allow("CeleryQueue", ["sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage",
                              "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"],
              [ctx.arn("sqs", naming.queue(stack))]),
    )
    agents = document(
        allow("ShipLogs", ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"], logs),
        # PutMetricData and the agent's EC2 lookups cannot name a resource: the namespace condition scopes it
        allow("StackMetrics", ["cloudwatch:PutMetricData"], "*",
              {"StringEquals": {"cloudwatch:namespace": f"cloudsite/{stack}"}}),
        allow("AgentLookups", ["ec2:DescribeTags", "ec2:DescribeVolumes"], "*"),
        allow("SessionManagerRegister", ["ssm:UpdateInstanceInformation"], [ctx.arn("ec2", "instance/*")]),
        allow("SessionManagerChannels", ["ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel",
                                         "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel"], "*"),
        allow("CodeDeployAgent", ["codedeploy-commands-secure:GetDeploymentSpecification",
                                  "codedeploy-commands-secure:PollHostCommand",
                                  "codedeploy-commands-secure:PutHostCommandAcknowledgement",
                                  "codedeploy-commands-secure:PutHostCommandComplete"], "*"),
    )
    return {"app": app, "agents": agents}
