"""provision_data, provision_status and teardown over the data layer (moto in-process): output,
the prod refusal, and that the database password appears nowhere: not in stdout or stderr (plain
or --json), not in a log record, not in an SSM String parameter."""
import json
import logging

import pytest

from devkit.testing import run
from provisioning.tests.pipeline_fixtures import emulated_stack

pytestmark = pytest.mark.usefixtures("moto_ebs_default_key")


def secret_passwords(ctx_client) -> list[str]:
    sm = ctx_client("secretsmanager")
    return [json.loads(sm.get_secret_value(SecretId=f"cloudsite/dev/db-{purpose}")["SecretString"])["password"]
            for purpose in ("master", "app")]


def test_provision_data_plan_apply_status_teardown_never_show_the_password(stacks_dir, aws, caplog, emulated_mysql):
    """The passwords travel in CreateSecret, CreateDBInstance and the db-admin Invoke: never in
    output, a log record (at DEBUG; the commands keep botocore's own wire log at WARNING) or SSM."""
    caplog.set_level(logging.DEBUG)
    emulated_stack(stacks_dir / "dev.toml")
    import boto3

    client = lambda s: boto3.client(s, region_name="us-east-1")  # noqa: E731
    outputs = []

    def command(*args):
        result = run(*args, stacks_dir=stacks_dir)
        outputs.append(result)
        return result

    assert command("provision_network", "--stack", "dev")[0] == 0
    code, out, err = command("provision_data", "--stack", "dev", "--plan")
    assert code == 0 and "18 to create" in out and "(0 mutating AWS calls" in out

    code, out, err = command("provision_data", "--stack", "dev")
    assert code == 0 and "18 created" in out, err
    assert "account-and-region setting" in out  # EBS encryption by default
    code, out, err = command("provision_data", "--stack", "dev", "--json")
    rerun = json.loads(out)
    assert code == 0 and rerun["calls"]["mutating"] == 0 and {r["action"] for r in rerun["resources"]} == {"no-op"}

    code, out, err = command("provision_status", "--stack", "dev", "--layer", "network", "--layer", "data")
    assert code == 0 and "34 of 34" in out and "/cloudsite/dev/data/db-app-secret-arn = arn:aws:secretsmanager:" in out
    assert "/cloudsite/dev/data/db-user = cloudsite_app" in out
    code, out, err = command("provision_status", "--stack", "dev", "--layer", "data", "--json")
    assert code == 0 and len(json.loads(out)["resources"]) == 18

    passwords = secret_passwords(client)
    assert all(len(p) == 40 for p in passwords)
    ssm = client("ssm")
    parameters = ssm.get_paginator("get_parameters_by_path").paginate(
        Path="/cloudsite/", Recursive=True, WithDecryption=True).build_full_result()["Parameters"]
    assert len(parameters) == 9 + 14  # network (its app-port too) and data outputs
    assert all(password not in p["Value"] for p in parameters for password in passwords)
    assert {p["Type"] for p in parameters} == {"String"}

    code, out, err = command("teardown", "--stack", "dev", "--layer", "network", "--yes")
    assert code == 1 and "data." in err and "tear down data first" in err
    code, out, err = command("teardown", "--stack", "dev", "--layer", "data", "--yes", "--json")
    assert code == 0 and {r["action"] for r in json.loads(out)["resources"]} == {"delete"}
    assert "account-and-region setting" in err and "scheduled for deletion in 7 days" in err

    for password in passwords:
        for code, out, err in outputs:
            assert password not in out and password not in err
        assert all(password not in record.getMessage() for record in caplog.records)
        assert password not in caplog.text


def test_teardown_of_a_protected_stack_refuses_without_the_flag(stacks_dir, aws, emulated_mysql):
    path = emulated_stack(stacks_dir / "dev.toml")
    path.write_text(path.read_text() + "\n[database]\ndeletion_protection = true\n")
    assert run("provision_network", "--stack", "dev", stacks_dir=stacks_dir)[0] == 0
    assert run("provision_data", "--stack", "dev", stacks_dir=stacks_dir)[0] == 0

    for args in (("--yes",), ("--layer", "data", "--yes")):
        code, out, err = run("teardown", "--stack", "dev", *args, stacks_dir=stacks_dir)
        assert code == 2 and "--allow-prod-data" in err and "deletion_protection" in err
    assert run("provision_status", "--stack", "dev", "--layer", "network", "--layer", "data",
               stacks_dir=stacks_dir)[0] == 0  # nothing deleted

    code, out, err = run("teardown", "--stack", "dev", "--yes", "--allow-prod-data", stacks_dir=stacks_dir)
    assert code == 0 and "34 deleted" in out, err
    assert "final snapshot cloudsite-dev-db-final-" in out
    # the network layer of a protected stack needs no flag
    assert run("teardown", "--stack", "dev", "--layer", "network", "--yes", stacks_dir=stacks_dir)[0] == 0
