"""A Lambda function from a reproducible zip (``code()`` gives the bytes, the hex digest that names
the S3 object and Lambda's ``CodeSha256``), updated only when the hash changes, optionally in a VPC."""
from __future__ import annotations

import base64
import hashlib

from botocore.exceptions import ClientError

from provisioning import naming
from provisioning.errors import absent_on, error_code, tolerate
from provisioning.resource import Drift, Resource
from provisioning.retry import retry_role_propagation, waiter_config


def zip_code(data: bytes) -> tuple[bytes, str, str]:
    """The zip, its hex digest (the S3 key) and Lambda's CodeSha256 (base64 of the digest)."""
    digest = hashlib.sha256(data)
    return data, digest.hexdigest(), base64.b64encode(digest.digest()).decode()


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
        config = absent_on(lambda: ctx.client("lambda").get_function_configuration(
            FunctionName=self.function_name(ctx)), "ResourceNotFoundException")
        return [self._state(config)] if config else []

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
        key = f"{naming.LAMBDA_PREFIX}{self.function_name(ctx)}/{hexdigest}.zip"
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
                Tags=ctx.tag_dict(self.name), **self._configuration(want)), clock=ctx.clock)
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
                FunctionName=name, **self._configuration(want)), clock=ctx.clock)
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
