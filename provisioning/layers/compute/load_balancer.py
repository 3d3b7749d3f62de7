"""``compute.target-group``, ``compute.load-balancer`` and its listeners (HTTPS forwards, HTTP redirects)."""
from __future__ import annotations

from provisioning import naming
from provisioning.errors import absent_on, tolerate
from provisioning.layers.compute.compare import subset_differs
from provisioning.recipe_names import (
    CERTIFICATE,
    HTTP_LISTENER,
    HTTPS_LISTENER,
    LB_SG,
    LOAD_BALANCER,
    TARGET_GROUP,
    VALIDATION,
    VPC,
    public_subnets,
)
from provisioning.resource import Drift, Resource, dep_id, planned
from provisioning.retry import delete_once_free, waiter_config

TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"  # TLS 1.3 and 1.2 only
HEALTH_CHECK_PATH = "/healthz"


class TargetGroup(Resource):
    name, service, kind = TARGET_GROUP, "elbv2", "target group"
    depends_on = (VPC,)

    def __init__(self, port: int):
        self.port = port

    HEALTH = {"HealthCheckProtocol": "HTTP", "HealthCheckPath": HEALTH_CHECK_PATH, "HealthCheckPort": "traffic-port",
              "HealthCheckIntervalSeconds": 15, "HealthCheckTimeoutSeconds": 5, "HealthyThresholdCount": 2,
              "UnhealthyThresholdCount": 3, "Matcher": {"HttpCode": "200"}}
    ATTRIBUTES = {"deregistration_delay.timeout_seconds": "30"}

    def find_all(self, ctx, deps):
        elbv2 = ctx.client("elbv2")
        answer = absent_on(lambda: elbv2.describe_target_groups(Names=[naming.target_group(ctx.stack)]),
                           "TargetGroupNotFound")
        groups = answer["TargetGroups"] if answer else []
        states = []
        for group in groups:
            attributes = {a["Key"]: a["Value"] for a in elbv2.describe_target_group_attributes(
                TargetGroupArn=group["TargetGroupArn"])["Attributes"]}
            states.append({"id": group["TargetGroupArn"], "arn": group["TargetGroupArn"], "vpc": group["VpcId"],
                           "port": group["Port"], "protocol": group["Protocol"],
                           "health": {k: group.get(k) for k in self.HEALTH},
                           "attributes": {k: attributes.get(k) for k in self.ATTRIBUTES},
                           "dimension": group["TargetGroupArn"].rsplit(":", 1)[-1]})
        return states

    def create(self, ctx, deps):
        group = ctx.client("elbv2").create_target_group(
            Name=naming.target_group(ctx.stack), Protocol="HTTP", Port=self.port, VpcId=dep_id(deps, VPC),
            TargetType="instance", Tags=ctx.tags(self.name), **self.HEALTH)["TargetGroups"][0]
        return {**self.find_all(ctx, deps)[0], "id": group["TargetGroupArn"]}

    def drift(self, ctx, state, deps):
        drift = [Drift(k, have, want, fixable=False) for k, have, want in (
            ("vpc", state["vpc"], dep_id(deps, VPC)), ("port", state["port"], self.port),
            ("protocol", state["protocol"], "HTTP")) if have != want]
        drift += [Drift(k, state["health"].get(k), v) for k, v in self.HEALTH.items() if state["health"].get(k) != v]
        drift += [Drift(k, state["attributes"].get(k), v) for k, v in self.ATTRIBUTES.items()
                  if state["attributes"].get(k) != v]
        return drift

    def reconcile(self, ctx, state, drift, deps):
        elbv2 = ctx.client("elbv2")
        if state["health"] != self.HEALTH:
            elbv2.modify_target_group(TargetGroupArn=state["arn"], **self.HEALTH)
        if state["attributes"] != self.ATTRIBUTES:
            elbv2.modify_target_group_attributes(TargetGroupArn=state["arn"], Attributes=[
                {"Key": k, "Value": v} for k, v in self.ATTRIBUTES.items()])
        return {**state, "health": dict(self.HEALTH), "attributes": dict(self.ATTRIBUTES)}

    def delete(self, ctx, state):
        elbv2 = ctx.client("elbv2")
        # still "in use" for a moment after its listener or group is gone
        delete_once_free(lambda: elbv2.delete_target_group(TargetGroupArn=state["arn"]),
                         gone="TargetGroupNotFound", busy=["ResourceInUse"], timeout=300, clock=ctx.clock)

    def outputs(self, state):
        return {"target-group-arn": state["arn"]}


def find_load_balancer(ctx) -> dict | None:
    elbv2 = ctx.client("elbv2")
    answer = absent_on(lambda: elbv2.describe_load_balancers(Names=[naming.load_balancer(ctx.stack)]),
                       "LoadBalancerNotFound")
    return answer["LoadBalancers"][0] if answer and answer["LoadBalancers"] else None


class LoadBalancer(Resource):
    name, service, kind = LOAD_BALANCER, "elbv2", "application load balancer"
    depends_on = (*public_subnets(), LB_SG)
    ATTRIBUTES = {"routing.http.drop_invalid_header_fields.enabled": "true"}

    def find_all(self, ctx, deps):
        lb = find_load_balancer(ctx)
        if lb is None:
            return []
        attributes = {a["Key"]: a["Value"] for a in ctx.client("elbv2").describe_load_balancer_attributes(
            LoadBalancerArn=lb["LoadBalancerArn"])["Attributes"]}
        return [{"id": lb["LoadBalancerArn"], "arn": lb["LoadBalancerArn"], "dns": lb["DNSName"],
                 "zone": lb["CanonicalHostedZoneId"], "state": lb.get("State", {}).get("Code"),
                 "subnets": sorted(z["SubnetId"] for z in lb.get("AvailabilityZones", [])),
                 "groups": sorted(lb.get("SecurityGroups", [])), "scheme": lb["Scheme"],
                 "attributes": {k: attributes.get(k) for k in self.ATTRIBUTES},
                 "dimension": lb["LoadBalancerArn"].split(":loadbalancer/", 1)[-1]}]

    def _want(self, deps):
        return (sorted(dep_id(deps, s) or planned(s) for s in public_subnets()),
                [dep_id(deps, LB_SG) or planned(LB_SG)])

    def create(self, ctx, deps):
        elbv2 = ctx.client("elbv2")
        subnets, groups = self._want(deps)
        arn = elbv2.create_load_balancer(
            Name=naming.load_balancer(ctx.stack), Subnets=subnets, SecurityGroups=groups,
            Scheme="internet-facing", Type="application", IpAddressType="ipv4",
            Tags=ctx.tags(self.name))["LoadBalancers"][0]["LoadBalancerArn"]
        elbv2.get_waiter("load_balancer_available").wait(LoadBalancerArns=[arn], WaiterConfig=waiter_config(15, 40))
        return self.find_all(ctx, deps)[0]

    def drift(self, ctx, state, deps):
        subnets, groups = self._want(deps)
        drift = ([] if state["scheme"] == "internet-facing"
                 else [Drift("scheme", state["scheme"], "internet-facing", fixable=False)])
        if state["subnets"] != subnets:
            drift.append(Drift("subnets", state["subnets"], subnets))
        if state["groups"] != groups:
            drift.append(Drift("security groups", state["groups"], groups))
        drift += [Drift(k, state["attributes"].get(k), v) for k, v in self.ATTRIBUTES.items()
                  if state["attributes"].get(k) != v]
        return drift

    def reconcile(self, ctx, state, drift, deps):
        elbv2 = ctx.client("elbv2")
        subnets, groups = self._want(deps)
        if state["subnets"] != subnets:
            elbv2.set_subnets(LoadBalancerArn=state["arn"], Subnets=subnets)
        if state["groups"] != groups:
            elbv2.set_security_groups(LoadBalancerArn=state["arn"], SecurityGroups=groups)
        if state["attributes"] != self.ATTRIBUTES:
            elbv2.modify_load_balancer_attributes(LoadBalancerArn=state["arn"], Attributes=[
                {"Key": k, "Value": v} for k, v in self.ATTRIBUTES.items()])
        return {**state, "subnets": subnets, "groups": groups, "attributes": dict(self.ATTRIBUTES)}

    def delete(self, ctx, state):
        elbv2 = ctx.client("elbv2")
        with tolerate("LoadBalancerNotFound"):
            elbv2.delete_load_balancer(LoadBalancerArn=state["arn"])
        elbv2.get_waiter("load_balancers_deleted").wait(LoadBalancerArns=[state["arn"]],
                                                         WaiterConfig=waiter_config(15, 40))

    def outputs(self, state):
        return {"dns-name": state["dns"], "arn": state["arn"]}


class Listener(Resource):
    service, kind = "elbv2", "listener"

    def __init__(self, name: str, port: int, depends_on: tuple[str, ...]):
        self.name, self.port, self.depends_on = name, port, (LOAD_BALANCER, *depends_on)

    def want(self, deps) -> dict:
        raise NotImplementedError

    def find_all(self, ctx, deps):
        lb = find_load_balancer(ctx)
        if lb is None:
            return []
        listeners = ctx.client("elbv2").describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
        return [{"id": li["ListenerArn"], "arn": li["ListenerArn"], "protocol": li["Protocol"],
                 "ssl_policy": li.get("SslPolicy"),
                 "certificates": [c["CertificateArn"] for c in li.get("Certificates", [])],
                 "actions": li["DefaultActions"]} for li in listeners if li["Port"] == self.port]

    def create(self, ctx, deps):
        want = self.want(deps)
        with tolerate("DuplicateListener"):
            ctx.client("elbv2").create_listener(LoadBalancerArn=deps[LOAD_BALANCER]["arn"], Port=self.port,
                                                Tags=ctx.tags(self.name), **want)
        return self.find_all(ctx, deps)[0]

    def drift(self, ctx, state, deps):
        want = self.want(deps)
        have = {"Protocol": state["protocol"], "SslPolicy": state["ssl_policy"],
                "Certificates": [{"CertificateArn": c} for c in state["certificates"]],
                "DefaultActions": state["actions"]}
        return [Drift(key, "differs", "as configured") for key in want if subset_differs(have.get(key), want[key])]

    def reconcile(self, ctx, state, drift, deps):
        ctx.client("elbv2").modify_listener(ListenerArn=state["arn"], Port=self.port, **self.want(deps))
        return self.find_all(ctx, deps)[0]

    def delete(self, ctx, state):
        with tolerate("ListenerNotFound"):
            ctx.client("elbv2").delete_listener(ListenerArn=state["arn"])


class HttpsListener(Listener):
    def __init__(self):
        super().__init__(HTTPS_LISTENER, 443, (TARGET_GROUP, CERTIFICATE, VALIDATION))

    def want(self, deps):
        tg = (deps.get(TARGET_GROUP) or {}).get("arn") or planned(TARGET_GROUP)
        cert = (deps.get(CERTIFICATE) or {}).get("arn") or planned(CERTIFICATE)
        return {"Protocol": "HTTPS", "SslPolicy": TLS_POLICY, "Certificates": [{"CertificateArn": cert}],
                "DefaultActions": [{"Type": "forward", "TargetGroupArn": tg}]}


class HttpListener(Listener):
    def __init__(self):
        super().__init__(HTTP_LISTENER, 80, ())

    def want(self, deps):
        return {"Protocol": "HTTP", "DefaultActions": [{"Type": "redirect", "RedirectConfig": {
            "Protocol": "HTTPS", "Port": "443", "Host": "#{host}", "Path": "/#{path}", "Query": "#{query}",
            "StatusCode": "HTTP_301"}}]}
