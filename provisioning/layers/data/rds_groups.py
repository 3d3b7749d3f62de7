"""The RDS parameter group (TLS only, utf8mb4) and the subnet group over the private subnets."""
from __future__ import annotations

from botocore.exceptions import ClientError

from provisioning import naming
from provisioning.errors import absent_on, error_code
from provisioning.layers.data.rds import MYSQL_FAMILY, MYSQL_VERSION
from provisioning.recipe_names import PARAMETER_GROUP, SUBNET_GROUP
from provisioning.resource import Drift, Resource, planned
from provisioning.retry import delete_once_free

# Values as the API takes and DescribeDBParameters reads them back: RDS's MySQL parameter groups take
# 1/0 for require_secure_transport (RDS MySQL guide, "Requiring SSL/TLS for all connections": "set
# the require_secure_transport parameter to 1 (ON)"); a group holding "ON" drifts and is rewritten.
DB_PARAMETERS = {"require_secure_transport": "1", "character_set_server": "utf8mb4",
                 "collation_server": "utf8mb4_0900_ai_ci"}


class DbParameterGroup(Resource):
    name, service, kind = PARAMETER_GROUP, "rds", "DB parameter group"

    def group_name(self, ctx):
        return naming.db_parameter_group(ctx.stack)

    def find_all(self, ctx, deps):
        groups = absent_on(lambda: ctx.client("rds").describe_db_parameter_groups(
            DBParameterGroupName=self.group_name(ctx))["DBParameterGroups"], "DBParameterGroupNotFound") or []
        return [{"id": g["DBParameterGroupName"], "arn": g.get("DBParameterGroupArn"),
                 "family": g["DBParameterGroupFamily"]} for g in groups]

    def create(self, ctx, deps):
        rds = ctx.client("rds")
        try:
            group = rds.create_db_parameter_group(
                DBParameterGroupName=self.group_name(ctx), DBParameterGroupFamily=MYSQL_FAMILY,
                Description=f"cloudsite {ctx.stack}: MySQL {MYSQL_VERSION}, TLS only, utf8mb4",
                Tags=ctx.tags(self.name))["DBParameterGroup"]
        except ClientError as error:
            if error_code(error) != "DBParameterGroupAlreadyExists":
                raise
            return self.find_all(ctx, deps)[0]
        # the parameters: reconcile
        return {"id": group["DBParameterGroupName"], "arn": group.get("DBParameterGroupArn"),
                "family": group["DBParameterGroupFamily"]}

    def drift(self, ctx, state, deps):
        drift = []
        if state["family"] != MYSQL_FAMILY:
            drift.append(Drift("family", state["family"], MYSQL_FAMILY, fixable=False))
        pages = ctx.client("rds").get_paginator("describe_db_parameters").paginate(
            DBParameterGroupName=state["id"], Source="user")
        have = {p["ParameterName"]: p.get("ParameterValue") for page in pages for p in page["Parameters"]}
        for key, value in DB_PARAMETERS.items():  # others set by hand are left alone
            if have.get(key) != value:
                drift.append(Drift(key, have.get(key), value))
        return drift

    def reconcile(self, ctx, state, drift, deps):
        changes = [{"ParameterName": d.setting, "ParameterValue": d.want, "ApplyMethod": "immediate"}
                   for d in drift if d.setting in DB_PARAMETERS]  # all three are dynamic
        ctx.client("rds").modify_db_parameter_group(DBParameterGroupName=state["id"], Parameters=changes)

    def delete(self, ctx, state):
        rds = ctx.client("rds")
        # an instance being deleted still holds it for a while
        delete_once_free(lambda: rds.delete_db_parameter_group(DBParameterGroupName=state["id"]),
                         gone="DBParameterGroupNotFound", busy=["InvalidDBParameterGroupState"], timeout=900,
                         delay=10, clock=ctx.clock)

    def outputs(self, state):
        return {"name": state["id"]}


class DbSubnetGroup(Resource):
    name, service, kind = SUBNET_GROUP, "rds", "DB subnet group"

    def __init__(self, subnets: list[str]):
        self.subnets = subnets
        self.depends_on = tuple(subnets)

    def group_name(self, ctx):
        return naming.db_subnet_group(ctx.stack)

    @staticmethod
    def _state(group):
        return {"id": group["DBSubnetGroupName"], "arn": group.get("DBSubnetGroupArn"),
                "vpc": group.get("VpcId"), "subnets": sorted(s["SubnetIdentifier"] for s in group.get("Subnets", []))}

    def find_all(self, ctx, deps):
        groups = absent_on(lambda: ctx.client("rds").describe_db_subnet_groups(
            DBSubnetGroupName=self.group_name(ctx))["DBSubnetGroups"], "DBSubnetGroupNotFoundFault") or []
        return [self._state(g) for g in groups]

    def _wanted(self, deps):
        return sorted((deps.get(s) or {}).get("id") or planned(s) for s in self.subnets)

    def create(self, ctx, deps):
        try:
            group = ctx.client("rds").create_db_subnet_group(
                DBSubnetGroupName=self.group_name(ctx), SubnetIds=self._wanted(deps),
                DBSubnetGroupDescription=f"cloudsite {ctx.stack}: the database's subnets",
                Tags=ctx.tags(self.name))["DBSubnetGroup"]
        except ClientError as error:
            if error_code(error) != "DBSubnetGroupAlreadyExists":
                raise
            return self.find_all(ctx, deps)[0]
        return self._state(group)

    def drift(self, ctx, state, deps):
        want = self._wanted(deps)
        return [] if state["subnets"] == want else [Drift("subnets", state["subnets"], want)]

    def reconcile(self, ctx, state, drift, deps):
        group = ctx.client("rds").modify_db_subnet_group(
            DBSubnetGroupName=state["id"], SubnetIds=self._wanted(deps))["DBSubnetGroup"]
        return self._state(group)

    def delete(self, ctx, state):
        rds = ctx.client("rds")
        delete_once_free(lambda: rds.delete_db_subnet_group(DBSubnetGroupName=state["id"]),
                         gone="DBSubnetGroupNotFoundFault", busy=["InvalidDBSubnetGroupStateFault"], timeout=900,
                         delay=10, clock=ctx.clock)

    def outputs(self, state):
        return {"name": state["id"]}
