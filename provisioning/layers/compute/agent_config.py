"""``compute.agent-config``: the CloudWatch agent's configuration in SSM, fetched at boot."""
from __future__ import annotations

import json

from deploy.cloudwatch import render_agent_config
from provisioning import naming
from provisioning.errors import absent_on, tolerate
from provisioning.recipe_names import AGENT_CONFIG
from provisioning.resource import Drift, Resource


class AgentConfig(Resource):
    name, service, kind = AGENT_CONFIG, "ssm", "SSM parameter"

    def want(self, ctx) -> str:
        return json.dumps(render_agent_config(ctx.stack), sort_keys=True, separators=(",", ":"))

    def find_all(self, ctx, deps):
        name = naming.agent_config_parameter(ctx.stack)
        answer = absent_on(lambda: ctx.client("ssm").get_parameter(Name=name), "ParameterNotFound")
        return [{"id": name, "value": answer["Parameter"]["Value"]}] if answer else []

    def create(self, ctx, deps):
        ssm, name = ctx.client("ssm"), naming.agent_config_parameter(ctx.stack)
        with tolerate("ParameterAlreadyExists"):
            ssm.put_parameter(Name=name, Value=self.want(ctx), Type="String", Tags=ctx.tags(self.name),
                              Description="CloudWatch agent configuration (deploy/cloudwatch.py)")
        return self.find_all(ctx, deps)[0]

    def drift(self, ctx, state, deps):
        return [] if state["value"] == self.want(ctx) else [Drift("agent configuration", "differs", "rendered")]

    def reconcile(self, ctx, state, drift, deps):
        ctx.client("ssm").put_parameter(Name=state["id"], Value=self.want(ctx), Type="String", Overwrite=True)
        return {**state, "value": self.want(ctx)}

    def delete(self, ctx, state):
        with tolerate("ParameterNotFound"):
            ctx.client("ssm").delete_parameter(Name=state["id"])
