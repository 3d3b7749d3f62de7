"""The proof: every recorded call of each actor evaluated against the policies the stack gave it.

The policies are read back from IAM (inline policies, and the default version of any attached
one) and KMS (key policies), never taken from Python, so the proof checks what was provisioned.
A call is allowed when every request it maps to is (requests.py); KMS requests need the key
policy as well (evaluator.kms_decision). The least-privilege figure: per role, the actions granted
and never used by any allowed request of the flows.
"""
from __future__ import annotations

import json
import urllib.parse
from dataclasses import dataclass, field

from provisioning.permissions.evaluator import Principal, UnsupportedPolicy, evaluate, kms_decision, wildcard_match
from provisioning.permissions.requests import Request, World, requests_for


def _document(doc):
    return json.loads(urllib.parse.unquote(doc)) if isinstance(doc, str) else doc


def role_policies(iam, role_name: str) -> dict[str, dict]:
    """The role's inline policies and its attached policies' default versions, as IAM holds them."""
    found = {}
    for page in iam.get_paginator("list_role_policies").paginate(RoleName=role_name):
        for name in page["PolicyNames"]:
            found[name] = _document(iam.get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"])
    for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=role_name):
        for attached in page["AttachedPolicies"]:
            version = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]["DefaultVersionId"]
            found[attached["PolicyName"]] = _document(iam.get_policy_version(
                PolicyArn=attached["PolicyArn"], VersionId=version)["PolicyVersion"]["Document"])
    return found


@dataclass(frozen=True)
class ExpectedDenial:
    """A request the code makes knowing it is denied and handles (e.g. deploy's HeadObject of a
    bundle: 403 means "upload it"). The proof checks it is still denied, so the list stays true."""
    actor: str
    action: str
    resource: str  # a wildcard pattern
    why: str


@dataclass
class Outcome:
    failures: list[str] = field(default_factory=list)
    allowed: list[tuple[str, Request, str]] = field(default_factory=list)  # (actor, request, reason)
    expected_denials: list[str] = field(default_factory=list)


class Proof:
    def __init__(self, world: World, roles: dict[str, str], expected: tuple[ExpectedDenial, ...] = ()):
        """``roles``: actor -> IAM role name."""
        self.world, self.roles, self.expected = world, roles, expected
        iam = world.client("iam")
        self.policies = {actor: role_policies(iam, name) for actor, name in roles.items()}
        self.principals = {actor: Principal("AWS", iam.get_role(RoleName=name)["Role"]["Arn"], world.account)
                           for actor, name in roles.items()}
        self._key_policies: dict[str, dict] = {}
        self._bucket_policies: dict[str, dict | None] = {}

    def key_policy(self, key_arn: str) -> dict:
        if key_arn not in self._key_policies:
            self._key_policies[key_arn] = self.world.key_policy(key_arn)
        return self._key_policies[key_arn]

    def decide(self, actor: str, request: Request):
        identity, principal = self.policies[actor], self.principals[actor]
        if request.key:
            return kms_decision(identity, self.key_policy(request.key), request.action, request.resource,
                                request.context, principal=principal)
        policy = self.bucket_policy(request.resource)
        if policy is not None:  # same account: either may allow, an explicit Deny in either wins
            decision = evaluate({"bucket policy": policy}, request.action, request.resource, request.context,
                                principal=principal)
            if decision.explicit_deny:
                return decision
        return evaluate(identity, request.action, request.resource, request.context)

    def bucket_policy(self, resource: str) -> dict | None:
        if not resource.startswith("arn:") or resource.split(":")[2] != "s3":
            return None
        bucket = resource.split(":::", 1)[1].split("/", 1)[0]
        if bucket not in self._bucket_policies:
            self._bucket_policies[bucket] = self.world.bucket_policy(bucket)
        return self._bucket_policies[bucket]

    def _expected(self, actor: str, request: Request) -> ExpectedDenial | None:
        return next((e for e in self.expected if e.actor == actor and e.action == request.action
                     and wildcard_match(e.resource, request.resource)), None)

    def check(self, calls) -> Outcome:
        outcome, seen = Outcome(), {}
        for call in calls:
            if call.actor not in self.roles:
                outcome.failures.append(f"{call.actor}: no role is known for this actor "
                                        f"({call.service} {call.operation})")
                continue
            if call.error:
                outcome.failures.append(f"{call.actor}: {call.service} {call.operation}: {call.error}")
                continue
            denied = False
            for request in call.requests:
                if denied and request.implied_by:
                    continue  # AWS stops at the call's own denial: it never makes the implied KMS calls
                key = (call.actor, request.action, request.resource, json.dumps(request.context, sort_keys=True,
                                                                                 default=str))
                if key not in seen:
                    seen[key] = self._one(outcome, call.actor, request)
                denied = denied or not seen[key]
        return outcome

    def _one(self, outcome: Outcome, actor: str, request: Request) -> bool:
        """Record the decision on one request; True when it is allowed."""
        try:
            decision = self.decide(actor, request)
        except UnsupportedPolicy as error:
            outcome.failures.append(f"{actor}: {request.describe()} cannot be decided ({error})")
            return False
        expected = self._expected(actor, request)
        if expected is not None:
            if decision.allowed:
                outcome.failures.append(f"{actor}: {request.describe()} is allowed ({decision.reason}) but listed "
                                        f"as an expected denial ({expected.why}): drop it from the list")
            else:
                outcome.expected_denials.append(f"{actor}: {request.describe()}: denied as designed ({expected.why})")
            return decision.allowed
        if decision.allowed:
            outcome.allowed.append((actor, request, decision.reason))
        else:
            outcome.failures.append(f"{actor}: {request.action} on {request.resource} "
                                    f"is not allowed ({decision.reason})"
                                    + (f" [implied by {request.implied_by}]" if request.implied_by else ""))
        return decision.allowed

    def unused(self, outcome: Outcome) -> dict[str, list[str]]:
        """Per actor: "<policy>/<Sid>: <action>" granted and used by no allowed request on that
        statement's resources (conditions aside)."""
        unused = {}
        for actor, policies in self.policies.items():
            allowed = [r for who, r, _ in outcome.allowed if who == actor]
            rows = []
            for name, doc in sorted(policies.items()):
                for statement in doc.get("Statement", []):
                    if statement.get("Effect") != "Allow":
                        continue
                    for action in _listed(statement.get("Action", [])):
                        if not any(wildcard_match(action, r.action, ignore_case=True) and _covers(statement, r.resource)
                                   for r in allowed):
                            rows.append(f"{name}/{statement.get('Sid', '?')}: {action}")
            unused[actor] = rows
        return unused


def _listed(value) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _covers(statement: dict, resource: str) -> bool:
    return any(wildcard_match(pattern, resource) for pattern in _listed(statement.get("Resource", "*")))


def map_call(world: World):
    """The recorder's ``on_call``: the call's requests, computed as the call is made."""
    def on_call(call):
        call.requests = requests_for(world, call)
    return on_call
