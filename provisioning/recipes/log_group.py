"""A CloudWatch Logs group with a retention, created before its writer (a Lambda function, the
CloudWatch agent) so it is tagged and never left to the service's own untagged, never-expiring one."""
from __future__ import annotations

from typing import Callable

from provisioning.errors import tolerate
from provisioning.resource import Drift, Resource


class LogGroup(Resource):
    service, kind = "logs", "log group"

    def __init__(self, name: str, group_name: Callable[[str], str], retention_days: int):
        """``group_name(stack)``: the group's name, e.g. ``/aws/lambda/<function>``."""
        self.name, self.group_name_of, self.retention_days = name, group_name, retention_days

    def group_name(self, ctx) -> str:
        return self.group_name_of(ctx.stack)

    def find_all(self, ctx, deps):
        name = self.group_name(ctx)
        pages = ctx.client("logs").get_paginator("describe_log_groups").paginate(logGroupNamePrefix=name)
        return [{"id": g["logGroupName"], "arn": g.get("arn"), "retention": g.get("retentionInDays")}
                for page in pages for g in page["logGroups"] if g["logGroupName"] == name]

    def create(self, ctx, deps):
        name = self.group_name(ctx)
        with tolerate("ResourceAlreadyExistsException"):
            ctx.client("logs").create_log_group(logGroupName=name, tags=ctx.tag_dict(self.name))
        return {"id": name, "arn": ctx.arn("logs", f"log-group:{name}:*"), "retention": None}

    def drift(self, ctx, state, deps):
        return [] if state["retention"] == self.retention_days else [
            Drift("retention days", state["retention"], self.retention_days)]

    def reconcile(self, ctx, state, drift, deps):
        ctx.client("logs").put_retention_policy(logGroupName=state["id"], retentionInDays=self.retention_days)
        return {**state, "retention": self.retention_days}

    def delete(self, ctx, state):
        with tolerate("ResourceNotFoundException"):
            ctx.client("logs").delete_log_group(logGroupName=state["id"])

    def outputs(self, state):
        return {"log-group": state["id"]}
