"""Security groups and their rules; ``GroupRules`` for one direction of a group's rules as a recipe
of its own (groups that name each other)."""
from __future__ import annotations

from botocore.exceptions import ClientError

from provisioning.errors import StackError, error_code, tolerate
from provisioning.layers.network.vpc import ANYWHERE, LINGER_TIMEOUT, ec2_find
from provisioning.recipe_names import VPC
from provisioning.resource import Drift, Resource, dep_id, planned
from provisioning.retry import delete_once_free, waiter_config

# A rule: (protocol, from port, to port, kind, source) with kind "cidr", "cidr6", "sg" or "pl";
# in a recipe a "sg" source is the logical name of the group, resolved to its id through deps.
Rule = tuple
ALL_OUT: Rule = ("-1", None, None, "cidr", ANYWHERE)
_PERMISSION_KEYS = {"cidr": ("IpRanges", "CidrIp"), "cidr6": ("Ipv6Ranges", "CidrIpv6"),
                    "sg": ("UserIdGroupPairs", "GroupId"), "pl": ("PrefixListIds", "PrefixListId")}


def flatten(permissions: list[dict]) -> set[Rule]:
    rules = set()
    for perm in permissions:
        proto = perm["IpProtocol"]
        low, high = (None, None) if proto == "-1" else (perm.get("FromPort"), perm.get("ToPort"))
        for kind, (list_key, value_key) in _PERMISSION_KEYS.items():
            for item in perm.get(list_key, []):
                rules.add((proto, low, high, kind, item[value_key]))
    return rules


def permission(rule: Rule, description: str = "") -> dict:
    proto, low, high, kind, value = rule
    perm = {"IpProtocol": proto}
    if proto != "-1":
        perm.update(FromPort=low, ToPort=high)
    list_key, value_key = _PERMISSION_KEYS[kind]
    entry = {value_key: value}
    if description:
        entry["Description"] = description
    perm[list_key] = [entry]
    return perm


def show(rule: Rule) -> str:
    proto, low, high, kind, value = rule
    ports = "all" if proto == "-1" else (f"{proto}/{low}" if low == high else f"{proto}/{low}-{high}")
    return f"{ports} {value}"


class SecurityGroup(Resource):
    service, kind = "ec2", "security group"

    def __init__(self, name: str, description: str, ingress: dict[Rule, str],
                 egress: dict[Rule, str] | None):
        """``ingress`` / ``egress``: rule -> description; an empty egress means none at all, None
        that a ``GroupRules`` recipe owns the group's egress."""
        self.name, self.description, self.ingress, self.egress = name, description, ingress, egress
        groups = {r[4] for r in [*ingress, *(egress or {})] if r[3] == "sg"}
        self.depends_on = (VPC, *sorted(groups))

    def directions(self):
        return [(d, rules) for d, rules in (("ingress", self.ingress), ("egress", self.egress))
                if rules is not None]

    def group_name(self, ctx) -> str:
        return f"cloudsite-{ctx.stack}-{self.name.rsplit('.', 1)[-1]}"

    def find_all(self, ctx, deps):
        return [self._state(g) for g in ec2_find(ctx, "describe_security_groups", "SecurityGroups", self.name)]

    @staticmethod
    def _state(group):
        return {"id": group["GroupId"], "vpc": group["VpcId"],
                "ingress": flatten(group.get("IpPermissions", [])),
                "egress": flatten(group.get("IpPermissionsEgress", []))}

    def create(self, ctx, deps):
        ec2, vpc = ctx.client("ec2"), dep_id(deps, VPC)
        try:
            group_id = ec2.create_security_group(
                GroupName=self.group_name(ctx), Description=self.description, VpcId=vpc,
                TagSpecifications=ctx.tag_specifications("security-group", self.name))["GroupId"]
        except ClientError as error:
            if error_code(error) == "InvalidGroup.Duplicate":
                raise StackError(f"a security group named {self.group_name(ctx)} exists in {vpc} without "
                                 f"this stack's tags; delete it or tag it {self.name}") from None
            raise
        ec2.get_waiter("security_group_exists").wait(GroupIds=[group_id], WaiterConfig=waiter_config(2, 60))
        # AWS gives a new VPC group one rule: all traffic out. Reconcile does the rest.
        return {"id": group_id, "vpc": vpc, "ingress": set(), "egress": {ALL_OUT}}

    def drift(self, ctx, state, deps):
        drift = []
        if state["vpc"] != dep_id(deps, VPC):
            drift.append(Drift("vpc", state["vpc"], dep_id(deps, VPC), fixable=False))
        for direction, rules in self.directions():
            want = set(resolve(rules, deps))
            if state[direction] != want:
                drift.append(Drift(direction, {show(r) for r in state[direction]}, {show(r) for r in want}))
        return drift

    def reconcile(self, ctx, state, drift, deps):
        new_state = dict(state)
        for direction, rules in self.directions():
            want = resolve(rules, deps)
            sync_rules(ctx.client("ec2"), state["id"], direction, state[direction], want)
            new_state[direction] = set(want)
        return new_state

    def delete(self, ctx, state):
        ec2 = ctx.client("ec2")
        delete_once_free(lambda: ec2.delete_security_group(GroupId=state["id"]), gone="InvalidGroup.NotFound",
                         busy=["DependencyViolation"], timeout=LINGER_TIMEOUT, clock=ctx.clock)

    def outputs(self, state):
        return {"group-id": state["id"]}


def resolve(rules: dict[Rule, str], deps) -> dict[Rule, str]:
    """Rules with their "sg" sources (logical names) replaced by the groups' ids."""
    resolved = {}
    for rule, description in rules.items():
        if rule[3] == "sg":
            rule = (*rule[:4], dep_id(deps, rule[4]) or planned(rule[4]))
        resolved[rule] = description
    return resolved


def sync_rules(ec2, group_id: str, direction: str, have: set[Rule], want: dict[Rule, str],
               descriptions: dict[Rule, str] | None = None) -> None:
    """Authorize what is missing, revoke what is extra, in one direction of one group. A revoked
    rule's description (``descriptions``) is sent along where known: AWS matches a rule without it,
    moto only with it."""
    authorize, revoke = {"ingress": (ec2.authorize_security_group_ingress, ec2.revoke_security_group_ingress),
                         "egress": (ec2.authorize_security_group_egress, ec2.revoke_security_group_egress)}[direction]
    missing = [permission(r, want[r]) for r in sorted(set(want) - have, key=str)]
    extra = [permission(r, (descriptions or {}).get(r, "")) for r in sorted(have - set(want), key=str)]
    if missing:
        try:
            authorize(GroupId=group_id, IpPermissions=missing)
        except ClientError as error:
            if error_code(error) != "InvalidPermission.Duplicate":
                raise
            for perm in missing:  # some were there already: add the others one by one
                with tolerate("InvalidPermission.Duplicate"):
                    authorize(GroupId=group_id, IpPermissions=[perm])
    if extra:
        with tolerate("InvalidPermission.NotFound"):
            revoke(GroupId=group_id, IpPermissions=extra)


class GroupRules(Resource):
    """One direction of a group's rules as a recipe of its own, for groups that name each other
    (two recipes cannot each depend on the other), as CloudFormation's
    AWS::EC2::SecurityGroupEgress. The group's own recipe leaves that direction alone. "Exists"
    once one of its rules is in place: until then the group has AWS's default rule only."""
    service, kind = "ec2", "security group rules"

    def __init__(self, name: str, group: str, direction: str, rules: dict[Rule, str]):
        self.name, self.group, self.direction, self.rules = name, group, direction, rules
        self.depends_on = (group, *sorted({r[4] for r in rules if r[3] == "sg"}))

    def _wanted(self, ctx, deps) -> dict[Rule, str]:
        """The rules with group ids; in teardown (no deps) the groups are looked up by their tags."""
        known = dict(deps)
        for name in self.depends_on:
            if known.get(name) is None:
                found = ec2_find(ctx, "describe_security_groups", "SecurityGroups", name)
                known[name] = {"id": found[0]["GroupId"]} if found else None
        return resolve(self.rules, known)

    def find_all(self, ctx, deps):
        key = "IpPermissions" if self.direction == "ingress" else "IpPermissionsEgress"
        want = set(self._wanted(ctx, deps))
        found = []
        for group in ec2_find(ctx, "describe_security_groups", "SecurityGroups", self.group):
            have = flatten(group.get(key, []))
            if have & want:
                found.append({"id": f"{group['GroupId']} {self.direction}", "group": group["GroupId"],
                              "rules": have})
        return found

    def create(self, ctx, deps):
        group = deps[self.group]["id"]
        have = flatten(ctx.client("ec2").describe_security_groups(GroupIds=[group])["SecurityGroups"][0].get(
            "IpPermissions" if self.direction == "ingress" else "IpPermissionsEgress", []))
        state = {"id": f"{group} {self.direction}", "group": group, "rules": have}
        return self.reconcile(ctx, state, [], deps)

    def drift(self, ctx, state, deps):
        want = set(self._wanted(ctx, deps))
        if state["rules"] == want:
            return []
        return [Drift(self.direction, {show(r) for r in state["rules"]}, {show(r) for r in want})]

    def reconcile(self, ctx, state, drift, deps):
        want = self._wanted(ctx, deps)
        sync_rules(ctx.client("ec2"), state["group"], self.direction, state["rules"], want)
        return {**state, "rules": set(want)}

    def delete(self, ctx, state):
        """Only its rules go (so the groups they name can be deleted); the group goes with its own recipe."""
        with tolerate("InvalidGroup.NotFound"):
            sync_rules(ctx.client("ec2"), state["group"], self.direction, state["rules"], {},
                       descriptions=self._wanted(ctx, {}))

    def outputs(self, state):
        return {"group-id": state["group"]}
