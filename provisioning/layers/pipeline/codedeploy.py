"""CodeDeploy: the application and its deployment group (the auto scaling group, the target group
for traffic control, in place, the configured rollout, automatic rollback on failure)."""
from __future__ import annotations

import json

from provisioning import naming
from provisioning.errors import absent_on, delete_or_report, tolerate
from provisioning.layers.pipeline.arns import role_arn
from provisioning.recipe_names import APPLICATION, AUTO_SCALING_GROUP, CODEDEPLOY_ROLE, GROUP, TARGET_GROUP
from provisioning.resource import Drift, Resource
from provisioning.retry import retry_role_propagation


class Application(Resource):
    name, service, kind = APPLICATION, "codedeploy", "CodeDeploy application"

    def find_all(self, ctx, deps):
        name = naming.codedeploy_application(ctx.stack)
        app = absent_on(lambda: ctx.client("codedeploy").get_application(applicationName=name)["application"],
                        "ApplicationDoesNotExistException")
        if app is None:
            return []
        return [{"id": app["applicationName"], "platform": app.get("computePlatform")}]

    def create(self, ctx, deps):
        name = naming.codedeploy_application(ctx.stack)
        with tolerate("ApplicationAlreadyExistsException"):
            ctx.client("codedeploy").create_application(applicationName=name, computePlatform="Server",
                                                        tags=ctx.tags(self.name))
        return {"id": name, "platform": "Server"}

    def drift(self, ctx, state, deps):
        return [] if state["platform"] == "Server" else [
            Drift("compute platform", state["platform"], "Server", fixable=False)]

    def delete(self, ctx, state):
        delete_or_report(ctx, "codedeploy", lambda: ctx.client("codedeploy").delete_application(
            applicationName=state["id"]), gone=("ApplicationDoesNotExistException",),
            what=f"CodeDeploy application {state['id']}")


class DeploymentGroup(Resource):
    name, service, kind = GROUP, "codedeploy", "CodeDeploy deployment group"

    def __init__(self):
        self.depends_on = (APPLICATION, CODEDEPLOY_ROLE, AUTO_SCALING_GROUP, TARGET_GROUP)

    def wanted(self, ctx) -> dict:
        return {
            "deploymentConfigName": f"CodeDeployDefault.{ctx.config.pipeline.deployment_config}",
            "serviceRoleArn": role_arn(ctx, "codedeploy"),
            "autoScalingGroups": [naming.auto_scaling_group(ctx.stack)],
            "deploymentStyle": {"deploymentType": "IN_PLACE", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
            "loadBalancerInfo": {"targetGroupInfoList": [{"name": naming.target_group(ctx.stack)}]},
            "autoRollbackConfiguration": {"enabled": True, "events": ["DEPLOYMENT_FAILURE"]},
        }

    def find_all(self, ctx, deps):
        info = absent_on(lambda: ctx.client("codedeploy").get_deployment_group(
            applicationName=naming.codedeploy_application(ctx.stack),
            deploymentGroupName=naming.codedeploy_group(ctx.stack))["deploymentGroupInfo"],
            "DeploymentGroupDoesNotExistException", "ApplicationDoesNotExistException")
        if info is None:
            return []
        rollback = info.get("autoRollbackConfiguration") or {}
        return [{
            "id": info["deploymentGroupName"],
            "deploymentConfigName": info.get("deploymentConfigName"),
            "serviceRoleArn": info.get("serviceRoleArn"),
            # moto answers [{}] for the groups; a group without a name is unknown, not different
            "autoScalingGroups": sorted(g["name"] for g in info.get("autoScalingGroups", []) if g.get("name"))
            if all(g.get("name") for g in info.get("autoScalingGroups", [])) else None,
            "deploymentStyle": info.get("deploymentStyle"),
            "loadBalancerInfo": {"targetGroupInfoList": [
                {"name": t["name"]} for t in (info.get("loadBalancerInfo") or {}).get("targetGroupInfoList", [])]},
            "autoRollbackConfiguration": {"enabled": bool(rollback.get("enabled")),
                                          "events": sorted(rollback.get("events", []))},
        }]

    def create(self, ctx, deps):
        client, want = ctx.client("codedeploy"), self.wanted(ctx)
        with tolerate("DeploymentGroupAlreadyExistsException"):
            retry_role_propagation(lambda: client.create_deployment_group(
                applicationName=naming.codedeploy_application(ctx.stack),
                deploymentGroupName=naming.codedeploy_group(ctx.stack), tags=ctx.tags(self.name), **want),
                clock=ctx.clock)
        return {"id": naming.codedeploy_group(ctx.stack), **want}

    def drift(self, ctx, state, deps):
        drift = []
        for key, value in self.wanted(ctx).items():
            have = state.get(key)
            if key == "autoScalingGroups" and have is None:
                continue  # unreadable (the emulator); real AWS always names them
            if have != value:
                drift.append(Drift(key, json.dumps(have, sort_keys=True), json.dumps(value, sort_keys=True)))
        return drift

    def reconcile(self, ctx, state, drift, deps):
        want = self.wanted(ctx)
        retry_role_propagation(lambda: ctx.client("codedeploy").update_deployment_group(
            applicationName=naming.codedeploy_application(ctx.stack),
            currentDeploymentGroupName=state["id"], **want), clock=ctx.clock)
        return {"id": state["id"], **want}

    def delete(self, ctx, state):
        delete_or_report(ctx, "codedeploy", lambda: ctx.client("codedeploy").delete_deployment_group(
            applicationName=naming.codedeploy_application(ctx.stack), deploymentGroupName=state["id"]),
            gone=("DeploymentGroupDoesNotExistException", "ApplicationDoesNotExistException"),
            what=f"CodeDeploy deployment group {state['id']}")
