"""``compute.asg`` and ``compute.scaling-policy`` (target tracking on average CPU)."""
from __future__ import annotations

from provisioning import naming
from provisioning.config import StackConfig
from provisioning.errors import tolerate
from provisioning.layers.compute.compare import subset_differs
from provisioning.recipe_names import (
    AUTO_SCALING_GROUP,
    HTTPS_LISTENER,
    LAUNCH_TEMPLATE,
    SCALING,
    TARGET_GROUP,
    public_subnets,
)
from provisioning.recipes.role import retry_profile_propagation
from provisioning.resource import Drift, Resource, dep_id, planned
from provisioning.retry import delete_once_free, wait_until

ASG_DRAIN_TIMEOUT = 20 * 60


def find_group(ctx) -> dict | None:
    groups = ctx.client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[naming.auto_scaling_group(ctx.stack)])["AutoScalingGroups"]
    return groups[0] if groups else None


class AutoScalingGroup(Resource):
    """The app's instances behind the target group.

    Created with EC2 health checks: on an image with no app yet (before the first deployment) the
    load balancer's health check fails, and with ELB health checks the group would replace every
    instance each grace period until a deployment succeeds, and could lose instances in the
    middle of a one-at-a-time first deployment. ``manage.py deploy`` switches the group to ELB
    health checks once a deployment has succeeded (``deploy.switch_to_elb_health_checks``); from then
    on both types count as "no drift", and a reconcile never flips ELB back to EC2.
    """
    name, service, kind = AUTO_SCALING_GROUP, "autoscaling", "auto scaling group"
    depends_on = (LAUNCH_TEMPLATE, TARGET_GROUP, *public_subnets(), HTTPS_LISTENER)
    GRACE = 300
    INITIAL_HEALTH_CHECK = "EC2"
    HEALTH_CHECKS = ("EC2", "ELB")  # before and after the first successful deployment

    def __init__(self, config: StackConfig):
        self.compute = config.compute

    def find_all(self, ctx, deps):
        group = find_group(ctx)
        if group is None:
            return []
        template = group.get("LaunchTemplate") or {}
        return [{"id": group["AutoScalingGroupName"], "arn": group.get("AutoScalingGroupARN"),
                 "min": group["MinSize"], "max": group["MaxSize"], "desired": group["DesiredCapacity"],
                 "template": template.get("LaunchTemplateId"), "version": template.get("Version"),
                 "subnets": sorted(filter(None, group.get("VPCZoneIdentifier", "").split(","))),
                 "target_groups": sorted(group.get("TargetGroupARNs", [])),
                 "health_check": group.get("HealthCheckType"), "grace": group.get("HealthCheckGracePeriod"),
                 "instances": len(group.get("Instances", []))}]

    def _want(self, deps):
        return {"min": self.compute.min_size, "max": self.compute.max_size,
                "template": dep_id(deps, LAUNCH_TEMPLATE) or planned(LAUNCH_TEMPLATE), "version": "$Default",
                "subnets": sorted(dep_id(deps, s) or planned(s) for s in public_subnets()),
                "target_groups": [(deps.get(TARGET_GROUP) or {}).get("arn") or planned(TARGET_GROUP)],
                "grace": self.GRACE}

    def health_check(self, state: dict | None) -> str:
        """The type to keep: the group's own when it is one of ours (never ELB back to EC2)."""
        current = (state or {}).get("health_check")
        return current if current in self.HEALTH_CHECKS else self.INITIAL_HEALTH_CHECK

    def create(self, ctx, deps):
        autoscaling, want, name = ctx.client("autoscaling"), self._want(deps), naming.auto_scaling_group(ctx.stack)
        tags = [{**t, "PropagateAtLaunch": True, "ResourceId": name, "ResourceType": "auto-scaling-group"}
                for t in ctx.tags(self.name)]
        create = lambda: autoscaling.create_auto_scaling_group(  # noqa: E731
            AutoScalingGroupName=name, MinSize=want["min"], MaxSize=want["max"],
            DesiredCapacity=self.compute.desired,
            LaunchTemplate={"LaunchTemplateId": want["template"], "Version": want["version"]},
            VPCZoneIdentifier=",".join(want["subnets"]), TargetGroupARNs=want["target_groups"],
            HealthCheckType=self.INITIAL_HEALTH_CHECK, HealthCheckGracePeriod=self.GRACE,
            DefaultInstanceWarmup=self.GRACE,
            Tags=tags)
        with tolerate("AlreadyExists"):
            retry_profile_propagation(create, clock=ctx.clock)
        wait_until(lambda: find_group(ctx) is not None, what=f"{name} to exist", timeout=120, delay=5, clock=ctx.clock)
        return self.find_all(ctx, deps)[0]

    def drift(self, ctx, state, deps):
        want = self._want(deps)
        drift = [Drift(k, state[k], v) for k, v in want.items() if state[k] != v]
        if state["health_check"] not in self.HEALTH_CHECKS:
            drift.append(Drift("health_check", state["health_check"], " or ".join(self.HEALTH_CHECKS)))
        if not want["min"] <= state["desired"] <= want["max"]:
            drift.append(Drift("desired", state["desired"], f"{want['min']}..{want['max']}"))
        return drift

    def reconcile(self, ctx, state, drift, deps):
        autoscaling, want = ctx.client("autoscaling"), self._want(deps)
        desired = min(max(state["desired"], want["min"]), want["max"])
        autoscaling.update_auto_scaling_group(
            AutoScalingGroupName=state["id"], MinSize=want["min"], MaxSize=want["max"], DesiredCapacity=desired,
            LaunchTemplate={"LaunchTemplateId": want["template"], "Version": want["version"]},
            VPCZoneIdentifier=",".join(want["subnets"]), HealthCheckType=self.health_check(state),
            HealthCheckGracePeriod=self.GRACE)
        extra = sorted(set(state["target_groups"]) - set(want["target_groups"]))
        missing = sorted(set(want["target_groups"]) - set(state["target_groups"]))
        if extra:
            autoscaling.detach_load_balancer_target_groups(AutoScalingGroupName=state["id"], TargetGroupARNs=extra)
        if missing:
            autoscaling.attach_load_balancer_target_groups(AutoScalingGroupName=state["id"], TargetGroupARNs=missing)
        return {**state, **want, "desired": desired, "health_check": self.health_check(state)}

    def delete(self, ctx, state):
        autoscaling = ctx.client("autoscaling")
        if state["min"] or state["max"] or state["desired"]:
            autoscaling.update_auto_scaling_group(AutoScalingGroupName=state["id"], MinSize=0, MaxSize=0,
                                                  DesiredCapacity=0)
        ctx.reporter.start(self.name, "scaled to zero: waiting for the instances to go")
        wait_until(lambda: not (find_group(ctx) or {}).get("Instances"), what=f"{state['id']} to drain",
                   timeout=ASG_DRAIN_TIMEOUT, delay=10, clock=ctx.clock)
        delete_once_free(lambda: autoscaling.delete_auto_scaling_group(AutoScalingGroupName=state["id"]),
                         gone="ValidationError", busy=["ResourceInUse", "ScalingActivityInProgress"],
                         timeout=ASG_DRAIN_TIMEOUT, clock=ctx.clock)
        wait_until(lambda: find_group(ctx) is None, what=f"{state['id']} to be deleted", timeout=600, delay=10,
                   clock=ctx.clock)

    def outputs(self, state):
        return {"name": state["id"]}


class ScalingPolicy(Resource):
    name, service, kind = SCALING, "autoscaling", "target-tracking scaling policy"
    depends_on = (AUTO_SCALING_GROUP,)

    def __init__(self, cpu_target: int):
        self.cpu_target = cpu_target

    def want(self) -> dict:
        return {"PredefinedMetricSpecification": {"PredefinedMetricType": "ASGAverageCPUUtilization"},
                "TargetValue": float(self.cpu_target), "DisableScaleIn": False}

    def find_all(self, ctx, deps):
        autoscaling = ctx.client("autoscaling")
        if find_group(ctx) is None:
            return []
        policies = autoscaling.describe_policies(AutoScalingGroupName=naming.auto_scaling_group(ctx.stack),
                                                 PolicyNames=[naming.scaling_policy(ctx.stack)])["ScalingPolicies"]
        return [{"id": p["PolicyName"], "arn": p.get("PolicyARN"), "type": p.get("PolicyType"),
                 "config": p.get("TargetTrackingConfiguration", {}),
                 "alarms": sorted(a["AlarmName"] for a in p.get("Alarms", []))} for p in policies]

    def _put(self, ctx):
        ctx.client("autoscaling").put_scaling_policy(
            AutoScalingGroupName=naming.auto_scaling_group(ctx.stack), PolicyName=naming.scaling_policy(ctx.stack),
            PolicyType="TargetTrackingScaling", TargetTrackingConfiguration=self.want())
        # the answer carries PolicyARN and the alarms on AWS, not on moto: read it back
        return self.find_all(ctx, {})[0]

    def create(self, ctx, deps):
        return self._put(ctx)

    def drift(self, ctx, state, deps):
        drift = ([] if state["type"] == "TargetTrackingScaling"
                 else [Drift("type", state["type"], "TargetTrackingScaling")])
        if subset_differs(state["config"], self.want()):
            drift.append(Drift("target", state["config"].get("TargetValue"), float(self.cpu_target)))
        return drift

    def reconcile(self, ctx, state, drift, deps):
        return self._put(ctx)

    def delete(self, ctx, state):
        with tolerate("ValidationError"):
            ctx.client("autoscaling").delete_policy(AutoScalingGroupName=naming.auto_scaling_group(ctx.stack),
                                                    PolicyName=state["id"])

    def outputs(self, state):
        # the high and low CPU alarms AWS made for the policy
        return {"policy-arn": state["arn"], "alarms": ",".join(state["alarms"]) or "-"}
