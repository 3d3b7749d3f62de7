"""The network layer against moto in-process: create, re-run, drift, plan, teardown."""
import pytest

from devkit.testing import engine_for, make_context, tagged_with_stack
from provisioning.calls import CallCounter, CallHook, MutationBlocked
from provisioning.context import RESOURCE_TAG, STACK_TAG
from provisioning.layers import network

NAMES = ["network.vpc", "network.internet-gateway",
         *[f"network.subnet.{kind}-{i}" for kind in ("public", "private") for i in (1, 2, 3)],
         "network.route-table.public", "network.route-table.private",
         "network.sg.lb", "network.sg.app", "network.sg.db", "network.sg.db-admin",
         "network.sg-rules.db-admin-egress", "network.outputs"]


def apply(config, **kwargs):
    counter = CallCounter()
    ctx = make_context(config, hooks=[counter], **kwargs)
    results = {r.name: r for r in engine_for(ctx, ["network"]).apply()}
    return results, counter


def status(config):
    return {r.name: r for r in engine_for(make_context(config), ["network"]).status()}


def tagged(ec2, kind, method, key, name):
    return ec2.get_paginator(method).paginate(Filters=[
        {"Name": f"tag:{RESOURCE_TAG}", "Values": [name]}, {"Name": "tag:cloudsite:stack", "Values": ["dev"]}]
    ).build_full_result()[key]


@pytest.fixture
def built(config, aws):
    results, counter = apply(config)
    return results


def ids(built, *names):
    return [built[n].id for n in names]


def test_tagged_with_stack_sees_what_apply_made(built, ctx):
    assert tagged_with_stack(ctx) == {"ec2.Vpcs": 1, "ec2.Subnets": 6, "ec2.InternetGateways": 1,
                                      "ec2.RouteTables": 2, "ec2.SecurityGroups": 4, "ssm.Parameters": 9}


def test_first_apply_creates_every_resource_as_configured(built, ctx):
    assert sorted(built) == sorted(NAMES)
    assert {r.action for r in built.values()} == {"create"}
    ec2, ssm = ctx.client("ec2"), ctx.client("ssm")
    (vpc_id,) = ids(built, "network.vpc")

    vpc = ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]
    assert vpc["CidrBlock"] == "10.20.0.0/16"
    assert ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute="enableDnsHostnames")["EnableDnsHostnames"]["Value"]
    assert {t["Key"]: t["Value"] for t in vpc["Tags"]}[STACK_TAG] == "dev"

    subnets = {s["SubnetId"]: s
               for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]}
    public = [subnets[i] for i in ids(built, *[f"network.subnet.public-{i}" for i in (1, 2, 3)])]
    private = [subnets[i] for i in ids(built, *[f"network.subnet.private-{i}" for i in (1, 2, 3)])]
    assert len(subnets) == 6
    assert len({s["AvailabilityZone"] for s in public}) == 3 == len({s["AvailabilityZone"] for s in private})
    assert [s["CidrBlock"] for s in public] == ["10.20.0.0/20", "10.20.16.0/20", "10.20.32.0/20"]
    assert all(s["MapPublicIpOnLaunch"] for s in public) and not any(s["MapPublicIpOnLaunch"] for s in private)

    (igw_id,) = ids(built, "network.internet-gateway")
    gateway = ec2.describe_internet_gateways(InternetGatewayIds=[igw_id])["InternetGateways"][0]
    assert [a["VpcId"] for a in gateway["Attachments"]] == [vpc_id]

    public_rt, private_rt = ec2.describe_route_tables(
        RouteTableIds=ids(built, "network.route-table.public", "network.route-table.private"))["RouteTables"]
    if public_rt["RouteTableId"] != built["network.route-table.public"].id:
        public_rt, private_rt = private_rt, public_rt
    assert {r["DestinationCidrBlock"]: r["GatewayId"] for r in public_rt["Routes"]} == {
        "10.20.0.0/16": "local", "0.0.0.0/0": igw_id}
    assert {r["GatewayId"] for r in private_rt["Routes"]} == {"local"}  # the database has no way out
    assert {a["SubnetId"] for a in public_rt["Associations"]} == {s["SubnetId"] for s in public}
    assert {a["SubnetId"] for a in private_rt["Associations"]} == {s["SubnetId"] for s in private}

    lb, app, db, admin = ids(built, "network.sg.lb", "network.sg.app", "network.sg.db", "network.sg.db-admin")
    groups = {g["GroupId"]: g for g in ec2.describe_security_groups(GroupIds=[lb, app, db, admin])["SecurityGroups"]}
    rules = {gid: network.flatten(g["IpPermissions"]) for gid, g in groups.items()}
    assert rules[lb] == {("tcp", 443, 443, "cidr", "0.0.0.0/0"), ("tcp", 80, 80, "cidr", "0.0.0.0/0")}
    assert rules[app] == {("tcp", 8000, 8000, "sg", lb)}  # no SSH, nothing from anywhere
    assert rules[db] == {("tcp", 3306, 3306, "sg", app), ("tcp", 3306, 3306, "sg", admin)}
    assert network.flatten(groups[db]["IpPermissionsEgress"]) == set()
    # the db-admin function: nothing in, MySQL to the database group only (AWS's default rule gone)
    assert rules[admin] == set()
    assert network.flatten(groups[admin]["IpPermissionsEgress"]) == {("tcp", 3306, 3306, "sg", db)}
    assert built["network.sg-rules.db-admin-egress"].id == f"{admin} egress"

    params = {p["Name"]: p["Value"] for p in ssm.get_parameters_by_path(Path="/cloudsite/dev/network/")["Parameters"]}
    assert params == {
        "/cloudsite/dev/network/vpc-id": vpc_id,
        "/cloudsite/dev/network/public-subnet-ids": ",".join(s["SubnetId"] for s in public),
        "/cloudsite/dev/network/private-subnet-ids": ",".join(s["SubnetId"] for s in private),
        "/cloudsite/dev/network/availability-zones": ",".join(s["AvailabilityZone"] for s in public),
        "/cloudsite/dev/network/lb-security-group-id": lb,
        "/cloudsite/dev/network/app-security-group-id": app,
        "/cloudsite/dev/network/db-security-group-id": db,
        "/cloudsite/dev/network/db-admin-security-group-id": admin,
        "/cloudsite/dev/network/app-port": "8000",  # [network] app_port: the hooks bind gunicorn to it
    }
    tags = ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId="/cloudsite/dev/network/vpc-id")
    assert {"Key": STACK_TAG, "Value": "dev"} in tags["TagList"]


def test_every_ec2_resource_is_tagged_at_creation(config, aws):
    seen = []

    class Spy(CallHook):
        def before(self, service, operation, params):
            if operation.startswith("Create"):
                seen.append((operation, params.get("TagSpecifications")))

    ctx = make_context(config, hooks=[Spy()])
    engine_for(ctx, ["network"]).apply()
    assert len(seen) == 1 + 1 + 6 + 2 + 4 + 1  # the default route is a CreateRoute
    for operation, specs in seen:
        if operation == "CreateRoute":
            continue
        assert specs and {t["Key"] for t in specs[0]["Tags"]} >= {STACK_TAG, RESOURCE_TAG}, operation


def test_rerun_makes_no_mutating_call(built, config):
    results, counter = apply(config)
    assert counter.mutating == 0, counter.mutating_calls()
    assert {r.action for r in results.values()} == {"no-op"}
    assert {r.id for r in results.values()} == {r.id for r in built.values()}


def drift_vpc(ec2, built):
    ec2.modify_vpc_attribute(VpcId=built["network.vpc"].id, EnableDnsHostnames={"Value": False})


def drift_igw(ec2, built):
    ec2.detach_internet_gateway(InternetGatewayId=built["network.internet-gateway"].id, VpcId=built["network.vpc"].id)


def drift_public_subnet(ec2, built):
    ec2.modify_subnet_attribute(SubnetId=built["network.subnet.public-2"].id, MapPublicIpOnLaunch={"Value": False})


def drift_private_subnet(ec2, built):
    ec2.modify_subnet_attribute(SubnetId=built["network.subnet.private-1"].id, MapPublicIpOnLaunch={"Value": True})


def drift_default_route(ec2, built):
    ec2.delete_route(RouteTableId=built["network.route-table.public"].id, DestinationCidrBlock="0.0.0.0/0")


def drift_association(ec2, built):
    table = ec2.describe_route_tables(RouteTableIds=[built["network.route-table.public"].id])["RouteTables"][0]
    ec2.disassociate_route_table(AssociationId=table["Associations"][0]["RouteTableAssociationId"])


def drift_moved_association(ec2, built):
    """Someone moved a private subnet to the public table (its database would face the internet)."""
    table = ec2.describe_route_tables(RouteTableIds=[built["network.route-table.private"].id])["RouteTables"][0]
    assoc = [a for a in table["Associations"] if a["SubnetId"] == built["network.subnet.private-3"].id][0]
    ec2.replace_route_table_association(AssociationId=assoc["RouteTableAssociationId"],
                                       RouteTableId=built["network.route-table.public"].id)


def drift_private_route(ec2, built):
    ec2.create_route(RouteTableId=built["network.route-table.private"].id, DestinationCidrBlock="0.0.0.0/0",
                     GatewayId=built["network.internet-gateway"].id)


def drift_lb_rule(ec2, built):
    ec2.revoke_security_group_ingress(GroupId=built["network.sg.lb"].id, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])


def drift_app_ssh(ec2, built):
    ec2.authorize_security_group_ingress(GroupId=built["network.sg.app"].id, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])


def drift_db_egress(ec2, built):
    ec2.authorize_security_group_egress(GroupId=built["network.sg.db"].id, IpPermissions=[
        {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])


def drift_db_admin_all_out(ec2, built):
    """Someone gave the db-admin function's group AWS's default rule back: all traffic out."""
    ec2.authorize_security_group_egress(GroupId=built["network.sg.db-admin"].id, IpPermissions=[
        {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])


def drift_db_admin_ingress(ec2, built):
    ec2.authorize_security_group_ingress(GroupId=built["network.sg.db-admin"].id, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}])


def drift_parameter(ec2, built, ssm=None):
    import boto3
    ssm = boto3.client("ssm", region_name="us-east-1")
    ssm.put_parameter(Name="/cloudsite/dev/network/vpc-id", Value="vpc-0wrong", Type="String", Overwrite=True)
    ssm.delete_parameter(Name="/cloudsite/dev/network/db-security-group-id")


DRIFTS = [
    ("network.vpc", drift_vpc, "EnableDnsHostnames: False -> True"),
    ("network.internet-gateway", drift_igw, "attached to: [] -> ["),
    ("network.subnet.public-2", drift_public_subnet, "MapPublicIpOnLaunch: False -> True"),
    ("network.subnet.private-1", drift_private_subnet, "MapPublicIpOnLaunch: True -> False"),
    ("network.route-table.public", drift_default_route, "route 0.0.0.0/0: - -> igw-"),
    ("network.route-table.public", drift_association, "subnets: "),
    ("network.route-table.private", drift_private_route, "route 0.0.0.0/0: igw-"),
    ("network.sg.lb", drift_lb_rule, "ingress: [tcp/443 0.0.0.0/0] -> [tcp/443 0.0.0.0/0, tcp/80 0.0.0.0/0]"),
    ("network.sg.app", drift_app_ssh, "ingress: [tcp/22 0.0.0.0/0, tcp/8000 sg-"),
    ("network.sg.db", drift_db_egress, "egress: [all 0.0.0.0/0] -> []"),
    ("network.sg-rules.db-admin-egress", drift_db_admin_all_out, "egress: [all 0.0.0.0/0, tcp/3306 sg-"),
    ("network.sg.db-admin", drift_db_admin_ingress, "ingress: [tcp/22 10.0.0.0/8] -> []"),
    ("network.outputs", drift_parameter, "vpc-id: vpc-0wrong -> vpc-"),
]


@pytest.mark.parametrize("name, make_drift, expected", DRIFTS, ids=[d[1].__name__ for d in DRIFTS])
def test_drift_is_reported_planned_and_reconciled(built, config, ctx, name, make_drift, expected):
    make_drift(ctx.client("ec2"), built)

    before = status(config)
    drifted = {n: r for n, r in before.items() if r.action != "ok"}
    assert list(drifted) == [name], {n: r.changes for n, r in drifted.items()}
    assert any(expected in change for change in drifted[name].changes), drifted[name].changes

    planned, counter = apply(config, dry_run=True)
    assert counter.mutating == 0
    assert planned[name].action == "update" and planned[name].changes == drifted[name].changes

    results, counter = apply(config)
    assert results[name].action == "update" and counter.mutating > 0
    assert {n: r.action for n, r in status(config).items() if r.action != "ok"} == {}
    again, counter = apply(config)
    assert counter.mutating == 0, counter.mutating_calls()
    assert {r.id for r in again.values()} == {r.id for r in built.values()}  # nothing replaced


def test_a_revoked_db_admin_rule_is_missing_and_comes_back(built, config, ctx):
    ec2 = ctx.client("ec2")
    admin, db = built["network.sg.db-admin"].id, built["network.sg.db"].id
    ec2.revoke_security_group_egress(GroupId=admin, IpPermissions=[network.permission(
        ("tcp", 3306, 3306, "sg", db), "MySQL to the database")])
    assert {n: r.action for n, r in status(config).items() if r.action != "ok"} == {
        "network.sg-rules.db-admin-egress": "missing", "network.outputs": "drifted"}  # it waits for the rule
    results, _ = apply(config)
    assert results["network.sg-rules.db-admin-egress"].action == "create"
    group = ec2.describe_security_groups(GroupIds=[admin])["SecurityGroups"][0]
    assert network.flatten(group["IpPermissionsEgress"]) == {("tcp", 3306, 3306, "sg", db)}
    assert {r.action for r in status(config).values()} == {"ok"}


def test_teardown_revokes_the_db_admin_rule_before_the_groups_go(built, config):
    class Recorder(CallHook):
        calls = []

        def before(self, service, operation, params):
            if operation in ("RevokeSecurityGroupEgress", "DeleteSecurityGroup"):
                self.calls.append((operation, params["GroupId"]))

    engine_for(make_context(config, hooks=[Recorder()]), ["network"]).teardown()
    admin, db = built["network.sg.db-admin"].id, built["network.sg.db"].id
    calls = Recorder.calls
    assert calls.index(("RevokeSecurityGroupEgress", admin)) < calls.index(("DeleteSecurityGroup", db))
    assert calls.index(("DeleteSecurityGroup", db)) < calls.index(("DeleteSecurityGroup", admin))
    assert tagged_with_stack(make_context(config)) == {}


def test_moved_subnet_goes_back_to_its_table(built, config, ctx):
    drift_moved_association(ctx.client("ec2"), built)
    drifted = {n for n, r in status(config).items() if r.action != "ok"}
    assert drifted == {"network.route-table.public", "network.route-table.private"}
    apply(config)
    assert {r.action for r in status(config).values()} == {"ok"}
    table = ctx.client("ec2").describe_route_tables(RouteTableIds=[built["network.route-table.private"].id])
    assert built["network.subnet.private-3"].id in {a["SubnetId"] for a in table["RouteTables"][0]["Associations"]}


def test_a_setting_that_cannot_change_in_place_fails_with_advice(built, config, stacks_dir):
    from devkit.testing import write_stack
    from provisioning.config import load_file
    from provisioning.engine import EngineFailed

    moved = load_file(write_stack(stacks_dir, "dev", vpc_cidr="10.99.0.0/16"))
    with pytest.raises(EngineFailed,
                       match=r"^network.vpc: cidr: 10.20.0.0/16 -> 10.99.0.0/16 \(cannot be changed in place"):
        apply(moved)
    assert status(moved)["network.vpc"].action == "drifted"


def test_plan_on_an_empty_account_makes_no_mutating_call(config, aws):
    planned, counter = apply(config, dry_run=True)
    assert counter.mutating == 0 and counter.reads > 0
    assert {r.action for r in planned.values()} == {"create"} and len(planned) == len(NAMES)
    assert make_context(config).client("ec2").describe_vpcs(
        Filters=[{"Name": "tag:cloudsite:stack", "Values": ["dev"]}])["Vpcs"] == []


def test_plan_mode_guard_refuses_mutating_calls(config, aws):
    ctx = make_context(config, dry_run=True)
    with pytest.raises(MutationBlocked, match="ec2:CreateVpc"):
        ctx.client("ec2").create_vpc(CidrBlock="10.1.0.0/16")
    assert len(ctx.client("ec2").describe_vpcs()["Vpcs"]) == 1  # only moto's default VPC


def test_teardown_leaves_nothing_tagged_with_the_stack(built, config, ctx):
    counter = CallCounter()
    results = engine_for(make_context(config, hooks=[counter]), ["network"]).teardown()
    assert {r.action for r in results} == {"delete"}
    ec2, ssm = ctx.client("ec2"), ctx.client("ssm")
    assert tagged_with_stack(ctx) == {}
    assert ssm.describe_parameters(ParameterFilters=[{"Key": "Path", "Values": ["/cloudsite/dev"],
                                                      "Option": "Recursive"}])["Parameters"] == []
    assert ec2.describe_vpcs(Filters=[{"Name": "cidr", "Values": ["10.20.0.0/16"]}])["Vpcs"] == []
    assert {r.action for r in status(config).values()} == {"missing"}
    again = CallCounter()
    assert {r.action for r in engine_for(make_context(config, hooks=[again]), ["network"]).teardown()} == {"absent"}
    assert again.mutating == 0


def test_teardown_finishes_a_half_deleted_stack(built, config, ctx):
    ctx.client("ssm").delete_parameters(Names=["/cloudsite/dev/network/vpc-id"])
    for name in ("network.sg.db", "network.route-table.private"):
        resource = {r.name: r for r in network.build(config)}[name]
        resource.delete(ctx, resource.find_all(ctx, {})[0])
    engine_for(make_context(config), ["network"]).teardown()
    assert tagged_with_stack(ctx) == {}


def test_zones_come_from_the_config_or_the_region(config, aws, stacks_dir):
    from devkit.testing import write_stack
    from provisioning.config import load_file

    assert make_context(config).availability_zones() == ("us-east-1a", "us-east-1b", "us-east-1c")
    chosen = load_file(write_stack(stacks_dir, "dev", zones='["us-east-1b", "us-east-1c", "us-east-1d"]'))
    results, _ = apply(chosen)
    subnet = make_context(chosen).client("ec2").describe_subnets(SubnetIds=[results["network.subnet.public-3"].id])
    assert subnet["Subnets"][0]["AvailabilityZone"] == "us-east-1d"


def test_a_subnet_the_other_table_let_go_of_meanwhile_is_associated_afresh(config):
    """Both route tables reconcile at once when a subnet was moved: the table that lost it may find
    the association already gone (InvalidAssociationID.NotFound) when it replaces it."""
    import io

    import boto3
    from botocore.stub import Stubber

    from provisioning.context import Context
    from provisioning.reporter import Reporter

    ctx = Context(config, session=boto3.Session(region_name="us-east-1"), reporter=Reporter(io.StringIO()))
    private = {r.name: r for r in network.build(config)}["network.route-table.private"]
    deps = {"network.vpc": {"id": "vpc-1"}, **{f"network.subnet.private-{i}": {"id": f"subnet-{i}"} for i in (1, 2, 3)}}
    state = {"id": "rtb-private", "vpc": "vpc-1", "routes": {}, "associations": {"subnet-1": "a-1", "subnet-2": "a-2"}}
    ec2 = Stubber(ctx.client("ec2"))
    ec2.activate()
    ec2.add_response("describe_route_tables", {"RouteTables": [{"RouteTableId": "rtb-public", "Associations": [
        {"SubnetId": "subnet-3", "RouteTableAssociationId": "a-3", "RouteTableId": "rtb-public"}]}]})
    ec2.add_client_error("replace_route_table_association", "InvalidAssociationID.NotFound", "gone")
    ec2.add_response("associate_route_table", {"AssociationId": "a-new"},
                     {"RouteTableId": "rtb-private", "SubnetId": "subnet-3"})
    new = private.reconcile(ctx, state, [], deps)
    ec2.assert_no_pending_responses()
    assert new["associations"]["subnet-3"] == "a-new"
