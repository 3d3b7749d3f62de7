"""The one KMS key recipe of every layer: a customer-managed key of the stack,
``alias/cloudsite/<stack>/<purpose>``, rotation on (the data layer's S3, RDS and EBS keys, the
pipeline's SNS key).

A key is found by its alias (the tagging API only for a key a crash left without one); a key
pending deletion is never "found", so an apply after a teardown makes a new key and re-points
the alias. Teardown removes the alias, then schedules the key's deletion with the shortest
window AWS allows (7 days) — unless something still needs the key (``users``): then teardown
says so, and the alias stays so a re-apply finds the key.
"""
from __future__ import annotations

import json
from typing import Callable

from botocore.exceptions import ClientError

from provisioning import naming
from provisioning.errors import absent_on, error_code, tolerate
from provisioning.policy import document
from provisioning.resource import Drift, Resource

KEY_DELETION_WINDOW_DAYS = 7  # the shortest AWS allows


def root_statement(ctx) -> dict:
    return {"Sid": "Enable IAM policies of the account", "Effect": "Allow",
            "Principal": {"AWS": f"arn:{ctx.partition}:iam::{ctx.account_id}:root"},
            "Action": "kms:*", "Resource": "*"}


class KmsKey(Resource):
    """A customer-managed key of the stack, ``alias/cloudsite/<stack>/<purpose>``, rotation on; the
    one key recipe of every layer (the data layer's S3, RDS and EBS keys, the pipeline's SNS key).

    Found by its alias first (DescribeKey on the alias is strongly consistent), and only when the
    alias does not lead to a live key of this recipe through the eventually consistent Resource
    Groups Tagging API: that finds a key a crash left without its alias. A key pending deletion is
    gone as far as the stack is concerned, so an apply after a teardown makes a new key and
    re-points the alias.

    ``statements(ctx)`` adds key-policy statements to the account's (EBS through EC2, SNS);
    ``users(ctx, state)`` says what still needs the key (a final DB snapshot, a baked AMI): while
    anything does, teardown keeps the key and its alias and says so.
    """
    service, kind = "kms", "KMS key"
    LIVE = ("Enabled", "Disabled", "PendingImport", "Creating", "Unavailable", "Updating")

    def __init__(self, purpose: str, description: str, *, layer: str = "data",
                 statements: Callable[..., list[dict]] | None = None,
                 users: Callable[..., list[str]] | None = None):
        self.purpose, self.description = purpose, description
        self.name = f"{layer}.kms.{purpose}"
        self.statements, self.users = statements, users

    def alias(self, ctx) -> str:
        return naming.kms_alias(ctx.stack, self.purpose)

    def policy(self, ctx) -> dict:
        extra = self.statements(ctx) if self.statements else []
        return document(root_statement(ctx), *extra, id=f"cloudsite-{ctx.stack}-{self.purpose}")

    # --- find -------------------------------------------------------------------------------
    def _aliased(self, ctx) -> dict | None:
        """The KeyMetadata of the key the alias points at, or None without the alias."""
        answer = absent_on(lambda: ctx.client("kms").describe_key(KeyId=self.alias(ctx)), "NotFoundException")
        return answer["KeyMetadata"] if answer else None

    def _alias_target(self, ctx) -> str | None:
        meta = self._aliased(ctx)
        return meta["KeyId"] if meta else None

    def _is_ours(self, ctx, key_id: str) -> bool:
        """Tagged as this recipe of this stack (an alias moved by hand to another key is not)."""
        tags = ctx.client("kms").list_resource_tags(KeyId=key_id).get("Tags", [])
        want = {t["Key"]: t["Value"] for t in ctx.tags(self.name)[:2]}
        return all({t["TagKey"]: t["TagValue"] for t in tags}.get(k) == v for k, v in want.items())

    def _tagged(self, ctx) -> list[dict]:
        """The stack's live keys tagged as this recipe, through the tagging API."""
        kms = ctx.client("kms")
        pages = ctx.client("resourcegroupstaggingapi").get_paginator("get_resources").paginate(
            ResourceTypeFilters=["kms:key"], TagFilters=[
                {"Key": t["Key"], "Values": [t["Value"]]} for t in ctx.tags(self.name)[:2]])
        found = []
        for arn in sorted(m["ResourceARN"] for page in pages for m in page["ResourceTagMappingList"]):
            answer = absent_on(lambda: kms.describe_key(KeyId=arn), "NotFoundException")
            if answer and answer["KeyMetadata"]["KeyState"] in self.LIVE:
                found.append(answer["KeyMetadata"])
        return found

    def _state(self, ctx, meta: dict, alias_target: str | None) -> dict:
        return {"id": meta["KeyId"], "arn": meta["Arn"], "key_state": meta["KeyState"],
                "alias": self.alias(ctx), "alias_target": alias_target}

    def find_all(self, ctx, deps):
        aliased = self._aliased(ctx)
        if aliased and aliased["KeyState"] in self.LIVE and self._is_ours(ctx, aliased["KeyId"]):
            return [self._state(ctx, aliased, aliased["KeyId"])]
        # no alias (a crash between the key and its alias, or a teardown), or on a key pending
        # deletion or not ours: the tagging API finds a key of ours left without its alias
        target = aliased["KeyId"] if aliased else None
        return [self._state(ctx, meta, target) for meta in self._tagged(ctx)]

    # --- create, drift, reconcile -------------------------------------------------------------
    def create(self, ctx, deps):
        meta = ctx.client("kms").create_key(
            Description=f"cloudsite {ctx.stack}: {self.description}", KeyUsage="ENCRYPT_DECRYPT",
            KeySpec="SYMMETRIC_DEFAULT", Policy=json.dumps(self.policy(ctx)),
            Tags=[{"TagKey": t["Key"], "TagValue": t["Value"]} for t in ctx.tags(self.name)])["KeyMetadata"]
        # rotation, alias: reconcile (the engine checks drift right after a create)
        return self._state(ctx, meta, self._alias_target(ctx))

    def drift(self, ctx, state, deps):
        kms, drift = ctx.client("kms"), []
        if state["key_state"] != "Enabled":
            drift.append(Drift("key state", state["key_state"], "Enabled",
                               fixable=state["key_state"] == "Disabled"))
        if state["key_state"] in ("Enabled", "Disabled"):
            rotation = kms.get_key_rotation_status(KeyId=state["id"])["KeyRotationEnabled"]
            if not rotation:
                drift.append(Drift("rotation", False, True))
            policy = json.loads(kms.get_key_policy(KeyId=state["id"], PolicyName="default")["Policy"])
            if policy != self.policy(ctx):
                drift.append(Drift("key policy", policy.get("Id") or "other", self.policy(ctx)["Id"]))
        if state["alias_target"] != state["id"]:
            drift.append(Drift(f"alias {state['alias']}", state["alias_target"], state["id"]))
        return drift

    def reconcile(self, ctx, state, drift, deps):
        kms, settings = ctx.client("kms"), {d.setting for d in drift}
        if "key state" in settings:
            kms.enable_key(KeyId=state["id"])
        if "key policy" in settings:
            kms.put_key_policy(KeyId=state["id"], PolicyName="default", Policy=json.dumps(self.policy(ctx)))
        if "rotation" in settings:
            kms.enable_key_rotation(KeyId=state["id"])
        if state["alias_target"] != state["id"]:
            try:
                kms.create_alias(AliasName=state["alias"], TargetKeyId=state["id"])
            except ClientError as error:
                if error_code(error) != "AlreadyExistsException":
                    raise
                # left by a key now pending deletion (teardown, then apply), or moved by hand
                kms.update_alias(AliasName=state["alias"], TargetKeyId=state["id"])
        return {**state, "key_state": "Enabled", "alias_target": state["id"]}

    # --- delete -----------------------------------------------------------------------------
    def delete(self, ctx, state):
        users = self.users(ctx, state) if self.users else []
        if users:
            # a snapshot or image encrypted with a deleted key can never be restored or launched
            ctx.reporter.note(f"{self.name}: KEPT key {state['id']} and {state['alias']}: {kept_because(users)}")
            return
        kms = ctx.client("kms")
        # the alias first: a key pending deletion is not found again, its alias would be orphaned
        if self._alias_target(ctx) == state["id"]:
            with tolerate("NotFoundException"):
                kms.delete_alias(AliasName=state["alias"])
        with tolerate("NotFoundException", "KMSInvalidStateException"):  # already pending deletion
            kms.schedule_key_deletion(KeyId=state["id"], PendingWindowInDays=KEY_DELETION_WINDOW_DAYS)
        ctx.reporter.note(f"{self.name}: key {state['id']} scheduled for deletion in "
                          f"{KEY_DELETION_WINDOW_DAYS} days (cancel_key_deletion undoes it until then)")

    def outputs(self, state):
        return {"key-arn": state["arn"], "alias": state["alias"]}


def kept_because(users: list[str]) -> str:
    """One line: what needs the key, and how to go on."""
    shown = ", ".join(users[:3]) + (f" and {len(users) - 3} more" if len(users) > 3 else "")
    return (f"{shown} {'is' if len(users) == 1 else 'are'} encrypted with it; delete "
            f"{'it' if len(users) == 1 else 'them'} when no longer needed, then run teardown again "
            "to schedule the key's deletion")


def key_names(ctx, state: dict) -> set[str]:
    """The ways AWS may name a key in a KmsKeyId field: key ARN, key id, alias name, alias ARN."""
    names = {state["arn"], state["id"]}
    if state.get("alias"):
        names |= {state["alias"], ctx.arn("kms", state["alias"])}
    return names
