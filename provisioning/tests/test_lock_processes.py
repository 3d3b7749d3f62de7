"""The stack lock between real processes against one moto_server (AWS_ENDPOINT_URL on loopback):
concurrent applies, a holder killed with SIGKILL (on this host, and on "another host": a process
with a hostname of its own, ``unshare --uts``), Ctrl-C, provision_unlock, racing takeovers."""
import re
import signal
import subprocess
import time

import boto3
import pytest

from devkit import inventory, live
from devkit.testing import command_env, manage, manage_command, moto_server, run_once
from provisioning import naming
from provisioning.config import load_file
from provisioning.context import Context
from provisioning.locking.holder import Holder
from provisioning.locking.table import FREE, holder_of, item

# a process that runs on "another host": its own UTS namespace and hostname (root only)
ANOTHER_HOST = ["unshare", "--uts", "sh", "-c", 'hostname ci-runner-9 && exec "$0" "$@"']


@pytest.fixture
def endpoint():
    with moto_server() as url:
        yield url


def start(stacks_dir, env, *args, prefix=()):
    return subprocess.Popen(manage_command(*args, stacks_dir=stacks_dir, prefix=prefix), cwd=live.REPO,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process, timeout=300):
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def dynamodb(endpoint):
    return boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def lock_holder(endpoint) -> Holder | None:
    try:
        found = dynamodb(endpoint).get_item(TableName=naming.lock_table("dev"), Key={"stack": {"S": "dev"}},
                                            ConsistentRead=True).get("Item")
    except dynamodb(endpoint).exceptions.ResourceNotFoundException:
        return None
    return holder_of(found) if found else None


def vpc_exists(endpoint) -> bool:
    ec2 = boto3.client("ec2", endpoint_url=endpoint, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    return bool(ec2.describe_vpcs(Filters=[{"Name": f"tag:{naming.STACK_TAG}", "Values": ["dev"]}])["Vpcs"])


def kill_mid_run(process, endpoint) -> Holder:
    """SIGKILL once the run holds the lock and has built its VPC (it has more to build)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        holder = lock_holder(endpoint)
        if holder is not None and vpc_exists(endpoint):
            break
        time.sleep(0.02)
    assert process.poll() is None, f"the run ended before it could be killed: {process.communicate()}"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    left = lock_holder(endpoint)
    assert left is not None and left.pid == process.pid, "the killed run's lock should be left behind"
    return left


def inventory_now(endpoint, stacks_dir, monkeypatch) -> dict:
    for key, value in command_env(endpoint).items():
        monkeypatch.setenv(key, value)
    ctx = Context(load_file(stacks_dir / "dev.toml"), session=boto3.Session(region_name="us-east-1"))
    return inventory.counts(ctx, ["network"])


@pytest.fixture(scope="module")
def clean_inventory(tmp_path_factory):
    """What a single clean apply of the network layer leaves (in-process moto)."""
    from moto import mock_aws

    from devkit.testing import write_stack

    stacks = tmp_path_factory.mktemp("clean")
    write_stack(stacks, "dev")
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("AWS_ENDPOINT_URL", raising=False)
        with mock_aws():
            return run_once(load_file(stacks / "dev.toml"), "network").inventory


@pytest.mark.parametrize("runs, timeout", [(2, "0"), (5, "0"), (5, "300")])
def test_concurrent_applies_build_one_stack(runs, timeout, endpoint, stacks_dir, clean_inventory, monkeypatch):
    env = command_env(endpoint)
    processes = [start(stacks_dir, env, "provision_network", "--stack", "dev", "--lock-timeout", timeout)
                 for _ in range(runs)]
    outcomes = [finish(process) for process in processes]
    created = [out for code, out, _ in outcomes if code == 0 and "16 created" in out]
    assert len(created) == 1, outcomes  # exactly one run built the stack
    for code, out, err in outcomes:
        if code == 0:  # it ran before or after the builder: found everything built
            assert "16 created" in out or "0 created, 0 updated, 16 unchanged" in out, out
        else:  # refused, naming the holder: only where it would not wait
            assert timeout == "0" and code == 1, (code, out, err)
            assert err.strip().startswith("CommandError: stack dev is locked by provision_network ("), err
            assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    if timeout != "0":
        assert all(code == 0 for code, _, _ in outcomes)
    assert inventory_now(endpoint, stacks_dir, monkeypatch) == clean_inventory
    code, out, err = manage(stacks_dir, env, "provision_status", "--stack", "dev", "--layer", "network")
    assert code == 0 and "16 of 16" in out and lock_holder(endpoint) is None


def test_a_killed_holder_on_this_host_is_taken_over_at_once(endpoint, stacks_dir, clean_inventory, monkeypatch):
    env = command_env(endpoint)
    killed = kill_mid_run(start(stacks_dir, env, "provision_network", "--stack", "dev", "--workers", "1"), endpoint)
    code, out, err = manage(stacks_dir, env, "provision_network", "--stack", "dev")
    assert code == 0, err
    assert "took over the lock of stack dev from a run on this host that is gone: provision_network" in out
    assert f"pid {killed.pid}" in out and not re.search(r"\b0 created", out)  # it built the rest
    assert inventory_now(endpoint, stacks_dir, monkeypatch) == clean_inventory
    assert lock_holder(endpoint) is None


def test_a_killed_holder_elsewhere_is_taken_over_once_its_lease_expires(endpoint, stacks_dir, clean_inventory,
                                                                        monkeypatch):
    env = command_env(endpoint)
    killed = kill_mid_run(start(stacks_dir, {**env, "CLOUDSITE_LOCK_LEASE_SECONDS": "20"}, "provision_network",
                                "--stack", "dev", "--workers", "1", prefix=ANOTHER_HOST), endpoint)
    assert killed.host == "ci-runner-9"
    # its lease is live: refused at once, naming it; plan and status go on and leave it alone
    code, out, err = manage(stacks_dir, env, "provision_network", "--stack", "dev")
    assert code == 1 and "on host ci-runner-9" in err and f"--lock-id {killed.lock_id}" in err
    code, out, err = manage(stacks_dir, env, "provision_network", "--stack", "dev", "--plan")
    assert code == 0 and "note: stack dev is locked by provision_network" in out and "nothing was changed" in out
    code, out, err = manage(stacks_dir, env, "provision_status", "--stack", "dev", "--layer", "network")
    assert code == 3 and "note: stack dev is locked by provision_network" in out
    assert lock_holder(endpoint) == killed  # not renewed, not taken: plan and status took no lock
    # a run that waits takes it over once the lease has expired, and finishes the stack
    code, out, err = manage(stacks_dir, env, "provision_network", "--stack", "dev", "--lock-timeout", "120")
    assert code == 0, err
    assert "took over the lock of stack dev, whose lease expired at" in out and killed.lock_id in out
    assert inventory_now(endpoint, stacks_dir, monkeypatch) == clean_inventory
    assert lock_holder(endpoint) is None


def test_provision_unlock_breaks_a_killed_holders_lock_at_once(endpoint, stacks_dir, clean_inventory, monkeypatch):
    env = command_env(endpoint)
    killed = kill_mid_run(start(stacks_dir, env, "provision_network", "--stack", "dev", "--workers", "1",
                                prefix=ANOTHER_HOST), endpoint)
    code, out, err = manage(stacks_dir, env, "provision_unlock", "--stack", "dev", "--lock-id", killed.lock_id)
    assert code == 1 and "is live" in err and "--force" in err
    code, out, err = manage(stacks_dir, env, "provision_unlock", "--stack", "dev", "--lock-id", killed.lock_id,
                            "--force")
    assert code == 0 and f"broke lock {killed.lock_id}" in out
    code, out, err = manage(stacks_dir, env, "provision_network", "--stack", "dev")
    assert code == 0 and "took over" not in out, err
    assert inventory_now(endpoint, stacks_dir, monkeypatch) == clean_inventory


def test_ctrl_c_releases_the_lock(endpoint, stacks_dir):
    env = command_env(endpoint)
    process = start(stacks_dir, env, "provision_network", "--stack", "dev", "--workers", "1")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (lock_holder(endpoint) and vpc_exists(endpoint)):
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    code, out, err = finish(process)
    assert code == 130 and "interrupted by Ctrl-C" in err, (code, out, err)
    assert lock_holder(endpoint) is None
    code, out, err = manage(stacks_dir, env, "provision_network", "--stack", "dev")
    assert code == 0 and "took over" not in out, err


def test_runs_racing_for_an_expired_lease_exactly_one_takes_it(endpoint, stacks_dir):
    env = command_env(endpoint)
    assert manage(stacks_dir, env, "provision_network", "--stack", "dev")[0] == 0  # the table, and a stack
    for round in range(4):
        now = time.time()
        expired = Holder(f"expired{round:09d}", "provision_data", "arn:aws:iam::123456789012:user/ci", "ci-runner-9",
                         "another-boot", 4242, None, since=now - 120, expires=now - 60)
        dynamodb(endpoint).put_item(TableName=naming.lock_table("dev"), Item=item("dev", expired),
                                    ConditionExpression=FREE, ExpressionAttributeNames={"#id": "lock_id"})
        outcomes = [finish(p) for p in [start(stacks_dir, env, "provision_network", "--stack", "dev")
                                        for _ in range(2)]]
        took = [out for code, out, _ in outcomes if code == 0 and "whose lease expired" in out]
        assert len(took) == 1, (round, outcomes)
        for code, out, err in outcomes:
            assert code == 0 or ("is locked by provision_network" in err and code == 1), (code, out, err)
        assert lock_holder(endpoint) is None
