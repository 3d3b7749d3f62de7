"""The stack lock in-process (moto): taking, waiting, refusing, takeovers, the heartbeat, release."""
import os
import socket
import subprocess
import sys
import threading
import time

import boto3
import pytest

from devkit.testing import make_context
from provisioning import locking, naming
from provisioning.calls import CallHook, is_mutating
from provisioning.config import ConfigError
from provisioning.locking import holder as holders
from provisioning.locking.table import LockTable
from provisioning.tests.lock_fixtures import SteppingClock, a_holder, write_holder

STACK = "dev"


def quiet(lines=None):
    return (lines.append if lines is not None else (lambda line: None))


def test_first_use_makes_the_tagged_table_records_the_holder_and_release_frees_it(config, aws):
    ctx = make_context(config)
    with locking.held(ctx, "provision_network") as lock:
        holder = locking.read(make_context(config))
        assert (holder.lock_id, holder.command, holder.pid, holder.host) == (
            lock.lock_id, "provision_network", os.getpid(), socket.gethostname())
        assert holder.caller.startswith("arn:aws:") and holder.expires - holder.since == lock.lease == 60
    assert locking.read(ctx) is None
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    table = ddb.describe_table(TableName=naming.lock_table(STACK))["Table"]  # kept for the next run
    tags = {t["Key"]: t["Value"] for t in ddb.list_tags_of_resource(ResourceArn=table["TableArn"])["Tags"]}
    assert tags[naming.STACK_TAG] == STACK and table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"


def test_a_second_run_is_refused_at_once_naming_the_holder_and_how_to_go_on(config, aws):
    with locking.held(make_context(config), "provision_network") as first:
        with pytest.raises(locking.LockHeld) as refused:
            locking.StackLock(make_context(config), "provision_data").acquire()
        assert locking.read(make_context(config)).lock_id == first.lock_id  # untouched
    message = str(refused.value)
    assert "stack dev is locked by provision_network (arn:aws:" in message and f"pid {os.getpid()}" in message
    assert f"provision_unlock --stack dev --lock-id {first.lock_id}" in message and "--lock-timeout" in message


def test_a_waiting_run_takes_the_lock_once_the_holder_releases_it(config, aws):
    first = locking.StackLock(make_context(config), "provision_network").acquire()
    clock = SteppingClock(on_sleep=lambda n: first.release() if n == 3 else None)
    lines = []
    second = locking.StackLock(make_context(config, clock=clock), "provision_data", timeout=60,
                               say=quiet(lines)).acquire()
    try:
        assert locking.read(make_context(config)).lock_id == second.lock_id
        assert clock.sleeps == 3 and len(lines) == 1 and lines[0].startswith(
            "waiting up to 60s for the lock of stack dev: held by provision_network")
    finally:
        second.release()


def test_a_waiting_run_gives_up_after_its_timeout(config, aws):
    with locking.held(make_context(config), "provision_network"):
        clock = SteppingClock()
        with pytest.raises(locking.LockHeld) as refused:
            locking.StackLock(make_context(config, clock=clock), "provision_data", timeout=30, say=quiet()).acquire()
    assert "after waiting 30s" in str(refused.value) and clock.now == pytest.approx(30)


def test_a_holder_on_this_host_whose_process_is_gone_is_taken_over_at_once(config, aws):
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(ended.stdout)
    write_holder(config, a_holder(host=socket.gethostname(), boot=holders.boot_id(), pid=dead))
    lines = []
    with locking.held(make_context(config), "provision_network", say=quiet(lines)) as lock:
        assert locking.read(make_context(config)).lock_id == lock.lock_id
    assert len(lines) == 1 and "from a run on this host that is gone" in lines[0] and f"pid {dead}" in lines[0]


def test_a_live_process_is_the_holder_unless_its_pid_now_belongs_to_a_later_process(config, aws):
    parent = os.getppid()  # alive: it started this test run
    started = holders.process_started(parent)
    write_holder(config, a_holder(host=socket.gethostname(), boot=holders.boot_id(), pid=parent,
                                  pid_started=started))
    with pytest.raises(locking.LockHeld):
        locking.StackLock(make_context(config), "provision_network").acquire()
    LockTable(make_context(config)).remove("0123456789abcdef")
    write_holder(config, a_holder(host=socket.gethostname(), boot=holders.boot_id(), pid=parent,
                                  pid_started=started + 1))  # the pid was reused since: that run is gone
    with locking.held(make_context(config), "provision_network", say=quiet()) as lock:
        assert locking.read(make_context(config)).lock_id == lock.lock_id


def test_a_run_of_this_process_that_ended_without_releasing_is_taken_over(config, aws):
    """The crash-resume tests' case: the "dead" run was this very process's."""
    crashed = locking.StackLock(make_context(config), "provision_network").acquire()
    holders.held_here(crashed.lock_id, False)  # what a crash inside the run leaves: no live run has it
    crashed._stop.set()
    lines = []
    with locking.held(make_context(config), "provision_network", say=quiet(lines)):
        pass
    assert "from a run on this host that is gone" in lines[0] and crashed.lock_id in lines[0]


def test_a_holder_elsewhere_is_waited_for_until_its_lease_expires(config, aws):
    holder = a_holder()
    write_holder(config, holder)
    with pytest.raises(locking.LockHeld) as refused:
        locking.StackLock(make_context(config), "provision_network").acquire()
    assert "host ci-runner-7, pid 4242" in str(refused.value)
    lines = []
    later = lambda: holder.expires + 1  # noqa: E731
    lock = locking.StackLock(make_context(config), "provision_network", say=quiet(lines), wall=later).acquire()
    try:
        assert "whose lease expired at" in lines[0] and holder.lock_id in lines[0]
    finally:
        lock.release()


def test_racing_for_an_expired_lease_exactly_one_run_wins(config, aws):
    for round in range(8):
        holder = a_holder(lock_id=f"expired{round:09d}", expires=time.time() - 1)
        write_holder(config, holder)
        racers = [locking.StackLock(make_context(config), f"racer-{i}", say=quiet()) for i in range(5)]
        for racer in racers:  # clients are made on this thread: the shared test session is not thread-safe
            racer.ctx.lock_client(), racer.ctx.client("sts")
        start, won, refused = threading.Barrier(len(racers)), [], []

        def race(racer):
            start.wait()
            try:
                won.append(racer.acquire())
            except locking.LockHeld:
                refused.append(racer)
        threads = [threading.Thread(target=race, args=(racer,)) for racer in racers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(won) == 1 and len(refused) == 4, (round, len(won))
        assert locking.read(make_context(config)).lock_id == won[0].lock_id
        won[0].release()


class Writes(CallHook):
    def __init__(self):
        self.calls = []

    def before(self, service, operation, params):
        if is_mutating(operation):
            self.calls.append((operation, params.get("ConditionExpression"), dict(params.get(
                "ExpressionAttributeValues", {}))))


def test_every_write_is_conditional_on_this_runs_own_lock(config, aws):
    writes = Writes()
    ctx = make_context(config, hooks=(writes,))
    lock = locking.StackLock(ctx, "provision_network", lease=0.3).acquire()  # a heartbeat every 0.1 s
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any(op == "UpdateItem" for op, _, _ in writes.calls):
        time.sleep(0.02)
    lock.release()
    mine = {":mine": {"S": lock.lock_id}}
    assert writes.calls[0][:2] == ("PutItem", "attribute_not_exists(#id)")
    renewals = [call for call in writes.calls if call[0] == "UpdateItem"]
    assert renewals and all(c == "#id = :mine" and v[":mine"] == mine[":mine"] for _, c, v in renewals)
    assert writes.calls[-1] == ("DeleteItem", "#id = :mine", mine)


def test_a_run_that_lost_its_lock_makes_no_further_change(config, aws):
    ctx = make_context(config)
    lines = []
    lock = locking.StackLock(ctx, "provision_network", lease=0.6, say=quiet(lines)).acquire()
    other = make_context(config)
    LockTable(other).remove(lock.lock_id)  # provision_unlock --force ...
    taker = locking.StackLock(other, "provision_data").acquire()  # ... and another run took it
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not lock.lost:
        time.sleep(0.02)
    with pytest.raises(locking.LockLost) as stopped:
        ctx.client("ec2").create_vpc(CidrBlock="10.99.0.0/16")
    assert "taken over by provision_data" in str(stopped.value) and "ec2:CreateVpc was not sent" in str(stopped.value)
    assert not [v for v in ctx.client("ec2").describe_vpcs()["Vpcs"] if v["CidrBlock"] == "10.99.0.0/16"]
    lock.release()  # leaves the new holder's lock alone
    assert locking.read(other).lock_id == taker.lock_id
    taker.release()


def test_a_lease_that_could_not_be_renewed_in_time_stops_the_changes(config, aws):
    wall = [time.time()]
    ctx = make_context(config)
    lock = locking.StackLock(ctx, "provision_network", wall=lambda: wall[0]).acquire()
    ctx.client("ec2").create_vpc(CidrBlock="10.98.0.0/16")  # within the lease
    wall[0] += 61  # no heartbeat got through for longer than the lease: another run may hold it now
    with pytest.raises(locking.LockLost, match="could not be renewed"):
        ctx.client("ec2").create_vpc(CidrBlock="10.97.0.0/16")
    lock.release()


def test_release_with_drop_table_deletes_the_table(config, aws):
    with locking.held(make_context(config), "teardown") as lock:
        pass
    lock = locking.StackLock(make_context(config), "teardown").acquire()
    lock.release(drop_table=True)
    assert naming.lock_table(STACK) not in boto3.client("dynamodb", region_name="us-east-1").list_tables()["TableNames"]


def test_a_release_that_fails_says_how_to_break_the_lock(config, aws):
    lines = []
    ctx = make_context(config)
    lock = locking.StackLock(ctx, "provision_network", say=quiet(lines)).acquire()
    boto3.client("dynamodb", region_name="us-east-1").delete_table(TableName=naming.lock_table(STACK))
    lock.release()  # never raises: the command's own outcome stands
    assert "could not release the lock of stack dev" in lines[-1]
    assert f"provision_unlock --stack dev --lock-id {lock.lock_id}" in lines[-1]


def test_a_bad_lease_setting_is_one_clear_error(monkeypatch):
    monkeypatch.setenv(locking.LEASE_ENV, "soon")
    with pytest.raises(ConfigError, match="CLOUDSITE_LOCK_LEASE_SECONDS='soon'"):
        locking.lease_seconds()
    monkeypatch.setenv(locking.LEASE_ENV, "2.5")
    assert locking.lease_seconds() == 2.5


def test_a_zombie_is_not_alive():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (holders._stat_fields(child.pid) or ["Z"])[0] != "Z":
        time.sleep(0.01)  # exited, not reaped yet
    try:
        assert not holders.process_alive(child.pid, None)
    finally:
        child.wait()
    assert holders.process_alive(os.getpid(), holders.process_started(os.getpid()))
