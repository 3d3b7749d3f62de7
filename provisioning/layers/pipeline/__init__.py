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

from provisioning import naming
from provisioning.config import StackConfig
from provisioning.layer import Layer
from provisioning.layers.pipeline.ci_roles import GithubOidcProvider, ci_role, codedeploy_role, image_role, lambda_role
from provisioning.layers.pipeline.codedeploy import Application, DeploymentGroup
from provisioning.layers.pipeline.lambda_fn import (
    LOG_RETENTION_DAYS,
    FailureDestination,
    LambdaPermission,
    VerificationLambda,
    lambda_code,
)
from provisioning.layers.pipeline.queue import FailureQueue, Queue
from provisioning.layers.pipeline.secrets import DjangoSecret
from provisioning.layers.pipeline.ses import MailRecords, SesIdentity
from provisioning.layers.pipeline.topic import Subscription, Topic, sns_key_statements
from provisioning.outputs import Parameters
from provisioning.recipe_names import (
    APPLICATION,
    CI_ROLE,
    DEAD_LETTER,
    DJANGO_SECRET,
    FAILURE_QUEUE,
    GROUP,
    IMAGE_ROLE,
    LAMBDA,
    LAMBDA_LOGS,
    OIDC,
    QUEUE,
    SES_IDENTITY,
    TOPIC,
)
from provisioning.recipes.kms_key import KmsKey
from provisioning.recipes.log_group import LogGroup
from provisioning.resource import Resource

# Besides the recipes: lambda_code (deploy_lambda; VerificationLambda.code looks it up here at call
# time, so tests can replace it) and GROUP, OIDC (tests use them).
__all__ = ["GROUP", "LAYER", "OIDC", "Application", "DeploymentGroup", "DjangoSecret",
           "FailureDestination", "FailureQueue", "GithubOidcProvider", "LambdaPermission",
           "MailRecords", "Queue", "SesIdentity", "Subscription", "Topic", "VerificationLambda", "build",
           "lambda_code", "sns_key_statements"]


def build(config: StackConfig) -> list[Resource]:
    resources: list[Resource] = [
        KmsKey("sns", "SNS verification topic", layer="pipeline", statements=sns_key_statements), Topic(),
        lambda_role(), LogGroup(LAMBDA_LOGS, lambda stack: f"/aws/lambda/{naming.lambda_function(stack)}",
                               LOG_RETENTION_DAYS), VerificationLambda(), LambdaPermission(),
        Subscription(), SesIdentity(), MailRecords(), Queue(dead_letter=True), Queue(dead_letter=False),
        codedeploy_role(), Application(), DeploymentGroup(), GithubOidcProvider(), ci_role(), image_role(),
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


LAYER = Layer("pipeline", build)
