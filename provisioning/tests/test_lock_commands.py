"""The stack lock through the commands, in-process (moto in-process): which commands take it, what
plan and status say, the refusal's one line, ``provision_unlock``, teardown, failures releasing it."""
import json
import time

import boto3
import pytest
from botocore.exceptions import ClientError

from devkit.testing import make_context, run
from provisioning import locking, naming
from provisioning.config import load_file
from provisioning.locking.table import FREE, LockTable
from provisioning.tests.lock_fixtures import SteppingClock, a_holder


@pytest.fixture
def held_elsewhere(stacks_dir, aws):
    """A live lock held by a run on another host."""
    holder = a_holder()
    assert LockTable(make_context(load_file(stacks_dir / "dev.toml"))).put(holder, FREE)
    return holder


def lock_item(stacks_dir):
    return locking.read(make_context(load_file(stacks_dir / "dev.toml")))


def test_every_changing_command_is_refused_while_another_run_holds_the_lock(stacks_dir, held_elsewhere):
    for command in (["provision_network"], ["provision_all"], ["provision_image", "--rebake"], ["deploy"],
                    ["deploy_lambda"], ["rotate_db_credentials"], ["teardown", "--yes", "--layer", "compute"]):
        code, out, err = run(*command, "--stack", "dev", stacks_dir=stacks_dir)
        assert code == 1 and len(err.strip().splitlines()) == 1, (command, err)
        assert err.startswith("stack dev is locked by provision_data (arn:aws:iam::123456789012:user/ci on host "
                              "ci-runner-7, pid 4242) since "), (command, err)
        assert f"provision_unlock --stack dev --lock-id {held_elsewhere.lock_id}" in err
    assert lock_item(stacks_dir) == held_elsewhere  # nothing touched it
    vpcs = boto3.client("ec2", region_name="us-east-1").describe_vpcs()["Vpcs"]
    assert all(v["IsDefault"] for v in vpcs)  # and nothing was built


def test_plan_and_status_never_take_the_lock_and_say_who_holds_it(stacks_dir, held_elsewhere):
    code, out, err = run("provision_network", "--stack", "dev", "--plan", stacks_dir=stacks_dir)
    assert code == 0 and "note: stack dev is locked by provision_data" in out and "16 to create" in out
    code, out, err = run("provision_status", "--stack", "dev", "--layer", "network", "--json", stacks_dir=stacks_dir)
    assert code == 3 and json.loads(out)["lock"]["lock_id"] == held_elsewhere.lock_id
    assert "note: stack dev is locked by provision_data" in err  # progress on stderr beside JSON
    code, out, err = run("deploy", "--stack", "dev", "--plan", stacks_dir=stacks_dir)
    assert "note: stack dev is locked" in out
    assert lock_item(stacks_dir) == held_elsewhere


def test_a_free_stack_is_reported_free_and_a_run_leaves_it_free(stacks_dir, aws):
    code, out, _ = run("provision_network", "--stack", "dev", "--json", stacks_dir=stacks_dir)
    assert code == 0 and set(json.loads(out)["lock"]) == {"id", "holder"}
    assert lock_item(stacks_dir) is None
    code, out, _ = run("provision_status", "--stack", "dev", "--layer", "network", "--json", stacks_dir=stacks_dir)
    assert code == 0 and json.loads(out)["lock"] is None and "locked" not in out


def test_a_failed_run_releases_the_lock(stacks_dir, aws, monkeypatch):
    from provisioning.layers import network

    def refuse(self, ctx, deps):
        raise ClientError({"Error": {"Code": "UnauthorizedOperation", "Message": "no"}}, "CreateSecurityGroup")
    monkeypatch.setattr(network.SecurityGroup, "create", refuse)
    assert run("provision_network", "--stack", "dev", stacks_dir=stacks_dir)[0] == 1
    assert lock_item(stacks_dir) is None
    assert run("provision_compute", "--stack", "dev", stacks_dir=stacks_dir)[0] == 1  # network missing
    assert lock_item(stacks_dir) is None


def test_the_lock_timeout_waits_for_the_holder(stacks_dir, held_elsewhere, monkeypatch):
    table = LockTable(make_context(load_file(stacks_dir / "dev.toml")))
    clock = SteppingClock(on_sleep=lambda n: table.remove(held_elsewhere.lock_id) if n == 2 else None)
    code, out, err = run("provision_network", "--stack", "dev", "--lock-timeout", "120", stacks_dir=stacks_dir,
                         clock=clock)
    assert code == 0, err
    assert "waiting up to 120s for the lock of stack dev: held by provision_data" in out and clock.sleeps >= 2


def test_unlock_refuses_a_live_lease_without_force_and_breaks_it_with(stacks_dir, held_elsewhere):
    code, out, err = run("provision_unlock", "--stack", "dev", "--lock-id", "ffffffffffffffff", stacks_dir=stacks_dir)
    assert code == 1 and "not by lock id ffffffffffffffff: nothing was changed" in err
    code, out, err = run("provision_unlock", "--stack", "dev", "--lock-id", held_elsewhere.lock_id,
                         stacks_dir=stacks_dir)
    assert code == 1 and "is live" in err and "add --force" in err and lock_item(stacks_dir) == held_elsewhere
    code, out, err = run("provision_unlock", "--stack", "dev", "--lock-id", held_elsewhere.lock_id, "--force",
                         stacks_dir=stacks_dir)
    assert code == 0 and f"broke lock {held_elsewhere.lock_id}" in out and "that run stops" in out
    assert lock_item(stacks_dir) is None
    code, out, err = run("provision_unlock", "--stack", "dev", "--lock-id", held_elsewhere.lock_id,
                         stacks_dir=stacks_dir)
    assert code == 0 and "is not locked" in out


def test_unlock_breaks_an_expired_lease_without_force(stacks_dir, aws):
    holder = a_holder(expires=time.time() - 1)
    LockTable(make_context(load_file(stacks_dir / "dev.toml"))).put(holder, FREE)
    code, out, err = run("provision_unlock", "--stack", "dev", "--lock-id", holder.lock_id, stacks_dir=stacks_dir)
    assert code == 0 and "that run stops" not in out and lock_item(stacks_dir) is None


def test_teardown_of_the_whole_stack_deletes_the_lock_table_last(stacks_dir, aws):
    assert run("provision_network", "--stack", "dev", stacks_dir=stacks_dir)[0] == 0
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    assert naming.lock_table("dev") in ddb.list_tables()["TableNames"]
    code, out, err = run("teardown", "--stack", "dev", "--layer", "network", "--yes", stacks_dir=stacks_dir)
    assert code == 0 and naming.lock_table("dev") in ddb.list_tables()["TableNames"]  # one layer: kept
    assert run("provision_network", "--stack", "dev", stacks_dir=stacks_dir)[0] == 0
    code, out, err = run("teardown", "--stack", "dev", "--yes", "--json", stacks_dir=stacks_dir)
    assert code == 0, err
    assert naming.lock_table("dev") not in ddb.list_tables()["TableNames"]
    assert not [i for i in json.loads(out)["leftovers"] if "lock" in i["id"]]
