"""What moto does not show (docs/moto.md): lingering dependencies, duplicate rules, existing routes.
Tested with botocore's Stubber, the way AWS answers."""
import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from provisioning import retry
from provisioning.context import Context
from provisioning.errors import StackError
from provisioning.layers import network


@pytest.fixture
def stubbed(config):
    ctx = Context(config, session=boto3.Session(region_name="us-east-1"))
    ec2 = ctx.client("ec2")
    with Stubber(ec2) as stub:
        yield ctx, stub
        stub.assert_no_pending_responses()


def recipes(config):
    return {r.name: r for r in network.build(config)}


def test_deleting_a_group_waits_out_lingering_network_interfaces(config, stubbed):
    ctx, stub = stubbed
    for _ in range(2):  # a deleted load balancer's interfaces still hold the group
        stub.add_client_error("delete_security_group", "DependencyViolation", "resource sg-1 has a dependent object")
    stub.add_response("delete_security_group", {}, {"GroupId": "sg-1"})
    recipes(config)["network.sg.app"].delete(ctx, {"id": "sg-1"})


def test_lingering_dependencies_are_waited_for_a_bounded_time(config, stubbed, monkeypatch):
    ctx, stub = stubbed
    clock = iter(range(0, 100000, 400))
    ctx.clock = retry.Clock(sleep=lambda seconds: None, monotonic=lambda: next(clock))
    for _ in range(3):  # at 0 s, 400 s, 800 s; the next try would pass the 20 minutes
        stub.add_client_error("delete_subnet", "DependencyViolation", "still in use")
    with pytest.raises(ClientError, match="DependencyViolation"):
        recipes(config)["network.subnet.public-1"].delete(ctx, {"id": "subnet-1"})


def test_other_errors_are_not_retried(config, stubbed):
    ctx, stub = stubbed
    stub.add_client_error("delete_security_group", "UnauthorizedOperation", "no")
    with pytest.raises(ClientError, match="UnauthorizedOperation"):
        recipes(config)["network.sg.app"].delete(ctx, {"id": "sg-1"})


def test_rules_that_appeared_meanwhile_are_not_an_error(config, stubbed):
    """Two rules missing, one of them added by someone else since we looked: the batch call fails
    with InvalidPermission.Duplicate; each rule is then added on its own."""
    ctx, stub = stubbed
    lb = recipes(config)["network.sg.lb"]
    state = {"id": "sg-1", "vpc": "vpc-1", "ingress": set(), "egress": {network.ALL_OUT}}
    stub.add_client_error("authorize_security_group_ingress", "InvalidPermission.Duplicate", "exists")
    stub.add_client_error("authorize_security_group_ingress", "InvalidPermission.Duplicate", "exists")
    stub.add_response("authorize_security_group_ingress", {"Return": True})
    new = lb.reconcile(ctx, state, lb.drift(ctx, state, {network.VPC: {"id": "vpc-1"}}), {network.VPC: {"id": "vpc-1"}})
    assert new["ingress"] == {("tcp", 443, 443, "cidr", "0.0.0.0/0"), ("tcp", 80, 80, "cidr", "0.0.0.0/0")}


def test_an_existing_default_route_elsewhere_is_replaced(config, stubbed):
    ctx, stub = stubbed
    table = recipes(config)["network.route-table.public"]
    deps = {network.VPC: {"id": "vpc-1"}, network.IGW: {"id": "igw-1"},
            **{network.public_subnet(i): {"id": f"subnet-{i}"} for i in range(3)}}
    state = {"id": "rtb-1", "vpc": "vpc-1", "routes": {},
             "associations": {f"subnet-{i}": f"a-{i}" for i in range(3)}}
    stub.add_client_error("create_route", "RouteAlreadyExists", "route exists")
    stub.add_response("replace_route", {}, {"RouteTableId": "rtb-1", "DestinationCidrBlock": "0.0.0.0/0",
                                            "GatewayId": "igw-1"})
    table.reconcile(ctx, state, table.drift(ctx, state, deps), deps)


def test_a_route_table_not_visible_yet_is_retried(config, stubbed):
    ctx, stub = stubbed
    table = recipes(config)["network.route-table.public"]
    deps = {network.VPC: {"id": "vpc-1"}, network.IGW: {"id": "igw-1"},
            **{network.public_subnet(i): {"id": f"subnet-{i}"} for i in range(3)}}
    state = {"id": "rtb-1", "vpc": "vpc-1", "routes": {"0.0.0.0/0": "igw-1"},
             "associations": {"subnet-0": "a-0", "subnet-1": "a-1"}}
    stub.add_response("describe_route_tables", {"RouteTables": []})
    stub.add_client_error("associate_route_table", "InvalidRouteTableID.NotFound", "not yet")
    stub.add_response("associate_route_table", {"AssociationId": "a-2"},
                      {"RouteTableId": "rtb-1", "SubnetId": "subnet-2"})
    new = table.reconcile(ctx, state, table.drift(ctx, state, deps), deps)
    assert new["associations"]["subnet-2"] == "a-2"


def test_a_group_of_the_same_name_without_our_tags_is_explained(config, stubbed):
    ctx, stub = stubbed
    stub.add_client_error("create_security_group", "InvalidGroup.Duplicate", "already exists")
    with pytest.raises(StackError, match="cloudsite-dev-lb exists in vpc-1 without this stack's tags"):
        recipes(config)["network.sg.lb"].create(ctx, {network.VPC: {"id": "vpc-1"}})
