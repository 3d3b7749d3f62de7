"""IAM recipes every layer shares: a role with inline policies only, an instance profile.

IAM names are account-wide, so a role is found by its name (``naming.role``); a role of that name
without this stack's tag is refused rather than adopted. Policies are documents built from the
stack's outputs at apply time; drift compares them as canonical JSON and puts them back.
Nothing is attached from AWS's managed policies: they grant ``Resource: "*"`` where this stack
can name its own ARNs.
"""
from __future__ import annotations

import json
from typing import Callable

from provisioning import naming
from provisioning.errors import StackError, absent_on, tolerate
from provisioning.policy import canonical
from provisioning.resource import Deps, Drift, Resource
from provisioning.retry import retry_on, waiter_config

PolicyBuilder = Callable[[object, Deps], "dict[str, dict] | None"]


class Role(Resource):
    service, kind = "iam", "IAM role"

    def __init__(self, name: str, purpose: str, description: str, *, trust: Callable[[object], dict],
                 policies: PolicyBuilder, depends_on: tuple[str, ...] = ()):
        """``naming.role(stack, purpose)``; ``trust(ctx)``: the trust policy; ``policies(ctx, deps)``:
        inline policy name -> document, or None while a dependency is not known yet (plan mode)."""
        self.name, self.purpose, self.description = name, purpose, description
        self.trust, self.policy_builder, self.depends_on = trust, policies, depends_on

    def role_name(self, stack: str) -> str:
        return naming.role(stack, self.purpose)

    def trust_document(self, ctx) -> dict:
        return self.trust(ctx)

    def find_all(self, ctx, deps):
        iam, name = ctx.client("iam"), self.role_name(ctx.stack)
        role = absent_on(lambda: iam.get_role(RoleName=name)["Role"], "NoSuchEntity")
        if role is None:
            return []
        tags = {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName=name)["Tags"]}
        if tags.get(naming.STACK_TAG) != ctx.stack:
            raise StackError(f"IAM role {name} exists without the tag {naming.STACK_TAG}={ctx.stack}; "
                             "it is not this stack's: delete or rename it")
        inline = {}
        for page in iam.get_paginator("list_role_policies").paginate(RoleName=name):
            for policy in page["PolicyNames"]:
                inline[policy] = iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"]
        attached = [p["PolicyArn"] for page in iam.get_paginator("list_attached_role_policies").paginate(
            RoleName=name) for p in page["AttachedPolicies"]]
        return [{"id": name, "arn": role["Arn"], "trust": role["AssumeRolePolicyDocument"],
                 "policies": inline, "attached": sorted(attached)}]

    def create(self, ctx, deps):
        iam, name = ctx.client("iam"), self.role_name(ctx.stack)
        with tolerate("EntityAlreadyExists"):  # a crash right after the call: find_all checks its tags
            iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(self.trust_document(ctx)),
                            Description=self.description, Tags=ctx.tags(self.name))
        iam.get_waiter("role_exists").wait(RoleName=name, WaiterConfig=waiter_config(2, 30))
        return self.find_all(ctx, deps)[0]

    def drift(self, ctx, state, deps):
        drift = []
        if canonical(state["trust"]) != canonical(self.trust_document(ctx)):
            drift.append(Drift("trust policy", "changed", "as built"))
        want = self.policy_builder(ctx, deps)
        if want is None:
            return drift + [Drift("policies", "-", "known once the stack's outputs exist")]
        have = state["policies"]
        for policy in sorted(set(want) | set(have)):
            if policy not in want:
                drift.append(Drift(f"policy {policy}", "present", None))
            elif policy not in have or canonical(have[policy]) != canonical(want[policy]):
                drift.append(Drift(f"policy {policy}", "differs" if policy in have else None, "as built"))
        if state["attached"]:
            drift.append(Drift("attached policies", state["attached"], []))
        return drift

    def reconcile(self, ctx, state, drift, deps):
        iam, name = ctx.client("iam"), state["id"]
        if canonical(state["trust"]) != canonical(self.trust_document(ctx)):
            iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(self.trust_document(ctx)))
        want = self.policy_builder(ctx, deps) or {}
        for policy, doc in sorted(want.items()):
            if canonical(state["policies"].get(policy, {})) != canonical(doc):
                iam.put_role_policy(RoleName=name, PolicyName=policy, PolicyDocument=json.dumps(doc))
        for policy in sorted(set(state["policies"]) - set(want)):
            with tolerate("NoSuchEntity"):
                iam.delete_role_policy(RoleName=name, PolicyName=policy)
        for arn in state["attached"]:
            with tolerate("NoSuchEntity"):
                iam.detach_role_policy(RoleName=name, PolicyArn=arn)
        return {**state, "trust": self.trust_document(ctx), "policies": want, "attached": []}

    def delete(self, ctx, state):
        iam, name = ctx.client("iam"), state["id"]
        for profile in iam.list_instance_profiles_for_role(RoleName=name)["InstanceProfiles"]:
            with tolerate("NoSuchEntity"):
                iam.remove_role_from_instance_profile(InstanceProfileName=profile["InstanceProfileName"],
                                                      RoleName=name)
        for arn in state["attached"]:
            with tolerate("NoSuchEntity"):
                iam.detach_role_policy(RoleName=name, PolicyArn=arn)
        for policy in state["policies"]:
            with tolerate("NoSuchEntity"):
                iam.delete_role_policy(RoleName=name, PolicyName=policy)
        with tolerate("NoSuchEntity"):
            iam.delete_role(RoleName=name)

    def outputs(self, state):
        return {"role-arn": state["arn"]}


class InstanceProfile(Resource):
    service, kind = "iam", "instance profile"

    def __init__(self, name: str, purpose: str, role: Role):
        """``naming.instance_profile(stack, purpose)``, holding ``role``."""
        self.name, self.purpose, self.role = name, purpose, role
        self.depends_on = (role.name,)

    def profile_name(self, stack: str) -> str:
        return naming.instance_profile(stack, self.purpose)

    def find_all(self, ctx, deps):
        iam, name = ctx.client("iam"), self.profile_name(ctx.stack)
        profile = absent_on(lambda: iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"],
                            "NoSuchEntity")
        if profile is None:
            return []
        return [{"id": name, "arn": profile["Arn"], "roles": sorted(r["RoleName"] for r in profile["Roles"])}]

    def create(self, ctx, deps):
        iam, name = ctx.client("iam"), self.profile_name(ctx.stack)
        with tolerate("EntityAlreadyExists"):
            iam.create_instance_profile(InstanceProfileName=name, Tags=ctx.tags(self.name))
        iam.get_waiter("instance_profile_exists").wait(InstanceProfileName=name,
                                                       WaiterConfig=waiter_config(2, 30))
        return self.find_all(ctx, deps)[0]  # the role: reconcile

    def drift(self, ctx, state, deps):
        want = [self.role.role_name(ctx.stack)]
        return [] if state["roles"] == want else [Drift("role", state["roles"], want)]

    def reconcile(self, ctx, state, drift, deps):
        iam, want = ctx.client("iam"), self.role.role_name(ctx.stack)
        for other in state["roles"]:
            if other != want:
                with tolerate("NoSuchEntity"):
                    iam.remove_role_from_instance_profile(InstanceProfileName=state["id"], RoleName=other)
        if want not in state["roles"]:
            with tolerate("LimitExceeded"):  # a profile holds one role: it is there already
                iam.add_role_to_instance_profile(InstanceProfileName=state["id"], RoleName=want)
        return {**state, "roles": [want]}

    def delete(self, ctx, state):
        iam = ctx.client("iam")
        for role in state["roles"]:
            with tolerate("NoSuchEntity"):
                iam.remove_role_from_instance_profile(InstanceProfileName=state["id"], RoleName=role)
        with tolerate("NoSuchEntity"):
            iam.delete_instance_profile(InstanceProfileName=state["id"])

    def outputs(self, state):
        return {"instance-profile-arn": state["arn"]}


# EC2 rejects a new instance profile for a few seconds ("Invalid IAM Instance Profile name"); so do
# Auto Scaling and launch templates. Retried for this long, for that message only.
PROFILE_PROPAGATION_TIMEOUT = 120
PROFILE_NOT_VISIBLE = ("InvalidParameterValue", "ValidationError")
PROFILE_MESSAGE = "instance profile"


def retry_profile_propagation(call, *, clock):
    """``call`` (a launch naming a new instance profile), retried while EC2 or Auto Scaling do not
    see the profile yet."""
    return retry_on(PROFILE_NOT_VISIBLE, call, clock=clock, message=PROFILE_MESSAGE,
                    timeout=PROFILE_PROPAGATION_TIMEOUT)
