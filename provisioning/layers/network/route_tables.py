"""Route tables: their routes and their subnets' associations."""
from __future__ import annotations

from botocore.exceptions import ClientError

from provisioning.errors import error_code, tolerate
from provisioning.layers.network.vpc import LINGER_TIMEOUT, ec2_find
from provisioning.recipe_names import VPC
from provisioning.resource import Drift, Resource, dep_id, planned
from provisioning.retry import delete_once_free, retry_on


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
        delete_once_free(lambda: ec2.delete_route_table(RouteTableId=state["id"]), gone="InvalidRouteTableID.NotFound",
                         busy=["DependencyViolation"], timeout=LINGER_TIMEOUT, clock=ctx.clock)

    def outputs(self, state):
        return {"route-table-id": state["id"]}
