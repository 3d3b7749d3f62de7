"""The commands as real processes against a moto_server on loopback (AWS_ENDPOINT_URL)."""
import json

import boto3
import pytest

from devkit.testing import command_env, manage, moto_server, tagged_with_stack
from provisioning.config import load_file
from provisioning.context import Context


@pytest.fixture(scope="module")
def endpoint():
    with moto_server() as url:
        yield url


def test_commands_as_processes(endpoint, stacks_dir, monkeypatch):
    env = command_env(endpoint)
    code, out, err = manage(stacks_dir, env, "provision_network", "--stack", "dev", "--plan")
    assert code == 0 and "16 to create" in out and "(0 mutating AWS calls" in out, err

    code, out, err = manage(stacks_dir, env, "provision_network", "--stack", "dev")
    assert code == 0 and "16 created" in out, err
    assert "network.sg.db" in out and "Traceback" not in err

    code, out, err = manage(stacks_dir, env, "provision_network", "--stack", "dev", "--json")
    rerun = json.loads(out)
    assert code == 0 and rerun["calls"]["mutating"] == 0 and {r["action"] for r in rerun["resources"]} == {"no-op"}

    code, out, err = manage(stacks_dir, env, "provision_status", "--stack", "dev", "--layer", "network")
    assert code == 0 and "16 of 16" in out and "/cloudsite/dev/network/vpc-id = vpc-" in out

    ec2 = boto3.client("ec2", endpoint_url=endpoint, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    vpc_id = json.loads(manage(stacks_dir, env, "provision_status", "--stack", "dev", "--layer", "network",
                               "--json")[1])["resources"][0]["id"]
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": False})
    code, out, err = manage(stacks_dir, env, "provision_status", "--stack", "dev", "--layer", "network")
    assert code == 3 and "EnableDnsHostnames: False -> True" in out

    code, out, err = manage(stacks_dir, env, "teardown", "--stack", "dev")
    assert code == 2 and "--yes" in err
    code, out, err = manage(stacks_dir, env, "teardown", "--stack", "dev", "--yes")
    assert code == 0 and "16 deleted" in out, err
    code, out, err = manage(stacks_dir, env, "provision_status", "--stack", "dev", "--layer", "network")
    assert code == 3 and "16 missing" in err

    for key, value in command_env(endpoint).items():
        monkeypatch.setenv(key, value)
    ctx = Context(load_file(stacks_dir / "dev.toml"), session=boto3.Session(region_name="us-east-1"))
    assert ctx.client("ec2").meta.endpoint_url == endpoint
    assert tagged_with_stack(ctx) == {}


def test_usage_and_credential_errors_are_one_line(endpoint, stacks_dir, tmp_path):
    env = command_env(endpoint)
    code, out, err = manage(stacks_dir, env, "provision_network")
    assert code == 2 and "--stack" in err
    bare = {k: v for k, v in env.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    bare.update(AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"), AWS_CONFIG_FILE=str(tmp_path / "none"),
                AWS_EC2_METADATA_DISABLED="true")
    code, out, err = manage(stacks_dir, bare, "provision_network", "--stack", "dev")
    assert code == 1 and len(err.strip().splitlines()) == 1 and "no AWS credentials found" in err
