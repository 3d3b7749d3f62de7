"""Route53, written once for every recipe that keeps records (the certificate's validation, the
site's alias, SES's DKIM and MAIL FROM records): find the public zone, read record sets, change
them and wait until Route53 has them (``resource_record_sets_changed``)."""
from __future__ import annotations

from provisioning.retry import waiter_config

CHANGE_WAIT = waiter_config(10, 60)


def fqdn(name: str) -> str:
    return name.rstrip(".") + "."


def find_public_zone(ctx, zone_name: str) -> dict | None:
    """``{"id", "name", "caller_reference"}`` of the public hosted zone ``zone_name``, or None."""
    name = fqdn(zone_name)
    zones = ctx.client("route53").list_hosted_zones_by_name(DNSName=name)["HostedZones"]
    found = [z for z in zones if z["Name"] == name and not z.get("Config", {}).get("PrivateZone")]
    if not found:
        return None
    zone = found[0]
    return {"id": zone["Id"].rsplit("/", 1)[-1], "name": name, "caller_reference": zone.get("CallerReference", "")}


def record_sets(ctx, zone_id: str, name: str, rtype: str) -> list[dict]:
    """The record sets of one name and type (ListResourceRecordSets starts there; one is enough)."""
    name = fqdn(name)
    answer = ctx.client("route53").list_resource_record_sets(HostedZoneId=zone_id, StartRecordName=name,
                                                             StartRecordType=rtype, MaxItems="1")
    return [r for r in answer["ResourceRecordSets"] if r["Name"].lower() == name.lower() and r["Type"] == rtype]


def all_record_sets(ctx, zone_id: str) -> list[dict]:
    pages = ctx.client("route53").get_paginator("list_resource_record_sets").paginate(HostedZoneId=zone_id)
    return [record for page in pages for record in page["ResourceRecordSets"]]


def record_change(action: str, name: str, rtype: str, values: list[str], ttl: int) -> dict:
    """One change of a ChangeBatch for a plain (non-alias) record set."""
    return {"Action": action, "ResourceRecordSet": {"Name": name, "Type": rtype, "TTL": ttl,
                                                    "ResourceRecords": [{"Value": v} for v in values]}}


def change_records(ctx, zone_id: str, changes: list[dict], comment: str) -> None:
    """Apply ``changes`` in one batch and wait until Route53 serves them (nothing to do: no call)."""
    if not changes:
        return
    route53 = ctx.client("route53")
    change = route53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={
        "Comment": comment, "Changes": changes})["ChangeInfo"]["Id"]
    route53.get_waiter("resource_record_sets_changed").wait(Id=change, WaiterConfig=CHANGE_WAIT)
