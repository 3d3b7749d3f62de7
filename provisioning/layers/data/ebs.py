"""EBS encryption by default with the stack's EBS key: an account-and-region setting."""
from __future__ import annotations

from provisioning import naming
from provisioning.errors import UNIMPLEMENTED, emulator_lacks
from provisioning.recipe_names import EBS_DEFAULT, EBS_KEY
from provisioning.recipes.kms_key import KmsKey
from provisioning.resource import Drift, Resource, planned


class EbsDefaultEncryption(Resource):
    """An account-and-region setting, not a resource: "exists" means encryption by default is on
    with this stack's EBS key as the default key (or the endpoint cannot tell which key)."""
    name, service, kind = EBS_DEFAULT, "ec2", "EBS encryption by default (account-and-region setting)"
    depends_on = (EBS_KEY,)

    def __init__(self, key: KmsKey):
        self.key = key

    @staticmethod
    def default_key(ec2) -> str | None:
        """The region's default EBS key ARN, or None when the endpoint cannot say (moto)."""
        try:
            return ec2.get_ebs_default_kms_key_id()["KmsKeyId"]
        except UNIMPLEMENTED as error:
            if emulator_lacks(error, ec2):
                return None
            raise

    def _our_keys(self, ctx, deps) -> set[str]:
        key = deps.get(EBS_KEY)
        if key:
            return {key["arn"], key["id"]}
        return {arn for s in self.key.find_all(ctx, {}) for arn in (s["arn"], s["id"])}

    def _scope(self, ctx) -> str:
        return f"{ctx.account_id}/{ctx.region}"

    def find_all(self, ctx, deps):
        ec2 = ctx.client("ec2")
        if not ec2.get_ebs_encryption_by_default()["EbsEncryptionByDefault"]:
            return []
        current = self.default_key(ec2)
        if current is not None and current not in self._our_keys(ctx, deps):
            return []  # on, but with another key: this stack's setting is not there
        return [{"id": self._scope(ctx), "enabled": True, "key": current}]

    def create(self, ctx, deps):
        ec2, key = ctx.client("ec2"), deps[EBS_KEY]["arn"]
        # the key first: a crash in between leaves encryption off, so the next run does both again
        ec2.modify_ebs_default_kms_key_id(KmsKeyId=key)
        ec2.enable_ebs_encryption_by_default()
        ctx.reporter.note(f"{self.name}: EBS encryption by default is an account-and-region setting: "
                          f"every new EBS volume of account {ctx.account_id} in {ctx.region} is now "
                          f"encrypted, by default with {naming.kms_alias(ctx.stack, 'ebs')}")
        return {"id": self._scope(ctx), "enabled": True, "key": key}

    def drift(self, ctx, state, deps):
        key = deps.get(EBS_KEY)
        want = key["arn"] if key else planned(EBS_KEY)
        if state["key"] is not None and state["key"] != want:
            return [Drift("default key", state["key"], want)]
        return []

    def reconcile(self, ctx, state, drift, deps):
        key = deps[EBS_KEY]["arn"]
        ctx.client("ec2").modify_ebs_default_kms_key_id(KmsKeyId=key)
        return {**state, "key": key}

    def delete(self, ctx, state):
        try:
            ctx.client("ec2").reset_ebs_default_kms_key_id()
        except UNIMPLEMENTED as error:
            if not emulator_lacks(error, ctx.client("ec2")):
                raise
            ctx.reporter.note(f"{self.name}: this endpoint cannot reset the default EBS key; reset it "
                              "with 'aws ec2 reset-ebs-default-kms-key-id'")
            return
        ctx.reporter.note(f"{self.name}: EBS encryption by default is an account-and-region setting: "
                          f"the default key of account {ctx.account_id} in {ctx.region} is the "
                          "AWS-managed aws/ebs again; encryption by default stays on")

    def outputs(self, state):
        return {"scope": f"account-and-region {state['id']}", "key": state["key"] or "unknown"}
