"""``compute.alarm.*``: CloudWatch alarms on the load balancer's metrics."""
from __future__ import annotations

from provisioning import naming
from provisioning.layers.compute.compare import subset_differs
from provisioning.recipe_names import LOAD_BALANCER, TARGET_GROUP, alarm
from provisioning.resource import Drift, Resource, planned


class Alarm(Resource):
    """A CloudWatch alarm on one of the load balancer's metrics (``AWS/ApplicationELB``): ALARM when
    ``statistic`` over ``period`` seconds reaches ``threshold`` in ``periods`` periods in a row."""
    service, kind = "cloudwatch", "CloudWatch alarm"

    def __init__(self, purpose: str, description: str, *, metric: str, statistic: str, threshold: float,
                 periods: int, period: int, dimensions: tuple[str, ...]):
        self.name, self.purpose, self.description = alarm(purpose), purpose, description
        self.metric, self.statistic, self.threshold = metric, statistic, threshold
        self.periods, self.period, self.dimensions = periods, period, dimensions
        self.depends_on = tuple(sorted({LOAD_BALANCER, *dimensions}))

    def want(self, ctx, deps) -> dict:
        keys = {LOAD_BALANCER: "LoadBalancer", TARGET_GROUP: "TargetGroup"}
        return {"AlarmDescription": self.description, "Namespace": "AWS/ApplicationELB", "MetricName": self.metric,
                "Dimensions": [{"Name": keys[d], "Value": (deps.get(d) or {}).get("dimension") or planned(d)}
                               for d in self.dimensions],
                "Statistic": self.statistic, "Period": self.period, "EvaluationPeriods": self.periods,
                "DatapointsToAlarm": self.periods, "Threshold": float(self.threshold),
                "ComparisonOperator": "GreaterThanOrEqualToThreshold", "TreatMissingData": "notBreaching"}

    def find_all(self, ctx, deps):
        alarms = ctx.client("cloudwatch").describe_alarms(AlarmNames=[naming.alarm(ctx.stack, self.purpose)])
        return [{"id": a["AlarmName"], "arn": a["AlarmArn"], "settings": {
            k: a.get(k) for k in ("AlarmDescription", "Namespace", "MetricName", "Dimensions", "Statistic", "Period",
                                  "EvaluationPeriods", "DatapointsToAlarm", "Threshold", "ComparisonOperator",
                                  "TreatMissingData")}} for a in alarms["MetricAlarms"]]

    def create(self, ctx, deps):
        ctx.client("cloudwatch").put_metric_alarm(AlarmName=naming.alarm(ctx.stack, self.purpose),
                                                  Tags=ctx.tags(self.name), **self.want(ctx, deps))
        return self.find_all(ctx, deps)[0]

    def drift(self, ctx, state, deps):
        want = self.want(ctx, deps)
        return [Drift(k, state["settings"].get(k), v) for k, v in want.items()
                if subset_differs(state["settings"].get(k), v)]

    def reconcile(self, ctx, state, drift, deps):
        ctx.client("cloudwatch").put_metric_alarm(AlarmName=state["id"], **self.want(ctx, deps))
        return self.find_all(ctx, deps)[0]

    def delete(self, ctx, state):
        ctx.client("cloudwatch").delete_alarms(AlarmNames=[state["id"]])

    def outputs(self, state):
        return {"alarm": state["id"]}
