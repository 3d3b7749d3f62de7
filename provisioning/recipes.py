"""Recipes more than one layer builds: a generated secret, a log group, a Lambda function whose code
sits in the deploy bucket under its hash.

* ``GeneratedSecret``: a Secrets Manager secret whose value is generated here once and never
  printed (the Django key, the database credentials). A secret scheduled for deletion (a teardown)
  is not "found"; the next create restores it, so the value survives a teardown and re-apply.
* ``LogGroup``: a CloudWatch Logs group with a retention, created before its writer so it is
  tagged and never left to the service's own untagged, never-expiring one.
* ``LambdaFunction``: a function from a reproducible zip (``code()`` gives the bytes, the hex
  digest that names the S3 object and Lambda's ``CodeSha256``), updated only when the hash changes,
  optionally in a VPC.
"""
from __future__ import annotations

import base64
import hashlib
import json
from typing import Callable

from botocore.exceptions import ClientError

from provisioning import naming
from provisioning import resource as _resource
from provisioning.resource import Drift, Resource, error_code, monotonic, tolerate, waiter_config

SECRET_RECOVERY_DAYS = 7  # the shortest window AWS allows: a teardown can be undone that long
ROLE_PROPAGATION_TIMEOUT = 120
LAMBDA_PREFIX = "lambda/"


def tag_dict(ctx, name: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in ctx.tags(name)}


# --- secrets ---------------------------------------------------------------------------------
class GeneratedSecret(Resource):
    """``generate(ctx)`` makes the secret's string once, at creation; ``key`` is the logical name
    of the KMS key recipe that encrypts it (None: Secrets Manager's own ``aws/secretsmanager``)."""
    service, kind = "secretsmanager", "secret"

    def __init__(self, name: str, secret_name: Callable[[str], str], description: str,
                 generate: Callable[[object], str], key: str | None = None):
        self.name, self.secret_name, self.description = name, secret_name, description
        self.generate, self.key = generate, key
        self.depends_on = (key,) if key else ()

    def _state(self, secret: dict) -> dict:
        return {"id": secret["Name"], "arn": secret["ARN"], "kms_key": secret.get("KmsKeyId"),
                "tags": {t["Key"]: t["Value"] for t in secret.get("Tags", [])}}

    def find_all(self, ctx, deps):
        try:
            secret = ctx.client("secretsmanager").describe_secret(SecretId=self.secret_name(ctx.stack))
        except ClientError as error:
            if error_code(error) == "ResourceNotFoundException":
                return []
            raise
        if secret.get("DeletedDate"):
            return []  # scheduled for deletion: create restores it
        return [self._state(secret)]

    def _key_arn(self, deps) -> str | None:
        if not self.key:
            return None
        key = deps.get(self.key)
        return key["arn"] if key else f"{self.key} (to be created)"

    def create(self, ctx, deps):
        client, name = ctx.client("secretsmanager"), self.secret_name(ctx.stack)
        extra = {"KmsKeyId": self._key_arn(deps)} if self.key else {}
        try:
            client.create_secret(Name=name, SecretString=self.generate(ctx), Tags=ctx.tags(self.name),
                                 Description=f"cloudsite {ctx.stack}: {self.description}", **extra)
        except ClientError as error:
            # a teardown scheduled it for deletion (or a crashed run made it): keep the same value
            if error_code(error) not in ("InvalidRequestException", "ResourceExistsException"):
                raise
            if client.describe_secret(SecretId=name).get("DeletedDate"):
                client.restore_secret(SecretId=name)
        return self._state(client.describe_secret(SecretId=name))

    def drift(self, ctx, state, deps):
        want = self._key_arn(deps)
        key = deps.get(self.key) if self.key else None
        if self.key and state["kms_key"] not in (want, key and key["id"]):
            return [Drift("kms key", state["kms_key"] or "aws/secretsmanager", want)]
        return []

    def reconcile(self, ctx, state, drift, deps):
        # Secrets Manager re-encrypts the current versions with the new key (UpdateSecret, KmsKeyId)
        ctx.client("secretsmanager").update_secret(SecretId=state["id"], KmsKeyId=self._key_arn(deps))
        return {**state, "kms_key": self._key_arn(deps)}

    def delete(self, ctx, state):
        with tolerate("ResourceNotFoundException", "InvalidRequestException"):
            ctx.client("secretsmanager").delete_secret(SecretId=state["id"],
                                                       RecoveryWindowInDays=SECRET_RECOVERY_DAYS)

    def read(self, ctx) -> dict:
        """The secret's JSON value (for the recipes that hand it to AWS; never shown)."""
        value = ctx.client("secretsmanager").get_secret_value(SecretId=self.secret_name(ctx.stack))
        return json.loads(value["SecretString"])

    def outputs(self, state):
        return {"secret-arn": state["arn"]}


# --- log groups ------------------------------------------------------------------------------
class LogGroup(Resource):
    service, kind = "logs", "log group"

    def __init__(self, name: str, group_name: Callable[[str], str], retention_days: int):
        self.name, self.group_name_of, self.retention_days = name, group_name, retention_days

    def group_name(self, ctx) -> str:
        return self.group_name_of(ctx.stack)

    def find_all(self, ctx, deps):
        name = self.group_name(ctx)
        groups = ctx.client("logs").describe_log_groups(logGroupNamePrefix=name)["logGroups"]
        return [{"id": g["logGroupName"], "arn": g.get("arn"), "retention": g.get("retentionInDays")}
                for g in groups if g["logGroupName"] == name]

    def create(self, ctx, deps):
        name = self.group_name(ctx)
        with tolerate("ResourceAlreadyExistsException"):
            ctx.client("logs").create_log_group(logGroupName=name, tags=tag_dict(ctx, self.name))
        return {"id": name, "arn": ctx.arn("logs", f"log-group:{name}:*"), "retention": None}

    def drift(self, ctx, state, deps):
        return [] if state["retention"] == self.retention_days else [
            Drift("retention days", state["retention"], self.retention_days)]

    def reconcile(self, ctx, state, drift, deps):
        ctx.client("logs").put_retention_policy(logGroupName=state["id"], retentionInDays=self.retention_days)
        return {**state, "retention": self.retention_days}

    def delete(self, ctx, state):
        with tolerate("ResourceNotFoundException"):
            ctx.client("logs").delete_log_group(logGroupName=state["id"])


# --- Lambda functions ------------------------------------------------------------------------
def zip_code(data: bytes) -> tuple[bytes, str, str]:
    """The zip, its hex digest (the S3 key) and Lambda's CodeSha256 (base64 of the digest)."""
    digest = hashlib.sha256(data)
    return data, digest.hexdigest(), base64.b64encode(digest.digest()).decode()


def retry_role_propagation(call, *, what: str, timeout: float = ROLE_PROPAGATION_TIMEOUT):
    """A new IAM role (or a policy just put on it) is not usable by Lambda or CodeDeploy for some
    seconds: retry exactly that error ("The role defined for the function cannot be assumed by
    Lambda", "The provided execution role does not have permissions to call
    CreateNetworkInterface on EC2", InvalidRoleException)."""
    deadline = monotonic() + timeout
    delay = 2.0
    while True:
        try:
            return call()
        except ClientError as error:
            code, message = error_code(error), error.response.get("Error", {}).get("Message", "")
            propagating = code == "InvalidRoleException" or (
                code == "InvalidParameterValueException" and "role" in message.lower())
            if not propagating or monotonic() + delay > deadline:
                raise
        _resource.sleep(delay)
        delay = min(delay * 1.5, 10)


class LambdaFunction(Resource):
    """Subclasses give ``function_name``, ``role_purpose`` (``naming.role``), ``handler``,
    ``description``, and override ``code()``, ``environment(ctx)`` and, for a function in a VPC,
    ``vpc(ctx, deps)`` (``{"subnets": [...], "security_groups": [...]}``)."""
    service, kind = "lambda", "Lambda function"
    runtime, timeout, memory = "python3.12", 30, 128
    role_purpose = handler = description = ""
    # A VPC function's network interfaces take a while: the function stays Pending meanwhile.
    ACTIVE_WAIT = waiter_config(2, 90)
    VPC_ACTIVE_WAIT = waiter_config(5, 120)

    def function_name(self, ctx) -> str:
        raise NotImplementedError

    def code(self) -> tuple[bytes, str, str]:
        raise NotImplementedError

    def environment(self, ctx) -> dict[str, str]:
        return {}

    def vpc(self, ctx, deps) -> dict | None:
        return None

    def role_arn(self, ctx) -> str:
        return ctx.arn("iam", f"role/{naming.role(ctx.stack, self.role_purpose)}", region=False)

    def wanted(self, ctx, deps=None) -> dict:
        want = {"role": self.role_arn(ctx), "handler": self.handler, "runtime": self.runtime,
                "timeout": self.timeout, "memory": self.memory, "environment": self.environment(ctx)}
        vpc = self.vpc(ctx, deps or {})
        if vpc is not None:
            want["vpc"] = {"subnets": sorted(vpc["subnets"]), "security_groups": sorted(vpc["security_groups"])}
        return want

    def find_all(self, ctx, deps):
        try:
            config = ctx.client("lambda").get_function_configuration(FunctionName=self.function_name(ctx))
        except ClientError as error:
            if error_code(error) == "ResourceNotFoundException":
                return []
            raise
        return [self._state(config)]

    @staticmethod
    def _state(config) -> dict:
        vpc = config.get("VpcConfig") or {}
        return {"id": config["FunctionName"], "arn": config["FunctionArn"], "sha256": config["CodeSha256"],
                "role": config["Role"], "handler": config["Handler"], "runtime": config["Runtime"],
                "timeout": config["Timeout"], "memory": config["MemorySize"],
                "environment": config.get("Environment", {}).get("Variables", {}),
                "vpc": {"subnets": sorted(vpc.get("SubnetIds") or []),
                        "security_groups": sorted(vpc.get("SecurityGroupIds") or [])}}

    def _bucket(self, ctx) -> str:
        return naming.bucket(ctx.stack, "deploy", ctx.account_id, ctx.region)

    def _upload(self, ctx, data: bytes, hexdigest: str) -> dict:
        key = f"{LAMBDA_PREFIX}{self.function_name(ctx)}/{hexdigest}.zip"
        ctx.client("s3").put_object(Bucket=self._bucket(ctx), Key=key, Body=data,
                                    ContentType="application/zip")
        return {"S3Bucket": self._bucket(ctx), "S3Key": key}

    @staticmethod
    def _configuration(want: dict) -> dict:
        """The CreateFunction / UpdateFunctionConfiguration arguments both calls share."""
        arguments = {"Role": want["role"], "Handler": want["handler"], "Runtime": want["runtime"],
                     "Timeout": want["timeout"], "MemorySize": want["memory"],
                     "Environment": {"Variables": want["environment"]}}
        if "vpc" in want:
            arguments["VpcConfig"] = {"SubnetIds": want["vpc"]["subnets"],
                                      "SecurityGroupIds": want["vpc"]["security_groups"]}
        return arguments

    def _active_wait(self, want) -> dict:
        return self.VPC_ACTIVE_WAIT if "vpc" in want else self.ACTIVE_WAIT

    def create(self, ctx, deps):
        data, hexdigest, _ = self.code()
        code = self._upload(ctx, data, hexdigest)
        want, client, name = self.wanted(ctx, deps), ctx.client("lambda"), self.function_name(ctx)
        try:
            config = retry_role_propagation(lambda: client.create_function(
                FunctionName=name, Code=code, Description=f"cloudsite {ctx.stack}: {self.description}",
                Tags=tag_dict(ctx, self.name), **self._configuration(want)), what=f"Lambda {name}")
        except ClientError as error:
            if error_code(error) != "ResourceConflictException":  # a crashed run created it
                raise
            config = client.get_function_configuration(FunctionName=name)
        client.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig=self._active_wait(want))
        return self._state(config)

    def drift(self, ctx, state, deps):
        want = self.wanted(ctx, deps)
        drift = [Drift(key, state[key], want[key]) for key in want if state[key] != want[key]]
        _, _, sha256 = self.code()
        if state["sha256"] != sha256:
            drift.append(Drift("code sha256", state["sha256"], sha256))
        return drift

    def reconcile(self, ctx, state, drift, deps):
        client, name = ctx.client("lambda"), state["id"]
        waiter = client.get_waiter("function_updated_v2")
        settings = {d.setting for d in drift}
        want = self.wanted(ctx, deps)
        if settings - {"code sha256"}:
            retry_role_propagation(lambda: client.update_function_configuration(
                FunctionName=name, **self._configuration(want)), what=f"Lambda {name}")
            waiter.wait(FunctionName=name, WaiterConfig=self._active_wait(want))
        if "code sha256" in settings:
            data, hexdigest, _ = self.code()
            client.update_function_code(FunctionName=name, **self._upload(ctx, data, hexdigest))
            waiter.wait(FunctionName=name, WaiterConfig=self._active_wait(want))
        return self._state(client.get_function_configuration(FunctionName=name))

    def delete(self, ctx, state):
        # a VPC function's network interfaces linger for a while after it: the network layer's
        # security group and subnet deletions retry DependencyViolation that long
        with tolerate("ResourceNotFoundException"):
            ctx.client("lambda").delete_function(FunctionName=state["id"])

    def outputs(self, state):
        return {"function-arn": state["arn"], "code-sha256": state["sha256"]}
