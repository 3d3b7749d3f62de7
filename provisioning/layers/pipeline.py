"""The pipeline layer: verification mail (SNS -> Lambda -> SES), Celery's SQS broker, CodeDeploy, CI.

* SNS topic encrypted with the stack's ``sns`` KMS key; the Lambda from ``deploy/lambda/`` (zip built
  reproducibly, uploaded to the deploy bucket under its hash, code updated only when the hash
  changes) with its own least-privilege role and log group; SNS's permission to invoke it and the
  subscription.
* SES domain identity (Easy DKIM), a MAIL FROM subdomain, and the DKIM CNAMEs plus the MAIL FROM MX
  and SPF TXT records in the domain's public hosted zone.
* The SQS queue Celery uses as its broker, with a dead-letter queue.
* CodeDeploy: application, service role, deployment group (the auto scaling group, the target
  group for traffic control, in place, the configured rollout, automatic rollback on failure).
* The CI role, assumed by GitHub Actions through OIDC from the repository's main branch: put
  bundles under the deploy bucket's ``bundles/`` prefix, create and watch deployments of this
  application, update this Lambda's code, switch its auto scaling group's health check. Nothing else.
* The image role, assumed by the image workflow (GitHub environment ``image``): what
  ``provision_image`` calls to bake, reading (never changing) the builder's role and profile.
* The Lambda's on-failure destination: a queue of its own (SSE-SQS) that SNS's asynchronous
  invocations go to once Lambda's retries are spent, so a send SES refused is not lost.
* The Django secret key (Secrets Manager, generated, never printed).
* Outputs under ``/cloudsite/<stack>/pipeline/``.

Names come from ``provisioning.naming``, so every recipe finds its resource without the state of
another layer's; the data and compute recipes are dependencies for the order (the deploy bucket
must exist before the Lambda's zip goes there, the auto scaling group before the deployment group).
"""
from __future__ import annotations

import json
import secrets

from botocore.exceptions import ClientError

from provisioning import naming
from provisioning.config import StackConfig
from provisioning.errors import (UNIMPLEMENTED, StackError, emulator_lacks, error_code,
                                 report_not_deleted, tolerate)
from provisioning.layer import Layer
from provisioning.outputs import Parameters, parameter_path
from provisioning.policy import document, trust
from provisioning.recipe_names import (APPLICATION, AUTO_SCALING_GROUP, CI_ROLE, CODEDEPLOY_ROLE, DEAD_LETTER,
                                       DEPLOY_BUCKET, DJANGO_SECRET, FAILURE_DESTINATION, FAILURE_QUEUE, GROUP,
                                       HOSTED_ZONE, IMAGE_ROLE, LAMBDA, LAMBDA_LOGS, LAMBDA_ROLE, MAIL_DNS, OIDC,
                                       PERMISSION, QUEUE, SES_IDENTITY, SNS_KEY, SUBSCRIPTION, TARGET_GROUP,
                                       TOKEN_TABLE, TOPIC)
from provisioning.recipes.kms_key import KmsKey
from provisioning.recipes.lambda_function import LambdaFunction, zip_code
from provisioning.recipes.log_group import LogGroup
from provisioning.recipes.role import Role
from provisioning.recipes.secret import GeneratedSecret
from provisioning.resource import Drift, Resource, planned
from provisioning.retry import retry_role_propagation
from provisioning.route53 import all_record_sets, change_records, find_public_zone, record_change

LAMBDA_RUNTIME = "python3.12"
LAMBDA_TIMEOUT = 30
LAMBDA_MEMORY = 128
LOG_RETENTION_DAYS = 30
TOKEN_TTL_SECONDS = "300"
GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
# The GitHub environments whose jobs may assume the CI role (deploy.yml, lambda.yml) and the image
# role (image.yml); each environment's deployment branch rule allows main only.
GITHUB_DEPLOY_ENVIRONMENT = "production"
GITHUB_IMAGE_ENVIRONMENT = "image"
# GitHub's OIDC certificate thumbprints (AWS now trusts GitHub through its own CA store, but the API
# still takes a list).
GITHUB_THUMBPRINTS = ["6938fd4d98bab03faadb97b34396831e3780aea1", "1c58a3a8518e8759bf075b76b750d4f2df264fcd"]
MAX_RECEIVE_COUNT = 5
# SNS invokes the Lambda asynchronously: Lambda retries a failed invocation (at most 2 times) and
# then hands the event to the on-failure destination; an event older than this goes there unretried.
LAMBDA_RETRIES = 2
LAMBDA_MAX_EVENT_AGE = 3600


def bucket_name(ctx, purpose: str = "deploy") -> str:
    return naming.bucket(ctx.stack, purpose, ctx.account_id, ctx.region)


def role_arn(ctx, purpose: str) -> str:
    return ctx.arn("iam", f"role/{naming.role(ctx.stack, purpose)}", region=False)


def topic_arn(ctx) -> str:
    return ctx.arn("sns", naming.topic(ctx.stack))


def function_arn(ctx) -> str:
    return ctx.arn("lambda", f"function:{naming.lambda_function(ctx.stack)}")


def queue_arn(ctx, dead_letter: bool = False) -> str:
    return ctx.arn("sqs", naming.queue(ctx.stack, dead_letter))


def failure_queue_arn(ctx) -> str:
    return ctx.arn("sqs", naming.lambda_failure_queue(ctx.stack))


# --- KMS key for the topic -------------------------------------------------------------------
def sns_key_statements(ctx) -> list[dict]:
    """SNS encrypts and decrypts the messages of this account's topics for delivery."""
    return [{"Sid": "SnsForThisAccount", "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
             "Action": ["kms:GenerateDataKey*", "kms:Decrypt"], "Resource": "*",
             "Condition": {"StringEquals": {"aws:SourceAccount": ctx.account_id}}}]


# --- SNS topic -------------------------------------------------------------------------------
class Topic(Resource):
    name, service, kind = TOPIC, "sns", "SNS topic"
    depends_on = (SNS_KEY,)

    def find_all(self, ctx, deps):
        try:
            attributes = ctx.client("sns").get_topic_attributes(TopicArn=topic_arn(ctx))["Attributes"]
        except ClientError as error:
            if error_code(error) in ("NotFound", "NotFoundException"):
                return []
            raise
        return [{"id": attributes["TopicArn"], "arn": attributes["TopicArn"],
                 "kms": attributes.get("KmsMasterKeyId") or None}]

    def _key(self, deps) -> str:
        key = deps.get(SNS_KEY)
        return key["arn"] if key else planned(SNS_KEY)

    def create(self, ctx, deps):
        arn = ctx.client("sns").create_topic(
            Name=naming.topic(ctx.stack), Attributes={"KmsMasterKeyId": self._key(deps)},
            Tags=ctx.tags(self.name))["TopicArn"]
        return {"id": arn, "arn": arn, "kms": self._key(deps)}

    def drift(self, ctx, state, deps):
        want = self._key(deps)
        return [] if state["kms"] == want else [Drift("KmsMasterKeyId", state["kms"], want)]

    def reconcile(self, ctx, state, drift, deps):
        ctx.client("sns").set_topic_attributes(TopicArn=state["arn"], AttributeName="KmsMasterKeyId",
                                               AttributeValue=self._key(deps))
        return {**state, "kms": self._key(deps)}

    def delete(self, ctx, state):
        with tolerate("NotFound", "NotFoundException"):
            ctx.client("sns").delete_topic(TopicArn=state["arn"])

    def outputs(self, state):
        return {"topic-arn": state["arn"]}


# --- IAM roles -------------------------------------------------------------------------------
# Inline policies only (every action and ARN named here); each role gives its trust and policies.
def github_trust(ctx, environment: str) -> dict:
    """Trusted by GitHub Actions jobs of the stack's repository that run in the GitHub
    ``environment``. A job that declares ``environment:`` gets the OIDC subject
    ``repo:<owner>/<repo>:environment:<name>`` (GitHub's OIDC reference, "Filtering for a specific
    environment"): the branch is then not in ``sub``, so "main only" is the environment's
    deployment branch rule (README, CI). One environment per role: a job can assume only its own."""
    repository = ctx.config.pipeline.github_repository
    provider = ctx.arn("iam", f"oidc-provider/{GITHUB_OIDC_HOST}", region=False)
    return document(*[{
        "Effect": "Allow", "Principal": {"Federated": provider},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {f"{GITHUB_OIDC_HOST}:aud": "sts.amazonaws.com",
                                       f"{GITHUB_OIDC_HOST}:sub": f"repo:{repository}:environment:{environment}"}},
    }])


def service_trust(service: str, ctx) -> dict:
    return trust(service, ctx.account_id)


class LambdaRole(Role):
    def __init__(self):
        super().__init__(LAMBDA_ROLE, "lambda", "cloudsite verification mail Lambda: SES, its table, its logs",
                         trust=self.trust_policy, policies=self.inline_policies)

    def trust_policy(self, ctx):
        return service_trust("lambda.amazonaws.com", ctx)

    def inline_policies(self, ctx, deps):
        domain = ctx.config.domain
        log_group = ctx.arn("logs", f"log-group:/aws/lambda/{naming.lambda_function(ctx.stack)}")
        return {"verification-mail": document(*[
            # SES authorises a send on the sender's identity and, while the account is in the SES
            # sandbox, on every recipient's identity too (SES Developer Guide, "Identity and access
            # management in Amazon SES": the sandbox's restrictions prevent some policies; "Request
            # production access"): the recipients' identities in this account, the From address fixed.
            {"Sid": "SendFromTheStackIdentity", "Effect": "Allow",
             "Action": ["ses:SendEmail"],
             "Resource": [ctx.arn("ses", f"identity/{domain}"), ctx.arn("ses", "identity/*")],
             "Condition": {"StringEquals": {"ses:FromAddress": ctx.config.sender}}},
            {"Sid": "ClaimTokensInItsTable", "Effect": "Allow", "Action": ["dynamodb:UpdateItem"],
             "Resource": [ctx.arn("dynamodb", f"table/{naming.token_table(ctx.stack)}")]},
            {"Sid": "WriteItsLogs", "Effect": "Allow",
             "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
             "Resource": [f"{log_group}:*"]},
            # Lambda sends a failed asynchronous event to the on-failure destination as the
            # function's execution role (Lambda Developer Guide, "Adding a destination": an SQS
            # destination needs sqs:SendMessage); the queue uses SQS-managed SSE, so no KMS.
            {"Sid": "ItsFailureDestination", "Effect": "Allow", "Action": ["sqs:SendMessage"],
             "Resource": [failure_queue_arn(ctx)]},
        ])}


class CodeDeployRole(Role):
    """CodeDeploy's service role for in-place deployments to an auto scaling group behind a target
    group: the actions of AWSCodeDeployRole that this uses, writes limited to this stack's group."""

    def __init__(self):
        super().__init__(CODEDEPLOY_ROLE, "codedeploy", "cloudsite CodeDeploy service role",
                         trust=self.trust_policy, policies=self.inline_policies)

    def trust_policy(self, ctx):
        return service_trust("codedeploy.amazonaws.com", ctx)

    def inline_policies(self, ctx, deps):
        asg = ctx.arn("autoscaling", "autoScalingGroup:*:autoScalingGroupName/"
                      + naming.auto_scaling_group(ctx.stack))
        target_group = ctx.arn("elasticloadbalancing", f"targetgroup/{naming.target_group(ctx.stack)}/*")
        return {"in-place-deployments": document(*[
            {"Sid": "ReadWhatItDeploysTo", "Effect": "Allow", "Resource": "*",
             "Action": ["autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeLifecycleHooks",
                        "autoscaling:DescribeScalingActivities", "ec2:DescribeInstances",
                        "ec2:DescribeInstanceStatus", "elasticloadbalancing:DescribeTargetGroups",
                        "elasticloadbalancing:DescribeTargetHealth", "tag:GetResources"]},
            {"Sid": "ItsAutoScalingGroup", "Effect": "Allow", "Resource": [asg],
             "Action": ["autoscaling:CompleteLifecycleAction", "autoscaling:DeleteLifecycleHook",
                        "autoscaling:PutLifecycleHook", "autoscaling:RecordLifecycleActionHeartbeat",
                        "autoscaling:CreateOrUpdateTags", "autoscaling:UpdateAutoScalingGroup",
                        "autoscaling:EnterStandby", "autoscaling:ExitStandby",
                        "autoscaling:SuspendProcesses", "autoscaling:ResumeProcesses"]},
            {"Sid": "ItsTargetGroup", "Effect": "Allow", "Resource": [target_group],
             "Action": ["elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets"]},
        ])}


class CiRole(Role):
    """Assumed by GitHub Actions (OIDC) on the repository's main branch; only what deploying needs."""

    def __init__(self):
        super().__init__(CI_ROLE, "ci", "cloudsite CI: upload bundles, deploy, update the Lambda's code",
                         trust=self.trust_policy, policies=self.inline_policies, depends_on=(OIDC,))

    def trust_policy(self, ctx):
        return github_trust(ctx, GITHUB_DEPLOY_ENVIRONMENT)

    def inline_policies(self, ctx, deps):
        application = naming.codedeploy_application(ctx.stack)
        group = naming.codedeploy_group(ctx.stack)
        deploy_bucket = bucket_name(ctx)
        return {"deploy": document(*[
            {"Sid": "UploadBundles", "Effect": "Allow", "Action": ["s3:PutObject"],
             "Resource": [f"arn:{ctx.partition}:s3:::{deploy_bucket}/{naming.BUNDLE_PREFIX}*"]},
            {"Sid": "EncryptBundlesWithTheBucketKey", "Effect": "Allow", "Action": ["kms:GenerateDataKey"],
             "Resource": [ctx.arn("kms", "key/*")],
             "Condition": {"StringEquals": {"kms:ViaService": f"s3.{ctx.region}.amazonaws.com"},
                           "ForAnyValue:StringEquals": {"kms:ResourceAliases": naming.kms_alias(ctx.stack, "s3")}}},
            # CreateDeployment registers the revision and reads the rollout config as the caller
            # (CodeDeploy User Guide, identity-based policy examples: "Allow a user to deploy")
            {"Sid": "DeployThisApplication", "Effect": "Allow",
             "Action": ["codedeploy:RegisterApplicationRevision"],
             "Resource": [ctx.arn("codedeploy", f"application:{application}")]},
            # ListDeploymentInstances and GetDeploymentTarget: deploy's report of a failed deployment
            {"Sid": "CreateAndWatchDeployments", "Effect": "Allow",
             "Action": ["codedeploy:CreateDeployment", "codedeploy:GetDeployment",
                        "codedeploy:ListDeploymentInstances", "codedeploy:GetDeploymentTarget"],
             "Resource": [ctx.arn("codedeploy", f"deploymentgroup:{application}/{group}")]},
            {"Sid": "ItsRolloutConfigs", "Effect": "Allow", "Action": ["codedeploy:GetDeploymentConfig"],
             "Resource": [ctx.arn("codedeploy", f"deploymentconfig:CodeDeployDefault.{c}")
                          for c in ("OneAtATime", "HalfAtATime", "AllAtOnce")]},
            {"Sid": "UpdateTheLambdaCode", "Effect": "Allow",
             "Action": ["lambda:UpdateFunctionCode", "lambda:GetFunction", "lambda:GetFunctionConfiguration"],
             "Resource": [function_arn(ctx)]},
            # deploy switches the group's health check from EC2 to ELB after the first successful
            # deployment (issue #13, defect 13). Describe* has no resource-level permission in Auto
            # Scaling ("Actions, resources, and condition keys for Amazon EC2 Auto Scaling").
            {"Sid": "ItsAutoScalingGroupHealthCheck", "Effect": "Allow",
             "Action": ["autoscaling:UpdateAutoScalingGroup"],
             "Resource": [ctx.arn("autoscaling", "autoScalingGroup:*:autoScalingGroupName/"
                                  + naming.auto_scaling_group(ctx.stack))]},
            {"Sid": "ReadAutoScalingGroups", "Effect": "Allow",
             "Action": ["autoscaling:DescribeAutoScalingGroups"], "Resource": "*"},
        ])}


class ImageRole(Role):
    """Assumed by the image workflow (``.github/workflows/image.yml``, GitHub environment
    ``image``): what ``provision_image`` calls to bake, and no more. It reads the builder's role and
    instance profile but cannot change them: a role that may rewrite the builder role's policies and
    launch instances with it could grant itself anything. ``provision_all`` (an administrator)
    creates and reconciles them; a bake finds them as built."""

    def __init__(self):
        super().__init__(IMAGE_ROLE, "image", "cloudsite image bake: builder instances and AMIs",
                         trust=self.trust_policy, policies=self.inline_policies, depends_on=(OIDC,))

    def trust_policy(self, ctx):
        return github_trust(ctx, GITHUB_IMAGE_ENVIRONMENT)

    def inline_policies(self, ctx, deps):
        stack, p = ctx.stack, ctx.partition
        builder = naming.role(stack, "image-builder")
        ours = {"StringEquals": {f"aws:ResourceTag/{naming.STACK_TAG}": stack}}
        ec2 = lambda kind: ctx.arn("ec2", f"{kind}/*")  # noqa: E731
        signals = ctx.arn("ssm", f"parameter{naming.bake_signal(stack)}*")
        return {"bake": document(*[
            # EC2's Describe* actions have no resource-level permissions ("Actions, resources, and
            # condition keys for Amazon EC2"): the engine finds the network and the images by tags
            {"Sid": "FindTheStack", "Effect": "Allow", "Resource": "*",
             "Action": ["ec2:DescribeImages", "ec2:DescribeInstances", "ec2:DescribeInstanceStatus",
                        "ec2:DescribeSecurityGroups", "ec2:DescribeSubnets", "ec2:DescribeVpcs"]},
            # the bake waits until the region's default EBS key is the stack's (the builder's volume,
            # and so the image, takes the default key): the account-and-region settings take no
            # resource; the key is read by its alias (kms:ResourceAliases, KMS Developer Guide, "Using
            # aliases to control access to KMS keys")
            {"Sid": "ReadEbsDefaultEncryption", "Effect": "Allow", "Resource": "*",
             "Action": ["ec2:GetEbsDefaultKmsKeyId", "ec2:GetEbsEncryptionByDefault"]},
            {"Sid": "ReadTheStacksEbsKey", "Effect": "Allow", "Resource": ctx.arn("kms", "key/*"),
             "Action": ["kms:DescribeKey", "kms:ListResourceTags"],
             "Condition": {"ForAnyValue:StringEquals": {"kms:ResourceAliases": naming.kms_alias(stack, "ebs")}}},
            # AWS's public parameters have no account in their ARN
            {"Sid": "BaseImageParameters", "Effect": "Allow", "Action": ["ssm:GetParameter"],
             "Resource": [f"arn:{p}:ssm:{ctx.region}::parameter{name}" for name in naming.BASE_IMAGES.values()]},
            {"Sid": "BakeSignals", "Effect": "Allow", "Action": ["ssm:GetParameter", "ssm:DeleteParameters"],
             "Resource": [signals]},
            {"Sid": "ReadTheBuilderRole", "Effect": "Allow",
             "Action": ["iam:GetRole", "iam:ListAttachedRolePolicies", "iam:ListRolePolicies",
                        "iam:GetRolePolicy", "iam:ListRoleTags"],
             "Resource": [ctx.arn("iam", f"role/{builder}", region=False)]},
            {"Sid": "ReadTheBuilderProfile", "Effect": "Allow", "Action": ["iam:GetInstanceProfile"],
             "Resource": [ctx.arn("iam", f"instance-profile/{naming.instance_profile(stack, 'image-builder')}",
                                  region=False)]},
            # RunInstances with an instance profile passes its role (IAM User Guide, "Granting a user
            # permissions to pass a role to an AWS service"), to EC2 only
            {"Sid": "PassTheBuilderRoleToEc2", "Effect": "Allow", "Action": ["iam:PassRole"],
             "Resource": [ctx.arn("iam", f"role/{builder}", region=False)],
             "Condition": {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}},
            # a launch names what it uses (the base image of any owner, the stack's subnet and
            # group) and what it makes (the instance, its volume and network interface), every one
            # tagged at creation with the stack (tag-on-create needs ec2:CreateTags for
            # ec2:CreateAction, EC2 User Guide, "Grant permission to tag resources during creation")
            {"Sid": "LaunchBuilders", "Effect": "Allow", "Action": ["ec2:RunInstances"],
             "Resource": [ec2("instance"), ec2("volume")],
             "Condition": {"StringEquals": {f"aws:RequestTag/{naming.STACK_TAG}": stack}}},
            # the network interface a launch makes is not tagged (the launch tags instance and volume)
            {"Sid": "LaunchFromTheStacksNetwork", "Effect": "Allow", "Action": ["ec2:RunInstances"],
             "Resource": [ec2("subnet"), ec2("security-group"), ec2("network-interface"),
                          f"arn:{p}:ec2:{ctx.region}::image/*"]},
            {"Sid": "TagWhatItCreates", "Effect": "Allow", "Action": ["ec2:CreateTags"],
             "Resource": [ec2("instance"), ec2("volume"), f"arn:{p}:ec2:{ctx.region}::image/*"],
             "Condition": {"StringEquals": {"ec2:CreateAction": ["RunInstances", "CreateImage"],
                                            f"aws:RequestTag/{naming.STACK_TAG}": stack}}},
            {"Sid": "StopImageAndTerminateItsBuilders", "Effect": "Allow",
             "Action": ["ec2:StopInstances", "ec2:TerminateInstances", "ec2:CreateImage"],
             "Resource": [ec2("instance")], "Condition": ours},
            {"Sid": "RegisterImages", "Effect": "Allow", "Action": ["ec2:CreateImage"],
             "Resource": [f"arn:{p}:ec2:{ctx.region}::image/*", f"arn:{p}:ec2:{ctx.region}::snapshot/*"]},
            # the bake tags an image's snapshots after CreateImage (image.py, _tag_snapshots):
            # tagging a snapshot with this stack's tag. NOTE: together with DeleteSnapshot on tagged
            # snapshots this lets the role delete any snapshot it tags; tagging at creation
            # (CreateImage's TagSpecifications ResourceType "snapshot") would remove the need.
            {"Sid": "TagItsNewSnapshots", "Effect": "Allow", "Action": ["ec2:CreateTags"],
             "Resource": [f"arn:{p}:ec2:{ctx.region}::snapshot/*"],
             "Condition": {"StringEquals": {f"aws:RequestTag/{naming.STACK_TAG}": stack}}},
            {"Sid": "ItsImagesAndSnapshots", "Effect": "Allow",
             "Action": ["ec2:DeregisterImage", "ec2:DeleteSnapshot"],
             "Resource": [f"arn:{p}:ec2:{ctx.region}::image/*", f"arn:{p}:ec2:{ctx.region}::snapshot/*"],
             "Condition": ours},
        ])}


# --- GitHub's OIDC provider (one per account) ------------------------------------------------
class GithubOidcProvider(Resource):
    name, service, kind = OIDC, "iam", "OIDC provider"

    def arn(self, ctx) -> str:
        return ctx.arn("iam", f"oidc-provider/{GITHUB_OIDC_HOST}", region=False)

    def find_all(self, ctx, deps):
        try:
            provider = ctx.client("iam").get_open_id_connect_provider(OpenIDConnectProviderArn=self.arn(ctx))
        except ClientError as error:
            if error_code(error) == "NoSuchEntity":
                return []
            raise
        tags = {t["Key"]: t["Value"] for t in provider.get("Tags", [])}
        return [{"id": self.arn(ctx), "clients": sorted(provider.get("ClientIDList", [])),
                 "owner": tags.get(naming.STACK_TAG)}]

    def create(self, ctx, deps):
        iam = ctx.client("iam")
        try:
            iam.create_open_id_connect_provider(Url=f"https://{GITHUB_OIDC_HOST}", ClientIDList=["sts.amazonaws.com"],
                                                ThumbprintList=GITHUB_THUMBPRINTS, Tags=ctx.tags(self.name))
        except ClientError as error:
            if error_code(error) != "EntityAlreadyExists":
                raise
            return self.find_all(ctx, deps)[0]
        return {"id": self.arn(ctx), "clients": ["sts.amazonaws.com"], "owner": ctx.stack}

    def drift(self, ctx, state, deps):
        return [] if "sts.amazonaws.com" in state["clients"] else [
            Drift("client ids", state["clients"], state["clients"] + ["sts.amazonaws.com"])]

    def reconcile(self, ctx, state, drift, deps):
        ctx.client("iam").add_client_id_to_open_id_connect_provider(
            OpenIDConnectProviderArn=state["id"], ClientID="sts.amazonaws.com")
        return {**state, "clients": sorted(state["clients"] + ["sts.amazonaws.com"])}

    def delete(self, ctx, state):
        # Account-wide: only the stack that made it deletes it (another stack's CI may use it).
        if state["owner"] != ctx.stack:
            ctx.reporter.note(f"kept {state['id']}: made by stack {state['owner'] or '(none)'}, shared")
            return
        with tolerate("NoSuchEntity"):
            ctx.client("iam").delete_open_id_connect_provider(OpenIDConnectProviderArn=state["id"])


# --- Lambda ----------------------------------------------------------------------------------
def lambda_code():
    """The zip, its hex digest (the S3 key) and Lambda's CodeSha256 (base64 of the digest)."""
    from deploy.lambda_zip import build_lambda_zip

    return zip_code(build_lambda_zip())


class VerificationLambda(LambdaFunction):
    name = LAMBDA
    role_purpose, runtime, timeout, memory = "lambda", LAMBDA_RUNTIME, LAMBDA_TIMEOUT, LAMBDA_MEMORY
    description = "verification e-mail (SNS -> SES)"

    def __init__(self):
        from deploy.lambda_zip import HANDLER

        self.handler = HANDLER
        self.depends_on = (LAMBDA_ROLE, LAMBDA_LOGS, SES_IDENTITY, DEPLOY_BUCKET, TOKEN_TABLE)

    def function_name(self, ctx) -> str:
        return naming.lambda_function(ctx.stack)

    def code(self):
        return lambda_code()  # looked up at call time (tests replace it)

    def environment(self, ctx):
        return {"SENDER": ctx.config.sender, "TABLE_NAME": naming.token_table(ctx.stack),
                "TOKEN_TTL_SECONDS": TOKEN_TTL_SECONDS}


class LambdaPermission(Resource):
    """SNS may invoke the function, for this topic only. Statements have no tags: found by id."""
    name, service, kind = PERMISSION, "lambda", "Lambda permission"
    depends_on = (LAMBDA, TOPIC)
    SID = "sns-verification-topic"

    def find_all(self, ctx, deps):
        try:
            policy = json.loads(ctx.client("lambda").get_policy(
                FunctionName=naming.lambda_function(ctx.stack))["Policy"])
        except ClientError as error:
            if error_code(error) == "ResourceNotFoundException":
                return []
            raise
        for statement in policy.get("Statement", []):
            if statement.get("Sid") == self.SID:
                source = statement.get("Condition", {}).get("ArnLike", {}).get("AWS:SourceArn")
                return [{"id": self.SID, "source": source}]
        return []

    def create(self, ctx, deps):
        with tolerate("ResourceConflictException"):
            ctx.client("lambda").add_permission(
                FunctionName=naming.lambda_function(ctx.stack), StatementId=self.SID,
                Action="lambda:InvokeFunction", Principal="sns.amazonaws.com", SourceArn=topic_arn(ctx))
        return {"id": self.SID, "source": topic_arn(ctx)}

    def drift(self, ctx, state, deps):
        return [] if state["source"] == topic_arn(ctx) else [Drift("source", state["source"], topic_arn(ctx))]

    def reconcile(self, ctx, state, drift, deps):
        self.delete(ctx, state)
        return self.create(ctx, deps)

    def delete(self, ctx, state):
        with tolerate("ResourceNotFoundException"):
            ctx.client("lambda").remove_permission(FunctionName=naming.lambda_function(ctx.stack),
                                                   StatementId=self.SID)


class Subscription(Resource):
    """The topic delivers to the function. Subscriptions have no tags: found by topic and endpoint."""
    name, service, kind = SUBSCRIPTION, "sns", "SNS subscription"
    depends_on = (TOPIC, LAMBDA, PERMISSION)

    def find_all(self, ctx, deps):
        sns = ctx.client("sns")
        try:
            pages = sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic_arn(ctx))
            subscriptions = [s for page in pages for s in page["Subscriptions"]]
        except ClientError as error:
            if error_code(error) in ("NotFound", "NotFoundException"):
                return []
            raise
        return [{"id": s["SubscriptionArn"]} for s in subscriptions
                if s["Protocol"] == "lambda" and s["Endpoint"] == function_arn(ctx)
                and s["SubscriptionArn"] not in ("PendingConfirmation", "Deleted")]

    def create(self, ctx, deps):
        arn = ctx.client("sns").subscribe(TopicArn=topic_arn(ctx), Protocol="lambda",
                                          Endpoint=function_arn(ctx), ReturnSubscriptionArn=True)
        return {"id": arn["SubscriptionArn"]}

    def delete(self, ctx, state):
        with tolerate("NotFound", "NotFoundException"):
            ctx.client("sns").unsubscribe(SubscriptionArn=state["id"])


# --- SES -------------------------------------------------------------------------------------
class SesIdentity(Resource):
    """The stack's domain as an SES identity (Easy DKIM) with a MAIL FROM subdomain."""
    name, service, kind = SES_IDENTITY, "sesv2", "SES domain identity"

    def find_all(self, ctx, deps):
        domain = ctx.config.domain
        try:
            identity = ctx.client("sesv2").get_email_identity(EmailIdentity=domain)
        except ClientError as error:
            if error_code(error) == "NotFoundException":
                return []
            raise
        return [self._state(ctx, identity)]

    def _state(self, ctx, identity) -> dict:
        domain, ses = ctx.config.domain, ctx.client("ses")
        tokens = identity.get("DkimAttributes", {}).get("Tokens") or ses.get_identity_dkim_attributes(
            Identities=[domain])["DkimAttributes"].get(domain, {}).get("DkimTokens", [])
        mail_from = ses.get_identity_mail_from_domain_attributes(
            Identities=[domain])["MailFromDomainAttributes"].get(domain, {})
        return {"id": domain, "dkim_tokens": sorted(tokens), "mail_from": mail_from.get("MailFromDomain") or None,
                "verified": bool(identity.get("VerifiedForSendingStatus"))}

    def create(self, ctx, deps):
        sesv2, domain = ctx.client("sesv2"), ctx.config.domain
        with tolerate("AlreadyExistsException"):
            sesv2.create_email_identity(EmailIdentity=domain, Tags=ctx.tags(self.name))
        return self._state(ctx, sesv2.get_email_identity(EmailIdentity=domain))

    def drift(self, ctx, state, deps):
        want = ctx.config.mail_from_domain
        return [] if state["mail_from"] == want else [Drift("MAIL FROM domain", state["mail_from"], want)]

    def reconcile(self, ctx, state, drift, deps):
        ctx.client("ses").set_identity_mail_from_domain(
            Identity=state["id"], MailFromDomain=ctx.config.mail_from_domain,
            BehaviorOnMXFailure="UseDefaultValue")
        return {**state, "mail_from": ctx.config.mail_from_domain}

    def delete(self, ctx, state):
        with tolerate("NotFoundException"):
            ctx.client("sesv2").delete_email_identity(EmailIdentity=state["id"])

    def outputs(self, state):
        return {"identity": state["id"], "verified": state["verified"]}


class MailRecords(Resource):
    """DKIM CNAMEs, and the MAIL FROM domain's MX and SPF TXT, in the public hosted zone. The SPF
    record goes on the MAIL FROM subdomain (which SES's envelope sender uses, and this stack owns
    whole), so no TXT record at the apex that other services share is overwritten."""
    name, service, kind = MAIL_DNS, "route53", "DNS records"

    def __init__(self):
        self.depends_on = (SES_IDENTITY, HOSTED_ZONE)

    def wanted(self, ctx, deps) -> dict[tuple[str, str], list[str]]:
        identity = deps.get(SES_IDENTITY)
        domain, mail_from = ctx.config.domain, ctx.config.mail_from_domain
        tokens = identity["dkim_tokens"] if identity else ["(to be created)"]
        records = {(f"{t}._domainkey.{domain}.", "CNAME"): [f"{t}.dkim.amazonses.com"] for t in tokens}
        records[(f"{mail_from}.", "MX")] = [f"10 feedback-smtp.{ctx.region}.amazonses.com"]
        records[(f"{mail_from}.", "TXT")] = ['"v=spf1 include:amazonses.com ~all"']
        return records

    def _ours(self, ctx, name: str, kind: str) -> bool:
        domain, mail_from = ctx.config.domain, ctx.config.mail_from_domain
        return ((kind == "CNAME" and name.endswith(f"._domainkey.{domain}.")) or
                (name == f"{mail_from}." and kind in ("MX", "TXT")))

    def find_all(self, ctx, deps):
        zone = find_public_zone(ctx, ctx.config.hosted_zone)
        if zone is None:
            return []
        zone_id = zone["id"]
        records = {key: sorted(r["Value"] for r in record.get("ResourceRecords", []))
                   for key, record in self._current(ctx, zone_id).items()}
        return [{"id": zone_id, "records": records}] if records else []

    def _current(self, ctx, zone_id: str) -> dict[tuple[str, str], dict]:
        """This stack's mail records in the zone, as Route53 holds them (a DELETE must match)."""
        return {(record["Name"], record["Type"]): record for record in all_record_sets(ctx, zone_id)
                if self._ours(ctx, record["Name"], record["Type"])}

    def _change(self, ctx, zone_id: str, changes: list[dict]) -> None:
        change_records(ctx, zone_id, changes, f"cloudsite {ctx.stack}: SES DKIM and MAIL FROM")

    @staticmethod
    def _record(action: str, name: str, kind: str, values: list[str]) -> dict:
        return record_change(action, name, kind, values, ttl=1800)

    def create(self, ctx, deps):
        zone = find_public_zone(ctx, ctx.config.hosted_zone)
        if zone is None:
            raise StackError(f"no public hosted zone {ctx.config.hosted_zone}: "
                             "create it (and delegate the domain to it), then run the command again")
        want = self.wanted(ctx, deps)
        self._change(ctx, zone["id"], [self._record("UPSERT", n, k, v) for (n, k), v in sorted(want.items())])
        return {"id": zone["id"], "records": want}

    def drift(self, ctx, state, deps):
        want = self.wanted(ctx, deps)
        have = state["records"]
        return [Drift(f"{kind} {name}", have.get((name, kind)), want.get((name, kind)))
                for name, kind in sorted(set(want) | set(have)) if have.get((name, kind)) != want.get((name, kind))]

    def reconcile(self, ctx, state, drift, deps):
        want, have = self.wanted(ctx, deps), state["records"]
        changes = [self._record("UPSERT", n, k, v) for (n, k), v in sorted(want.items()) if have.get((n, k)) != v]
        current = self._current(ctx, state["id"]) if set(have) - set(want) else {}
        changes += [{"Action": "DELETE", "ResourceRecordSet": record}
                    for key, record in sorted(current.items()) if key not in want]
        self._change(ctx, state["id"], changes)
        return {**state, "records": want}

    def delete(self, ctx, state):
        # The TTL is part of a DELETE's identity: read the records back as they are.
        changes = [{"Action": "DELETE", "ResourceRecordSet": record}
                   for _, record in sorted(self._current(ctx, state["id"]).items())]
        with tolerate("InvalidChangeBatch"):
            self._change(ctx, state["id"], changes)


# --- SQS -------------------------------------------------------------------------------------
class Queue(Resource):
    service, kind = "sqs", "SQS queue"

    def __init__(self, dead_letter: bool):
        self.dead_letter = dead_letter
        self.name = DEAD_LETTER if dead_letter else QUEUE
        self.depends_on = () if dead_letter else (DEAD_LETTER,)

    def queue_name(self, ctx) -> str:
        return naming.queue(ctx.stack, self.dead_letter)

    def attributes(self, ctx) -> dict[str, str]:
        if self.dead_letter:  # kept two weeks, for a person to look at
            return {"MessageRetentionPeriod": "1209600", "SqsManagedSseEnabled": "true"}
        return {
            # Celery (acks late): a task not acknowledged within this is delivered again; longer
            # than any task runs, including its retries' countdowns.
            "VisibilityTimeout": "3600", "MessageRetentionPeriod": "345600",
            "ReceiveMessageWaitTimeSeconds": "20", "SqsManagedSseEnabled": "true",
            # A message whose worker died this many times goes to the dead-letter queue.
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": queue_arn(ctx, dead_letter=True),
                                         "maxReceiveCount": MAX_RECEIVE_COUNT}, sort_keys=True),
        }

    @staticmethod
    def _normal(key: str, value: str | None):
        if key == "RedrivePolicy" and value:
            policy = json.loads(value)
            return {k: str(v) for k, v in policy.items()}
        return value

    def find_all(self, ctx, deps):
        sqs = ctx.client("sqs")
        try:
            url = sqs.get_queue_url(QueueName=self.queue_name(ctx))["QueueUrl"]
        except ClientError as error:
            if error_code(error) in ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"):
                return []
            raise
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        return [{"id": url, "url": url, "arn": attributes["QueueArn"],
                 "attributes": {k: attributes.get(k) for k in self.attributes(ctx)}}]

    def create(self, ctx, deps):
        sqs, want = ctx.client("sqs"), self.attributes(ctx)
        url = sqs.create_queue(QueueName=self.queue_name(ctx), Attributes=want,
                               tags=ctx.tag_dict(self.name))["QueueUrl"]
        return {"id": url, "url": url, "arn": queue_arn(ctx, self.dead_letter), "attributes": want}

    def drift(self, ctx, state, deps):
        want = self.attributes(ctx)
        return [Drift(key, state["attributes"].get(key), value) for key, value in sorted(want.items())
                if self._normal(key, state["attributes"].get(key)) != self._normal(key, value)]

    def reconcile(self, ctx, state, drift, deps):
        want = self.attributes(ctx)
        ctx.client("sqs").set_queue_attributes(QueueUrl=state["url"],
                                               Attributes={d.setting: want[d.setting] for d in drift})
        return {**state, "attributes": want}

    def delete(self, ctx, state):
        with tolerate("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"):
            ctx.client("sqs").delete_queue(QueueUrl=state["url"])

    def outputs(self, state):
        return {"queue-url": state["url"]}


class FailureQueue(Queue):
    """The verification Lambda's on-failure destination: events SES refused after Lambda's retries
    (a sandboxed recipient, a throttle) wait here two weeks for a person, instead of being lost.
    SQS-managed SSE: Lambda's delivery needs no KMS permission."""

    def __init__(self):
        self.dead_letter, self.name, self.depends_on = True, FAILURE_QUEUE, ()

    def queue_name(self, ctx) -> str:
        return naming.lambda_failure_queue(ctx.stack)

    def attributes(self, ctx) -> dict[str, str]:
        return {"MessageRetentionPeriod": "1209600", "SqsManagedSseEnabled": "true"}

    def create(self, ctx, deps):
        return {**super().create(ctx, deps), "arn": failure_queue_arn(ctx)}


class FailureDestination(Resource):
    """``PutFunctionEventInvokeConfig`` on the verification Lambda: at most ``LAMBDA_RETRIES``
    retries, events at most ``LAMBDA_MAX_EVENT_AGE`` seconds old, then the failure queue (Lambda
    Developer Guide, "Configuring destinations for asynchronous invocation"). One config per
    function, found by the function's name. A put replaces the whole config (Lambda API
    reference, PutFunctionEventInvokeConfig: "overwrites")."""
    name, service, kind = FAILURE_DESTINATION, "lambda", "Lambda event invoke config"
    depends_on = (LAMBDA, FAILURE_QUEUE, LAMBDA_ROLE)

    def wanted(self, ctx) -> dict:
        return {"retries": LAMBDA_RETRIES, "max_age": LAMBDA_MAX_EVENT_AGE, "on_failure": failure_queue_arn(ctx)}

    def find_all(self, ctx, deps):
        name = naming.lambda_function(ctx.stack)
        try:
            config = ctx.client("lambda").get_function_event_invoke_config(FunctionName=name)
        except ClientError as error:
            if error_code(error) == "ResourceNotFoundException":
                return []
            raise
        destination = (config.get("DestinationConfig") or {}).get("OnFailure") or {}
        return [{"id": name, "retries": config.get("MaximumRetryAttempts"),
                 "max_age": config.get("MaximumEventAgeInSeconds"), "on_failure": destination.get("Destination")}]

    def _put(self, ctx) -> dict:
        name, want = naming.lambda_function(ctx.stack), self.wanted(ctx)
        # Lambda checks the execution role may send to the queue; a just-written policy may not be
        # visible yet (InvalidParameterValueException naming the role): retried for a bounded time
        retry_role_propagation(lambda: ctx.client("lambda").put_function_event_invoke_config(
            FunctionName=name, MaximumRetryAttempts=want["retries"], MaximumEventAgeInSeconds=want["max_age"],
            DestinationConfig={"OnFailure": {"Destination": want["on_failure"]}}), clock=ctx.clock)
        return {"id": name, **want}

    def create(self, ctx, deps):
        return self._put(ctx)

    def drift(self, ctx, state, deps):
        want = self.wanted(ctx)
        return [Drift(key, state.get(key), value) for key, value in want.items() if state.get(key) != value]

    def reconcile(self, ctx, state, drift, deps):
        return self._put(ctx)

    def delete(self, ctx, state):
        try:
            with tolerate("ResourceNotFoundException"):
                ctx.client("lambda").delete_function_event_invoke_config(FunctionName=state["id"])
        except UNIMPLEMENTED as error:
            if not emulator_lacks(error, ctx.client("lambda")):
                raise
            report_not_deleted(ctx, f"Lambda event invoke config of {state['id']}", error)

    def outputs(self, state):
        return {"on-failure-destination": state["on_failure"]}


# --- CodeDeploy ------------------------------------------------------------------------------
class Application(Resource):
    name, service, kind = APPLICATION, "codedeploy", "CodeDeploy application"

    def find_all(self, ctx, deps):
        name = naming.codedeploy_application(ctx.stack)
        try:
            app = ctx.client("codedeploy").get_application(applicationName=name)["application"]
        except ClientError as error:
            if error_code(error) == "ApplicationDoesNotExistException":
                return []
            raise
        return [{"id": app["applicationName"], "platform": app.get("computePlatform")}]

    def create(self, ctx, deps):
        name = naming.codedeploy_application(ctx.stack)
        with tolerate("ApplicationAlreadyExistsException"):
            ctx.client("codedeploy").create_application(applicationName=name, computePlatform="Server",
                                                        tags=ctx.tags(self.name))
        return {"id": name, "platform": "Server"}

    def drift(self, ctx, state, deps):
        return [] if state["platform"] == "Server" else [
            Drift("compute platform", state["platform"], "Server", fixable=False)]

    def delete(self, ctx, state):
        try:
            with tolerate("ApplicationDoesNotExistException"):
                ctx.client("codedeploy").delete_application(applicationName=state["id"])
        except UNIMPLEMENTED as error:
            if not emulator_lacks(error, ctx.client("codedeploy")):
                raise
            report_not_deleted(ctx, f"CodeDeploy application {state['id']}", error)


class DeploymentGroup(Resource):
    name, service, kind = GROUP, "codedeploy", "CodeDeploy deployment group"

    def __init__(self):
        self.depends_on = (APPLICATION, CODEDEPLOY_ROLE, AUTO_SCALING_GROUP, TARGET_GROUP)

    def wanted(self, ctx) -> dict:
        return {
            "deploymentConfigName": f"CodeDeployDefault.{ctx.config.pipeline.deployment_config}",
            "serviceRoleArn": role_arn(ctx, "codedeploy"),
            "autoScalingGroups": [naming.auto_scaling_group(ctx.stack)],
            "deploymentStyle": {"deploymentType": "IN_PLACE", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
            "loadBalancerInfo": {"targetGroupInfoList": [{"name": naming.target_group(ctx.stack)}]},
            "autoRollbackConfiguration": {"enabled": True, "events": ["DEPLOYMENT_FAILURE"]},
        }

    def find_all(self, ctx, deps):
        try:
            info = ctx.client("codedeploy").get_deployment_group(
                applicationName=naming.codedeploy_application(ctx.stack),
                deploymentGroupName=naming.codedeploy_group(ctx.stack))["deploymentGroupInfo"]
        except ClientError as error:
            if error_code(error) in ("DeploymentGroupDoesNotExistException", "ApplicationDoesNotExistException"):
                return []
            raise
        rollback = info.get("autoRollbackConfiguration") or {}
        return [{
            "id": info["deploymentGroupName"],
            "deploymentConfigName": info.get("deploymentConfigName"),
            "serviceRoleArn": info.get("serviceRoleArn"),
            # moto answers [{}] for the groups; a group without a name is unknown, not different
            "autoScalingGroups": sorted(g["name"] for g in info.get("autoScalingGroups", []) if g.get("name"))
            if all(g.get("name") for g in info.get("autoScalingGroups", [])) else None,
            "deploymentStyle": info.get("deploymentStyle"),
            "loadBalancerInfo": {"targetGroupInfoList": [
                {"name": t["name"]} for t in (info.get("loadBalancerInfo") or {}).get("targetGroupInfoList", [])]},
            "autoRollbackConfiguration": {"enabled": bool(rollback.get("enabled")),
                                          "events": sorted(rollback.get("events", []))},
        }]

    def create(self, ctx, deps):
        client, want = ctx.client("codedeploy"), self.wanted(ctx)
        with tolerate("DeploymentGroupAlreadyExistsException"):
            retry_role_propagation(lambda: client.create_deployment_group(
                applicationName=naming.codedeploy_application(ctx.stack),
                deploymentGroupName=naming.codedeploy_group(ctx.stack), tags=ctx.tags(self.name), **want), clock=ctx.clock)
        return {"id": naming.codedeploy_group(ctx.stack), **want}

    def drift(self, ctx, state, deps):
        drift = []
        for key, value in self.wanted(ctx).items():
            have = state.get(key)
            if key == "autoScalingGroups" and have is None:
                continue  # unreadable (the emulator); real AWS always names them
            if have != value:
                drift.append(Drift(key, json.dumps(have, sort_keys=True), json.dumps(value, sort_keys=True)))
        return drift

    def reconcile(self, ctx, state, drift, deps):
        want = self.wanted(ctx)
        retry_role_propagation(lambda: ctx.client("codedeploy").update_deployment_group(
            applicationName=naming.codedeploy_application(ctx.stack),
            currentDeploymentGroupName=state["id"], **want), clock=ctx.clock)
        return {"id": state["id"], **want}

    def delete(self, ctx, state):
        try:
            with tolerate("DeploymentGroupDoesNotExistException", "ApplicationDoesNotExistException"):
                ctx.client("codedeploy").delete_deployment_group(
                    applicationName=naming.codedeploy_application(ctx.stack), deploymentGroupName=state["id"])
        except UNIMPLEMENTED as error:
            if not emulator_lacks(error, ctx.client("codedeploy")):
                raise
            report_not_deleted(ctx, f"CodeDeploy deployment group {state['id']}", error)


# --- The Django secret key -------------------------------------------------------------------
class DjangoSecret(GeneratedSecret):
    """Generated here, stored in Secrets Manager, read by the deploy hook; never printed."""

    def __init__(self):
        super().__init__(DJANGO_SECRET, naming.django_secret, "DJANGO_SECRET_KEY (signing and HMAC key)",
                         lambda ctx: secrets.token_urlsafe(50))


# --- The layer -------------------------------------------------------------------------------
def build(config: StackConfig) -> list[Resource]:
    resources: list[Resource] = [
        KmsKey("sns", "SNS verification topic", layer="pipeline", statements=sns_key_statements), Topic(), LambdaRole(), LogGroup(LAMBDA_LOGS, lambda stack: f"/aws/lambda/{naming.lambda_function(stack)}",
                                          LOG_RETENTION_DAYS), VerificationLambda(), LambdaPermission(),
        Subscription(), SesIdentity(), MailRecords(), Queue(dead_letter=True), Queue(dead_letter=False),
        CodeDeployRole(), Application(), DeploymentGroup(), GithubOidcProvider(), CiRole(), ImageRole(),
        DjangoSecret(), FailureQueue(), FailureDestination(),
    ]

    def values(deps):
        return {
            "topic-arn": deps[TOPIC]["arn"],
            "queue-url": deps[QUEUE]["url"],
            "dead-letter-queue-url": deps[DEAD_LETTER]["url"],
            "lambda-name": deps[LAMBDA]["id"],
            "codedeploy-application": deps[APPLICATION]["id"],
            "codedeploy-group": deps[GROUP]["id"],
            "ci-role-arn": deps[CI_ROLE]["arn"],
            "image-role-arn": deps[IMAGE_ROLE]["arn"],
            "lambda-failure-queue-url": deps[FAILURE_QUEUE]["url"],
            "ses-identity": deps[SES_IDENTITY]["id"],
            "sender": config.sender,
            "domain": config.domain,
            "django-secret-name": deps[DJANGO_SECRET]["id"],
        }

    outputs = Parameters("pipeline", (TOPIC, QUEUE, DEAD_LETTER, LAMBDA, APPLICATION, GROUP, CI_ROLE,
                                      IMAGE_ROLE, SES_IDENTITY, DJANGO_SECRET, FAILURE_QUEUE), values)
    return [*resources, outputs]


def inventory(ctx) -> dict:
    """Counts of what exists of the layer's kinds, tagged or not (crash-resume tests)."""
    kms, iam, stack = ctx.client("kms"), ctx.client("iam"), ctx.stack
    keys = 0
    for page in kms.get_paginator("list_keys").paginate():
        for entry in page["Keys"]:
            if kms.describe_key(KeyId=entry["KeyId"])["KeyMetadata"]["KeyState"] != "PendingDeletion":
                keys += 1
    roles = [r["RoleName"] for page in iam.get_paginator("list_roles").paginate() for r in page["Roles"]]
    lam = ctx.client("lambda")
    functions = [f["FunctionName"] for page in lam.get_paginator("list_functions").paginate()
                 for f in page["Functions"]]
    try:
        statements = len(json.loads(lam.get_policy(FunctionName=naming.lambda_function(stack))["Policy"])["Statement"])
    except ClientError:
        statements = 0
    zone_records = 0
    for zone in ctx.client("route53").list_hosted_zones()["HostedZones"]:
        zone_records += sum(len(p["ResourceRecordSets"]) for p in ctx.client("route53").get_paginator(
            "list_resource_record_sets").paginate(HostedZoneId=zone["Id"]))
    secrets_list = ctx.client("secretsmanager").list_secrets()["SecretList"]
    return {
        "kms_keys": keys,
        "kms_aliases": len(kms.list_aliases()["Aliases"]),
        "topics": len(ctx.client("sns").list_topics()["Topics"]),
        "subscriptions": len(ctx.client("sns").list_subscriptions()["Subscriptions"]),
        "roles": len(roles),
        "role_policies": sum(len(iam.list_role_policies(RoleName=r)["PolicyNames"]) for r in roles),
        "oidc_providers": len(iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]),
        "functions": len(functions),
        "permission_statements": statements,
        "log_groups": len(ctx.client("logs").describe_log_groups()["logGroups"]),
        "ses_identities": len(ctx.client("sesv2").list_email_identities()["EmailIdentities"]),
        "dns_records": zone_records,
        "queues": len(ctx.client("sqs").list_queues().get("QueueUrls", [])),
        "codedeploy_applications": len(ctx.client("codedeploy").list_applications()["applications"]),
        "codedeploy_groups": len(ctx.client("codedeploy").list_deployment_groups(
            applicationName=naming.codedeploy_application(stack))["deploymentGroups"])
        if naming.codedeploy_application(stack) in ctx.client("codedeploy").list_applications()["applications"] else 0,
        "secrets": len([s for s in secrets_list if not s.get("DeletedDate")]),
        "lambda_zips": ctx.client("s3").list_objects_v2(Bucket=bucket_name(ctx), Prefix=naming.LAMBDA_PREFIX).get("KeyCount", 0),
        "parameters": sum(len(page["Parameters"]) for page in ctx.client("ssm").get_paginator(
            "get_parameters_by_path").paginate(Path=parameter_path(stack, "pipeline"))),
    }


LAYER = Layer("pipeline", build, inventory)
