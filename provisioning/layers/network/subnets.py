"""Subnets: three public (public IPs on launch), three private for the database."""
from __future__ import annotations

from provisioning.layers.network.vpc import LINGER_TIMEOUT, ec2_find
from provisioning.recipe_names import VPC
from provisioning.resource import Drift, Resource, dep_id
from provisioning.retry import delete_once_free, waiter_config


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
        delete_once_free(lambda: ec2.delete_subnet(SubnetId=state["id"]), gone="InvalidSubnetID.NotFound",
                         busy=["DependencyViolation"], timeout=LINGER_TIMEOUT, clock=ctx.clock)

    def outputs(self, state):
        return {"subnet-id": state["id"], "zone": state["zone"]}
