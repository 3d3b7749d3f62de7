"""provisioning/route53.py: the public zone, record sets, and changes that wait until served."""
import boto3
from moto import mock_aws

from provisioning.route53 import all_record_sets, change_records, find_public_zone, record_change, record_sets


class Ctx:
    def __init__(self):
        self.route53 = boto3.client("route53", region_name="us-east-1")

    def client(self, service):
        return self.route53


@mock_aws
def test_the_public_zone_is_found_by_name_and_a_private_one_of_the_same_name_is_not():
    ctx = Ctx()
    ctx.route53.create_hosted_zone(Name="example.com", CallerReference="private", HostedZoneConfig={
        "PrivateZone": True, "Comment": "x"}, VPC={"VPCRegion": "us-east-1", "VPCId": "vpc-1"})
    assert find_public_zone(ctx, "example.com") is None
    made = ctx.route53.create_hosted_zone(Name="example.com.", CallerReference="public")["HostedZone"]
    found = find_public_zone(ctx, "example.com")
    assert found["id"] == made["Id"].rsplit("/", 1)[-1] and found["name"] == "example.com."


@mock_aws
def test_changes_are_applied_and_read_back_and_an_empty_batch_makes_no_call():
    ctx = Ctx()
    zone = ctx.route53.create_hosted_zone(Name="example.com", CallerReference="z")["HostedZone"]["Id"]
    change_records(ctx, zone, [record_change("UPSERT", "mail.example.com.", "MX", ["10 feedback"], ttl=1800)], "c")
    found = record_sets(ctx, zone, "mail.example.com", "MX")
    assert [r["ResourceRecords"] for r in found] == [[{"Value": "10 feedback"}]] and found[0]["TTL"] == 1800
    assert record_sets(ctx, zone, "mail.example.com", "TXT") == []
    before = len(all_record_sets(ctx, zone))
    ctx.route53 = None  # any call now fails: an empty batch must not call
    change_records(ctx, zone, [], "nothing")
    assert before == 3  # SOA, NS and the MX
