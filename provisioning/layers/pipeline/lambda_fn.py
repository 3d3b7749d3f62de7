"""The verification mail Lambda (the zip from ``deploy/lambda/``), SNS's permission to invoke it, and
its on-failure destination (retries, event age, the failure queue)."""
from __future__ import annotations

import json

from provisioning import naming
from provisioning.errors import absent_on, delete_or_report, tolerate
from provisioning.layers.pipeline.arns import failure_queue_arn, topic_arn
from provisioning.recipe_names import (
    DEPLOY_BUCKET,
    FAILURE_DESTINATION,
    FAILURE_QUEUE,
    LAMBDA,
    LAMBDA_LOGS,
    LAMBDA_ROLE,
    PERMISSION,
    SES_IDENTITY,
    TOKEN_TABLE,
    TOPIC,
)
from provisioning.recipes.lambda_function import LambdaFunction, zip_code
from provisioning.resource import Drift, Resource
from provisioning.retry import retry_role_propagation

LAMBDA_RUNTIME = "python3.12"
LAMBDA_TIMEOUT = 30
LAMBDA_MEMORY = 128
LOG_RETENTION_DAYS = 30
TOKEN_TTL_SECONDS = "300"
# SNS invokes the Lambda asynchronously: Lambda retries a failed invocation (at most 2 times) and
# then hands the event to the on-failure destination; an event older than this goes there unretried.
LAMBDA_RETRIES = 2
LAMBDA_MAX_EVENT_AGE = 3600


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
        from provisioning.layers import pipeline

        return pipeline.lambda_code()  # looked up at call time (tests replace it)

    def environment(self, ctx):
        return {"SENDER": ctx.config.sender, "TABLE_NAME": naming.token_table(ctx.stack),
                "TOKEN_TTL_SECONDS": TOKEN_TTL_SECONDS}


class LambdaPermission(Resource):
    """SNS may invoke the function, for this topic only. Statements have no tags: found by id."""
    name, service, kind = PERMISSION, "lambda", "Lambda permission"
    depends_on = (LAMBDA, TOPIC)
    SID = "sns-verification-topic"

    def find_all(self, ctx, deps):
        policy = absent_on(lambda: json.loads(ctx.client("lambda").get_policy(
            FunctionName=naming.lambda_function(ctx.stack))["Policy"]), "ResourceNotFoundException")
        if policy is None:
            return []
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
        config = absent_on(lambda: ctx.client("lambda").get_function_event_invoke_config(FunctionName=name),
                           "ResourceNotFoundException")
        if config is None:
            return []
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
        delete_or_report(ctx, "lambda", lambda: ctx.client("lambda").delete_function_event_invoke_config(
            FunctionName=state["id"]), gone=("ResourceNotFoundException",),
            what=f"Lambda event invoke config of {state['id']}")

    def outputs(self, state):
        return {"on-failure-destination": state["on_failure"]}
