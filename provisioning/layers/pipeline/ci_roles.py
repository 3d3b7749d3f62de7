"""The pipeline's IAM: the Lambda's and CodeDeploy's service roles, the CI role and the image role
(assumed by GitHub Actions through OIDC, one GitHub environment each), and GitHub's OIDC provider."""
from __future__ import annotations

from botocore.exceptions import ClientError

from provisioning import naming
from provisioning.errors import absent_on, error_code, tolerate
from provisioning.layers.pipeline.arns import bucket_name, failure_queue_arn, function_arn
from provisioning.policy import document, trust
from provisioning.recipe_names import CI_ROLE, CODEDEPLOY_ROLE, IMAGE_ROLE, LAMBDA_ROLE, OIDC
from provisioning.recipes.role import Role
from provisioning.resource import Drift, Resource

GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
# The GitHub environments whose jobs may assume the CI role (deploy.yml, lambda.yml) and the image
# role (image.yml); each environment's deployment branch rule allows main only.
GITHUB_DEPLOY_ENVIRONMENT = "production"
GITHUB_IMAGE_ENVIRONMENT = "image"
# GitHub's OIDC certificate thumbprints (AWS now trusts GitHub through its own CA store, but the API
# still takes a list).
GITHUB_THUMBPRINTS = ["6938fd4d98bab03faadb97b34396831e3780aea1", "1c58a3a8518e8759bf075b76b750d4f2df264fcd"]


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


def lambda_policies(ctx, deps) -> dict:
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


def lambda_role() -> Role:
    return Role(LAMBDA_ROLE, "lambda", "cloudsite verification mail Lambda: SES, its table, its logs",
                trust=lambda ctx: service_trust("lambda.amazonaws.com", ctx), policies=lambda_policies)


def codedeploy_policies(ctx, deps) -> dict:
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


def codedeploy_role() -> Role:
    """CodeDeploy's service role for in-place deployments to an auto scaling group behind a target
    group: the actions of AWSCodeDeployRole that this uses, writes limited to this stack's group."""
    return Role(CODEDEPLOY_ROLE, "codedeploy", "cloudsite CodeDeploy service role",
                trust=lambda ctx: service_trust("codedeploy.amazonaws.com", ctx), policies=codedeploy_policies)


def stack_lock_statement(ctx) -> dict:
    """Every command the CI and image roles run takes the stack's lock (provisioning/locking): its
    item only. The table exists: the administrator's provision_* runs made it (a CI role that
    finds it missing is refused CreateTable, and says so)."""
    return {"Sid": "TheStackLock", "Effect": "Allow",
            "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
            "Resource": [ctx.arn("dynamodb", f"table/{naming.lock_table(ctx.stack)}")]}


def ci_policies(ctx, deps) -> dict:
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
        stack_lock_statement(ctx),
    ])}


def ci_role() -> Role:
    """Assumed by GitHub Actions (OIDC) on the repository's main branch; only what deploying needs."""
    return Role(CI_ROLE, "ci", "cloudsite CI: upload bundles, deploy, update the Lambda's code",
                trust=lambda ctx: github_trust(ctx, GITHUB_DEPLOY_ENVIRONMENT), policies=ci_policies,
                depends_on=(OIDC,))


def image_policies(ctx, deps) -> dict:
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
        stack_lock_statement(ctx),
    ])}


def image_role() -> Role:
    """Assumed by the image workflow (``.github/workflows/image.yml``, GitHub environment
    ``image``): what ``provision_image`` calls to bake, and no more. It reads the builder's role and
    instance profile but cannot change them: a role that may rewrite the builder role's policies and
    launch instances with it could grant itself anything. ``provision_all`` (an administrator)
    creates and reconciles them; a bake finds them as built."""
    return Role(IMAGE_ROLE, "image", "cloudsite image bake: builder instances and AMIs",
                trust=lambda ctx: github_trust(ctx, GITHUB_IMAGE_ENVIRONMENT), policies=image_policies,
                depends_on=(OIDC,))


# --- GitHub's OIDC provider (one per account) ------------------------------------------------
class GithubOidcProvider(Resource):
    name, service, kind = OIDC, "iam", "OIDC provider"

    def arn(self, ctx) -> str:
        return ctx.arn("iam", f"oidc-provider/{GITHUB_OIDC_HOST}", region=False)

    def find_all(self, ctx, deps):
        provider = absent_on(lambda: ctx.client("iam").get_open_id_connect_provider(
            OpenIDConnectProviderArn=self.arn(ctx)), "NoSuchEntity")
        if provider is None:
            return []
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
