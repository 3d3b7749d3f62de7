"""The network layer: VPC, subnets in three zones, internet gateway, route tables, security groups.

* VPC with DNS support and DNS hostnames on.
* Three public subnets (one per zone, public IPs on launch: the instances reach AWS APIs through
  the internet gateway, there is no NAT gateway) and three private subnets for the database, whose
  route table has no route out of the VPC.
* Security groups: load balancer (443 and 80 from anywhere), app (its port only from the load
  balancer's group; no SSH: Session Manager instead), database (3306 only from the app's group and
  the db-admin function's; no egress), db-admin function (no ingress; egress 3306 to the database
  group only — a rule of its own recipe, since the two groups name each other).
* Outputs under ``/cloudsite/<stack>/network/``.
"""
from __future__ import annotations

import ipaddress

from botocore.exceptions import ClientError

from provisioning import naming
from provisioning.config import StackConfig
from provisioning.errors import StackError, error_code, tolerate
from provisioning.layer import Layer
from provisioning.outputs import Parameters, parameter_path
from provisioning.recipe_names import (APP_SG, DB_ADMIN_EGRESS, DB_ADMIN_SG, DB_SG, IGW, LB_SG, PRIVATE_RT,
                                       PUBLIC_RT, VPC, ZONES, private_subnet, public_subnet)
from provisioning.resource import Drift, Resource, dep_id, planned
from provisioning.retry import delete_once_free, retry_on, wait_until, waiter_config

MYSQL_PORT = naming.DB_PORT
ANYWHERE = "0.0.0.0/0"
# Deleting a group or subnet fails while network interfaces of a deleted load balancer or Lambda
# linger, for minutes: retry DependencyViolation that long.
LINGER_TIMEOUT = 20 * 60


def subnet_cidrs(vpc_cidr: str) -> tuple[list[str], list[str]]:
    """Sixteen equal blocks: public subnets take the first three, private ones start halfway."""
    net = ipaddress.IPv4Network(vpc_cidr)
    blocks = [str(b) for b in net.subnets(new_prefix=net.prefixlen + 4)]
    return blocks[0:ZONES], blocks[8:8 + ZONES]


def ec2_find(ctx, method: str, key: str, resource: str, filters: list | None = None) -> list[dict]:
    """Everything of one kind tagged by this stack as ``resource``, in a stable order."""
    pages = ctx.client("ec2").get_paginator(method).paginate(
        Filters=ctx.tag_filters(resource) + (filters or []))
    return [item for page in pages for item in page[key]]


# --- VPC -------------------------------------------------------------------------------------
class Vpc(Resource):
    name, service, kind = VPC, "ec2", "VPC"
    ATTRIBUTES = ("EnableDnsSupport", "EnableDnsHostnames")

    def __init__(self, cidr: str):
        self.cidr = cidr

    def find_all(self, ctx, deps):
        return [{"id": v["VpcId"], "cidr": v["CidrBlock"]}
                for v in ec2_find(ctx, "describe_vpcs", "Vpcs", self.name)]

    def create(self, ctx, deps):
        ec2 = ctx.client("ec2")
        vpc = ec2.create_vpc(CidrBlock=self.cidr,
                             TagSpecifications=ctx.tag_specifications("vpc", self.name))["Vpc"]
        ec2.get_waiter("vpc_available").wait(VpcIds=[vpc["VpcId"]], WaiterConfig=waiter_config(2, 60))
        return {"id": vpc["VpcId"], "cidr": vpc["CidrBlock"]}

    def drift(self, ctx, state, deps):
        ec2 = ctx.client("ec2")
        drift = []
        if state["cidr"] != self.cidr:
            drift.append(Drift("cidr", state["cidr"], self.cidr, fixable=False))
        for attribute in self.ATTRIBUTES:
            key = attribute[0].lower() + attribute[1:]
            value = ec2.describe_vpc_attribute(VpcId=state["id"], Attribute=key)[attribute]["Value"]
            if value is not True:
                drift.append(Drift(attribute, value, True))
        return drift

    def reconcile(self, ctx, state, drift, deps):
        for item in drift:  # one attribute per call, as the API demands
            ctx.client("ec2").modify_vpc_attribute(VpcId=state["id"], **{item.setting: {"Value": True}})

    def delete(self, ctx, state):
        ec2 = ctx.client("ec2")
        delete_once_free(lambda: ec2.delete_vpc(VpcId=state["id"]), gone="InvalidVpcID.NotFound",
                         busy=["DependencyViolation"], timeout=LINGER_TIMEOUT, clock=ctx.clock)
        wait_until(lambda: not ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [state["id"]]}])["Vpcs"],
                   what=f"VPC {state['id']} to be deleted", clock=ctx.clock)

    def outputs(self, state):
        return {"vpc-id": state["id"]}


# --- Internet gateway ------------------------------------------------------------------------
class InternetGateway(Resource):
    name, service, kind = IGW, "ec2", "internet gateway"
    depends_on = (VPC,)

    def find_all(self, ctx, deps):
        return [{"id": g["InternetGatewayId"], "vpcs": sorted(a["VpcId"] for a in g.get("Attachments", []))}
                for g in ec2_find(ctx, "describe_internet_gateways", "InternetGateways", self.name)]

    def create(self, ctx, deps):
        ec2 = ctx.client("ec2")
        gateway = ec2.create_internet_gateway(
            TagSpecifications=ctx.tag_specifications("internet-gateway", self.name))["InternetGateway"]
        gateway_id = gateway["InternetGatewayId"]
        ec2.get_waiter("internet_gateway_exists").wait(InternetGatewayIds=[gateway_id],
                                                       WaiterConfig=waiter_config(2, 60))
        return {"id": gateway_id, "vpcs": []}

    def drift(self, ctx, state, deps):
        want = [dep_id(deps, VPC) or planned(VPC)]
        return [] if state["vpcs"] == want else [Drift("attached to", state["vpcs"], want)]

    def reconcile(self, ctx, state, drift, deps):
        ec2, vpc = ctx.client("ec2"), dep_id(deps, VPC)
        for other in state["vpcs"]:
            if other != vpc:
                self._detach(ctx, state["id"], other)
        if vpc not in state["vpcs"]:
            with tolerate("Resource.AlreadyAssociated"):
                ec2.attach_internet_gateway(InternetGatewayId=state["id"], VpcId=vpc)
        return {"id": state["id"], "vpcs": [vpc]}

    @staticmethod
    def _detach(ctx, gateway_id, vpc_id):
        # DependencyViolation while addresses mapped in the VPC are being released
        ec2 = ctx.client("ec2")
        with tolerate("Gateway.NotAttached"):
            retry_on(["DependencyViolation"],
                     lambda: ec2.detach_internet_gateway(InternetGatewayId=gateway_id, VpcId=vpc_id),
                     timeout=LINGER_TIMEOUT, clock=ctx.clock)

    def delete(self, ctx, state):
        ec2 = ctx.client("ec2")
        for vpc in state["vpcs"]:
            self._detach(ctx, state["id"], vpc)
        with tolerate("InvalidInternetGatewayID.NotFound"):
            ec2.delete_internet_gateway(InternetGatewayId=state["id"])

    def outputs(self, state):
        return {"internet-gateway-id": state["id"]}


# --- Subnets ---------------------------------------------------------------------------------
class Subnet(Resource):
    service, kind = "ec2", "subnet"
    depends_on = (VPC,)

    def __init__(self, name: str, zone_index: int, cidr: str, public: bool):
        self.name, self.zone_index, self.cidr, self.public = name, zone_index, cidr, public

    def find_all(self, ctx, deps):
        return [self._state(s) for s in ec2_find(ctx, "describe_subnets", "Subnets", self.name)]

    @staticmethod
    def _state(subnet):
        return {"id": subnet["SubnetId"], "vpc": subnet["VpcId"], "cidr": subnet["CidrBlock"],
                "zone": subnet["AvailabilityZone"], "public_ip": subnet.get("MapPublicIpOnLaunch", False)}

    def create(self, ctx, deps):
        ec2 = ctx.client("ec2")
        subnet = ec2.create_subnet(
            VpcId=dep_id(deps, VPC), CidrBlock=self.cidr,
            AvailabilityZone=ctx.availability_zones()[self.zone_index],
            TagSpecifications=ctx.tag_specifications("subnet", self.name))["Subnet"]
        ec2.get_waiter("subnet_available").wait(SubnetIds=[subnet["SubnetId"]],
                                                WaiterConfig=waiter_config(2, 60))
        return self._state(subnet)

    def drift(self, ctx, state, deps):
        drift = []
        vpc = dep_id(deps, VPC)
        for setting, have, want in (("vpc", state["vpc"], vpc), ("cidr", state["cidr"], self.cidr),
                                    ("zone", state["zone"], ctx.availability_zones()[self.zone_index])):
            if have != want:
                drift.append(Drift(setting, have, want, fixable=False))
        if state["public_ip"] != self.public:
            drift.append(Drift("MapPublicIpOnLaunch", state["public_ip"], self.public))
        return drift

    def reconcile(self, ctx, state, drift, deps):
        ctx.client("ec2").modify_subnet_attribute(SubnetId=state["id"],
                                                  MapPublicIpOnLaunch={"Value": self.public})
        return {**state, "public_ip": self.public}

    def delete(self, ctx, state):
        ec2 = ctx.client("ec2")
        with tolerate("InvalidSubnetID.NotFound"):
            retry_on(["DependencyViolation"], lambda: ec2.delete_subnet(SubnetId=state["id"]), timeout=LINGER_TIMEOUT, clock=ctx.clock)

    def outputs(self, state):
        return {"subnet-id": state["id"], "zone": state["zone"]}


# --- Route tables ----------------------------------------------------------------------------
class RouteTable(Resource):
    service, kind = "ec2", "route table"

    def __init__(self, name: str, subnets: list[str], routes: dict[str, str]):
        """``routes``: destination CIDR -> logical name of the gateway it goes to."""
        self.name, self.subnets, self.routes = name, subnets, routes
        self.depends_on = (VPC, *subnets, *sorted(set(routes.values())))

    def find_all(self, ctx, deps):
        return [self._state(t) for t in ec2_find(ctx, "describe_route_tables", "RouteTables", self.name)]

    @staticmethod
    def _state(table):
        routes = {}
        for route in table.get("Routes", []):
            target = (route.get("GatewayId") or route.get("NatGatewayId") or route.get("InstanceId")
                      or route.get("NetworkInterfaceId") or route.get("TransitGatewayId")
                      or route.get("VpcPeeringConnectionId") or "?")
            if target != "local" and route.get("Origin") != "CreateRouteTable" and "DestinationCidrBlock" in route:
                routes[route["DestinationCidrBlock"]] = target
        associations = {a["SubnetId"]: a["RouteTableAssociationId"]
                        for a in table.get("Associations", []) if not a.get("Main") and a.get("SubnetId")}
        return {"id": table["RouteTableId"], "vpc": table["VpcId"], "routes": routes,
                "associations": associations}

    def create(self, ctx, deps):
        table = ctx.client("ec2").create_route_table(
            VpcId=dep_id(deps, VPC),
            TagSpecifications=ctx.tag_specifications("route-table", self.name))["RouteTable"]
        return self._state(table)  # routes and associations: reconcile

    def _wanted(self, deps):
        routes = {cidr: dep_id(deps, gw) or planned(gw) for cidr, gw in self.routes.items()}
        subnets = {dep_id(deps, s) or planned(s) for s in self.subnets}
        return routes, subnets

    def drift(self, ctx, state, deps):
        routes, subnets = self._wanted(deps)
        drift = []
        if state["vpc"] != dep_id(deps, VPC):
            drift.append(Drift("vpc", state["vpc"], dep_id(deps, VPC), fixable=False))
        for cidr in sorted(set(routes) | set(state["routes"])):
            if state["routes"].get(cidr) != routes.get(cidr):
                drift.append(Drift(f"route {cidr}", state["routes"].get(cidr), routes.get(cidr)))
        if set(state["associations"]) != subnets:
            drift.append(Drift("subnets", set(state["associations"]), subnets))
        return drift

    def reconcile(self, ctx, state, drift, deps):
        ec2, table = ctx.client("ec2"), state["id"]
        routes, subnets = self._wanted(deps)
        # A route table just created may not be visible to the next call yet.
        eventually = lambda call: retry_on(["InvalidRouteTableID.NotFound"], call,  # noqa: E731
                                           timeout=120, delay=2, clock=ctx.clock)
        for cidr, target in sorted(routes.items()):
            have = state["routes"].get(cidr)
            if have == target:
                continue
            if have is None:
                try:
                    eventually(lambda: ec2.create_route(RouteTableId=table, DestinationCidrBlock=cidr,
                                                        GatewayId=target))
                    continue
                except ClientError as error:
                    if error_code(error) != "RouteAlreadyExists":
                        raise
            ec2.replace_route(RouteTableId=table, DestinationCidrBlock=cidr, GatewayId=target)
        for cidr in sorted(set(state["routes"]) - set(routes)):
            with tolerate("InvalidRoute.NotFound"):
                ec2.delete_route(RouteTableId=table, DestinationCidrBlock=cidr)

        missing = sorted(subnets - set(state["associations"]))
        elsewhere = {}
        if missing:  # a subnet explicitly associated with another table must be moved
            for other in ec2.describe_route_tables(
                    Filters=[{"Name": "association.subnet-id", "Values": missing}])["RouteTables"]:
                for assoc in other.get("Associations", []):
                    if assoc.get("SubnetId") in missing and other["RouteTableId"] != table:
                        elsewhere[assoc["SubnetId"]] = assoc["RouteTableAssociationId"]
        associations = {s: a for s, a in state["associations"].items() if s in subnets}
        for subnet in missing:
            if subnet in elsewhere:
                try:
                    answer = ec2.replace_route_table_association(AssociationId=elsewhere[subnet],
                                                                 RouteTableId=table)
                    associations[subnet] = answer["NewAssociationId"]
                    continue
                except ClientError as error:
                    # the other table's own reconcile (running at the same time) let go of it first
                    if error_code(error) != "InvalidAssociationID.NotFound":
                        raise
            answer = eventually(lambda: ec2.associate_route_table(RouteTableId=table, SubnetId=subnet))
            associations[subnet] = answer["AssociationId"]
        for subnet, assoc in sorted(state["associations"].items()):
            if subnet not in subnets:
                with tolerate("InvalidAssociationID.NotFound"):
                    ec2.disassociate_route_table(AssociationId=assoc)
        return {**state, "routes": routes, "associations": associations}

    def delete(self, ctx, state):
        ec2 = ctx.client("ec2")
        for assoc in state["associations"].values():
            with tolerate("InvalidAssociationID.NotFound"):
                ec2.disassociate_route_table(AssociationId=assoc)
        with tolerate("InvalidRouteTableID.NotFound"):
            retry_on(["DependencyViolation"], lambda: ec2.delete_route_table(RouteTableId=state["id"]), timeout=LINGER_TIMEOUT, clock=ctx.clock)

    def outputs(self, state):
        return {"route-table-id": state["id"]}


# --- Security groups -------------------------------------------------------------------------
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
        with tolerate("InvalidGroup.NotFound"):
            retry_on(["DependencyViolation"], lambda: ec2.delete_security_group(GroupId=state["id"]), timeout=LINGER_TIMEOUT, clock=ctx.clock)

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


# --- The layer -------------------------------------------------------------------------------
def build(config: StackConfig) -> list[Resource]:
    public_cidrs, private_cidrs = subnet_cidrs(config.network.vpc_cidr)
    port = config.network.app_port
    public = [Subnet(public_subnet(i), i, public_cidrs[i], public=True) for i in range(ZONES)]
    private = [Subnet(private_subnet(i), i, private_cidrs[i], public=False) for i in range(ZONES)]
    groups = [
        SecurityGroup(LB_SG, "cloudsite load balancer: HTTPS and HTTP from anywhere",
                      ingress={("tcp", 443, 443, "cidr", ANYWHERE): "HTTPS from anywhere",
                               ("tcp", 80, 80, "cidr", ANYWHERE): "HTTP from anywhere (redirected)"},
                      egress={ALL_OUT: ""}),
        SecurityGroup(APP_SG, "cloudsite app instances: the app port from the load balancer only",
                      ingress={("tcp", port, port, "sg", LB_SG): "app port from the load balancer"},
                      egress={ALL_OUT: ""}),
        SecurityGroup(DB_SG, "cloudsite database: MySQL from the app instances and the db-admin function only",
                      ingress={("tcp", MYSQL_PORT, MYSQL_PORT, "sg", APP_SG): "MySQL from the app",
                               ("tcp", MYSQL_PORT, MYSQL_PORT, "sg", DB_ADMIN_SG): "MySQL from the db-admin function"},
                      egress={}),
        SecurityGroup(DB_ADMIN_SG, "cloudsite db-admin function: MySQL to the database only",
                      ingress={}, egress=None),
        GroupRules(DB_ADMIN_EGRESS, DB_ADMIN_SG, "egress",
                   {("tcp", MYSQL_PORT, MYSQL_PORT, "sg", DB_SG): "MySQL to the database"}),
    ]
    tables = [
        RouteTable(PUBLIC_RT, [s.name for s in public], {ANYWHERE: IGW}),
        RouteTable(PRIVATE_RT, [s.name for s in private], {}),
    ]

    def values(deps):
        ids = lambda names: ",".join(deps[n]["id"] for n in names)  # noqa: E731
        return {
            "vpc-id": deps[VPC]["id"],
            "public-subnet-ids": ids([s.name for s in public]),
            "private-subnet-ids": ids([s.name for s in private]),
            "availability-zones": ",".join(deps[s.name]["zone"] for s in public),
            "lb-security-group-id": deps[LB_SG]["id"],
            "app-security-group-id": deps[APP_SG]["id"],
            "db-security-group-id": deps[DB_SG]["id"],
            "db-admin-security-group-id": deps[DB_ADMIN_SG]["id"],
            # the port the app security group and the target group use: the hooks bind gunicorn
            # to it (deploy/render_env.py writes it as CLOUDSITE_APP_PORT)
            "app-port": str(port),
        }

    resources: list[Resource] = [Vpc(config.network.vpc_cidr), InternetGateway(), *public, *private,
                                 *tables, *groups]
    outputs = Parameters("network", (VPC, *[s.name for s in public + private], LB_SG, APP_SG, DB_SG,
                                     DB_ADMIN_SG, DB_ADMIN_EGRESS), values)
    return [*resources, outputs]


def inventory(ctx) -> dict:
    """Counts of everything of the layer's kinds in the region, tagged or not, and of the stack's
    parameters: two runs from the same empty emulator must end with equal counts (tests)."""
    ec2 = ctx.client("ec2")
    tables = ec2.describe_route_tables()["RouteTables"]
    groups = ec2.describe_security_groups()["SecurityGroups"]
    return {
        "vpcs": len(ec2.describe_vpcs()["Vpcs"]),
        "subnets": len(ec2.describe_subnets()["Subnets"]),
        "internet_gateways": len(ec2.describe_internet_gateways()["InternetGateways"]),
        "route_tables": len(tables),
        "routes": sum(len(t.get("Routes", [])) for t in tables),
        "associations": sum(len(t.get("Associations", [])) for t in tables),
        "security_groups": len(groups),
        "rules": sum(len(flatten(g.get("IpPermissions", []))) + len(flatten(g.get("IpPermissionsEgress", [])))
                     for g in groups),
        "parameters": sum(len(page["Parameters"]) for page in ctx.client("ssm").get_paginator(
            "get_parameters_by_path").paginate(Path=parameter_path(ctx.stack, "network"))),
    }


LAYER = Layer("network", build, inventory)
