"""``compute.hosted-zone`` (found by name) and ``compute.dns.alias`` (the domain to the load balancer)."""
from __future__ import annotations

import time

from provisioning.config import StackConfig
from provisioning.errors import StackError, tolerate
from provisioning.layers.compute.compare import subset_differs
from provisioning.recipe_names import ALIAS, HOSTED_ZONE, LOAD_BALANCER
from provisioning.resource import Drift, Resource, planned
from provisioning.route53 import change_records, find_public_zone, record_sets


class HostedZone(Resource):
    name, service, kind = HOSTED_ZONE, "route53", "hosted zone"

    def __init__(self, config: StackConfig):
        self.zone, self.create_allowed = config.hosted_zone, config.dns.create_zone

    def reference_prefix(self, ctx) -> str:
        return f"cloudsite:{ctx.stack}:"

    def find_all(self, ctx, deps):
        zone = find_public_zone(ctx, self.zone)
        if zone is None:
            return []
        return [{**zone, "owned": zone["caller_reference"].startswith(self.reference_prefix(ctx))}]

    def create(self, ctx, deps):
        if not self.create_allowed:
            raise StackError(f"no public Route53 hosted zone {self.zone}: create it (and delegate the domain to "
                             "it), or set [dns] create_zone = true in the stack file")
        route53 = ctx.client("route53")
        # A caller reference may never be reused, even after the zone is deleted: the prefix marks ours.
        zone = route53.create_hosted_zone(Name=self.zone,
                                          CallerReference=f"{self.reference_prefix(ctx)}{time.time():.0f}",
                                          HostedZoneConfig={"Comment": f"cloudsite {ctx.stack}"})["HostedZone"]
        zone_id = zone["Id"].rsplit("/", 1)[-1]
        route53.change_tags_for_resource(ResourceType="hostedzone", ResourceId=zone_id,
                                         AddTags=ctx.tags(self.name))
        return self.find_all(ctx, deps)[0]

    def delete(self, ctx, state):
        if not state["owned"]:
            ctx.reporter.start(self.name, f"{self.zone} was not created by this stack: kept")
            return
        with tolerate("NoSuchHostedZone"):
            ctx.client("route53").delete_hosted_zone(Id=state["id"])

    def outputs(self, state):
        return {"hosted-zone-id": state["id"]}


class AliasRecord(Resource):
    name, service, kind = ALIAS, "route53", "DNS alias"
    depends_on = (HOSTED_ZONE, LOAD_BALANCER)

    def __init__(self, config: StackConfig):
        self.domain, self.zone = config.domain, config.hosted_zone

    def find_all(self, ctx, deps):
        zone = find_public_zone(ctx, self.zone)
        if zone is None:
            return []
        return [{"id": r["Name"], "zone": zone["id"], "target": r.get("AliasTarget")}
                for r in record_sets(ctx, zone["id"], self.domain, "A")]

    def want(self, deps):
        lb = deps.get(LOAD_BALANCER) or {}
        return {"HostedZoneId": lb.get("zone") or planned(LOAD_BALANCER),
                "DNSName": (lb.get("dns") or planned(LOAD_BALANCER)).lower().rstrip(".") + ".",
                "EvaluateTargetHealth": True}

    def _upsert(self, ctx, zone_id, deps):
        change_records(ctx, zone_id, [{"Action": "UPSERT", "ResourceRecordSet": {
            "Name": self.domain, "Type": "A", "AliasTarget": self.want(deps)}}], f"{self.domain} -> load balancer")

    def create(self, ctx, deps):
        self._upsert(ctx, deps[HOSTED_ZONE]["id"], deps)
        return {"id": self.domain + ".", "zone": deps[HOSTED_ZONE]["id"], "target": self.want(deps)}

    def drift(self, ctx, state, deps):
        have = dict(state["target"] or {})
        if have.get("DNSName"):
            have["DNSName"] = have["DNSName"].lower().rstrip(".") + "."
        want = self.want(deps)
        return [Drift("alias target", have.get("DNSName"), want["DNSName"])] if subset_differs(have, want) else []

    def reconcile(self, ctx, state, drift, deps):
        self._upsert(ctx, state["zone"], deps)
        return {**state, "target": self.want(deps)}

    def delete(self, ctx, state):
        if not state["target"]:
            return
        with tolerate("InvalidChangeBatch"):
            change_records(ctx, state["zone"], [{"Action": "DELETE", "ResourceRecordSet": {
                "Name": state["id"], "Type": "A", "AliasTarget": state["target"]}}], "cloudsite teardown")
