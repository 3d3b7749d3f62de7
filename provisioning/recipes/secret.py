"""A Secrets Manager secret whose value is generated here once and never printed (the Django key,
the database credentials). A secret scheduled for deletion (a teardown) is not "found"; the next
create restores it, so the value survives a teardown and re-apply."""
from __future__ import annotations

import json
from typing import Callable

from botocore.exceptions import ClientError

from provisioning.errors import absent_on, error_code, tolerate
from provisioning.resource import Drift, Resource, planned

SECRET_RECOVERY_DAYS = 7  # the shortest window AWS allows: a teardown can be undone that long


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
        secret = absent_on(lambda: ctx.client("secretsmanager").describe_secret(
            SecretId=self.secret_name(ctx.stack)), "ResourceNotFoundException")
        if not secret or secret.get("DeletedDate"):
            return []  # scheduled for deletion: create restores it
        return [self._state(secret)]

    def _key_arn(self, deps) -> str | None:
        if not self.key:
            return None
        key = deps.get(self.key)
        return key["arn"] if key else planned(self.key)

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
