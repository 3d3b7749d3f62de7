import io

import boto3
from botocore.stub import Stubber

from provisioning.calls import CallCounter, is_mutating
from provisioning.context import Context, build_session
from provisioning.reporter import LiveReporter, Reporter, make_reporter


def test_assumes_the_configured_role(config, aws):
    role = config.with_overrides(role_arn="arn:aws:iam::123456789012:role/cloudsite-provision", profile="")
    session = build_session(role)
    identity = session.client("sts").get_caller_identity()
    assert "assumed-role/cloudsite-provision/cloudsite-dev-provisioning" in identity["Arn"]
    assert session.get_credentials().access_key != "testing"


def test_clients_retry_in_standard_mode_and_carry_the_hooks(config):
    counter = CallCounter()
    ctx = Context(config, session=boto3.Session(region_name="us-east-1"), hooks=[counter])
    ec2 = ctx.client("ec2")
    assert ctx.client("ec2") is ec2
    assert ec2.meta.config.retries == {"mode": "standard", "total_max_attempts": 11}
    with Stubber(ec2) as stub:
        stub.add_response("describe_vpcs", {"Vpcs": []})
        stub.add_response("create_vpc", {"Vpc": {"VpcId": "vpc-1"}})
        ec2.describe_vpcs()
        ec2.create_vpc(CidrBlock="10.0.0.0/16")
    assert (counter.mutating, counter.reads) == (1, 1)


def test_tags_and_filters(config):
    ctx = Context(config, session=boto3.Session(region_name="us-east-1"))
    assert ctx.tags("network.vpc") == [{"Key": "cloudsite:stack", "Value": "dev"},
                                       {"Key": "cloudsite:resource", "Value": "network.vpc"},
                                       {"Key": "Name", "Value": "cloudsite-dev-vpc"}]
    assert ctx.tag_filters("network.vpc")[1] == {"Name": "tag:cloudsite:resource", "Values": ["network.vpc"]}


def test_mutating_or_read():
    assert not any(map(is_mutating, ["DescribeVpcs", "GetParametersByPath", "ListTags", "AssumeRole"]))
    assert all(map(is_mutating, ["CreateVpc", "PutParameter", "AuthorizeSecurityGroupIngress",
                                 "ModifyVpcAttribute", "DeleteSubnet"]))


class Tty(io.StringIO):
    def isatty(self):
        return True


def test_reporter_plain_lines_off_a_terminal_and_a_live_table_on_one():
    stream = io.StringIO()
    reporter = make_reporter(stream)
    assert type(reporter) is Reporter
    reporter.start("network.vpc", "creating")
    reporter.finish("network.vpc", "create", "vpc-1")
    line = stream.getvalue()
    assert line.startswith("network.vpc") and " create " in line and line.rstrip().endswith("s  vpc-1")

    tty = Tty()
    live = make_reporter(tty)
    assert isinstance(live, LiveReporter)
    with live:
        live.start("network.vpc", "creating")
        live.finish("network.vpc", "create", "vpc-1")
    assert "network.vpc" in tty.getvalue() and "vpc-1" in tty.getvalue()
