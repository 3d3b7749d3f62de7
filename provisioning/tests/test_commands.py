"""The management commands in-process (moto in-process): output, JSON, exit codes, errors."""
import io
import json
import re

import pytest
from botocore.exceptions import ClientError
from django.core.management import CommandError, call_command

from devkit.testing import run, write_stack


def test_apply_rerun_status_teardown(stacks_dir, aws):
    code, out, err = run("provision_network", "--stack", "dev", "--json", stacks_dir=stacks_dir)
    first = json.loads(out)
    assert code == 0 and first["ok"] and first["plan"] is False
    assert {r["action"] for r in first["resources"]} == {"create"} and first["calls"]["mutating"] > 0
    assert "network.vpc" in err  # progress goes to stderr when stdout carries JSON

    code, out, _ = run("provision_network", "--stack", "dev", stacks_dir=stacks_dir)
    assert code == 0 and "0 created, 0 updated, 16 unchanged" in out and "(0 mutating AWS calls" in out

    code, out, _ = run("provision_status", "--stack", "dev", "--layer", "network", "--json", stacks_dir=stacks_dir)
    status = json.loads(out)
    assert code == 0 and status["ok"] and {r["action"] for r in status["resources"]} == {"ok"}
    outputs = {r["name"]: r["outputs"] for r in status["resources"]}
    vpc_id = outputs["network.vpc"]["vpc-id"]
    assert outputs["network.outputs"]["/cloudsite/dev/network/vpc-id"] == vpc_id

    code, out, err = run("teardown", "--stack", "dev", stacks_dir=stacks_dir)
    assert code == 2 and "--yes" in err
    code, out, _ = run("provision_status", "--stack", "dev", "--layer", "network", stacks_dir=stacks_dir)
    assert code == 0 and "16 of 16" in out  # nothing was deleted

    code, out, _ = run("teardown", "--stack", "dev", "--layer", "network", "--yes", stacks_dir=stacks_dir)
    assert code == 0 and "16 deleted" in out
    code, out, err = run("provision_status", "--stack", "dev", "--layer", "network", stacks_dir=stacks_dir)
    assert code == 3 and "16 missing, 0 drifted; run provision_network --stack dev" in err


def test_plan_changes_nothing(stacks_dir, aws):
    code, out, _ = run("provision_network", "--stack", "dev", "--plan", "--json", stacks_dir=stacks_dir)
    plan = json.loads(out)
    assert code == 0 and plan["plan"] and plan["calls"]["mutating"] == 0
    assert {r["action"] for r in plan["resources"]} == {"create"}
    code, _, _ = run("provision_status", "--stack", "dev", "--layer", "network", stacks_dir=stacks_dir)
    assert code == 3


def test_status_exits_3_on_drift(stacks_dir, aws):
    import boto3

    run("provision_network", "--stack", "dev", stacks_dir=stacks_dir)
    ec2 = boto3.client("ec2", region_name="us-east-1")
    group = ec2.describe_security_groups(Filters=[{"Name": "tag:cloudsite:resource", "Values": ["network.sg.app"]}])
    ec2.authorize_security_group_ingress(GroupId=group["SecurityGroups"][0]["GroupId"], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    code, out, err = run("provision_status", "--stack", "dev", "--layer", "network", stacks_dir=stacks_dir)
    assert code == 3 and "0 missing, 1 drifted" in err and "tcp/22 0.0.0.0/0" in out
    assert run("provision_network", "--stack", "dev", stacks_dir=stacks_dir)[0] == 0
    assert run("provision_status", "--stack", "dev", "--layer", "network", stacks_dir=stacks_dir)[0] == 0


def test_bad_usage_exits_2(stacks_dir):
    code, _, err = run("provision_network", "--stack", "qa", stacks_dir=stacks_dir)
    assert code == 2 and "no stack 'qa'" in err
    with pytest.raises(CommandError, match="--stack"):
        call_command("provision_network", stdout=io.StringIO())


def test_a_broken_stack_file_is_one_line_naming_file_and_key(stacks_dir):
    write_stack(stacks_dir, "dev", vpc_cidr="10.0.0.0/8")
    code, _, err = run("provision_network", "--stack", "dev", stacks_dir=stacks_dir)
    assert code == 1 and err.startswith(f"{stacks_dir / 'dev.toml'}: [network] vpc_cidr: expected")
    assert "\n" not in err.strip()


@pytest.fixture
def no_credentials(monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
                 "AWS_PROFILE", "AWS_DEFAULT_REGION", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", raising=False)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)


def test_missing_credentials_region_or_profile_is_one_line(stacks_dir, no_credentials):
    code, _, err = run("provision_status", "--stack", "dev", "--layer", "network", stacks_dir=stacks_dir)
    assert code == 1 and err.startswith("no AWS credentials found") and "Traceback" not in err
    code, _, err = run("provision_status", "--stack", "dev", "--layer", "network", "--region", "",
                       stacks_dir=stacks_dir)
    assert code == 1 and err.startswith("no AWS region")
    code, _, err = run("provision_status", "--stack", "dev", "--layer", "network", "--profile", "nobody",
                       stacks_dir=stacks_dir)
    assert code == 1 and "The config profile (nobody) could not be found" in err


def test_an_aws_error_mid_run_says_what_and_how_to_go_on(stacks_dir, aws, monkeypatch):
    from provisioning.layers import network

    def refuse(self, ctx, deps):
        raise ClientError({"Error": {"Code": "UnauthorizedOperation", "Message": "You are not authorized"}},
                          "CreateSecurityGroup")
    monkeypatch.setattr(network.SecurityGroup, "create", refuse)
    code, out, err = run("provision_network", "--stack", "dev", stacks_dir=stacks_dir)
    assert code == 1
    assert re.match(r"network\.sg\.(lb|db-admin): UnauthorizedOperation: You are not authorized\. Fix that, "
                    "then run the same command again", err), err  # the first group the engine starts
    assert "failed" in out and "Traceback" not in err + out
