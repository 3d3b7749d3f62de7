"""The VPC and its internet gateway, and what the network layer's recipes share: the subnets'
CIDR blocks, finding things by this stack's tags, how long deletions wait for lingering interfaces."""
from __future__ import annotations

import ipaddress

from provisioning.errors import tolerate
from provisioning.recipe_names import IGW, VPC, ZONES
from provisioning.resource import Drift, Resource, dep_id, planned
from provisioning.retry import delete_once_free, retry_on, wait_until, waiter_config

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
