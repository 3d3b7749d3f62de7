"""Crash-resume for the network layer: for every k, a run that dies after its k-th mutating call,
then a second run, must end in exactly the stack a clean run makes."""
from devkit.testing import check_crash_resume


def test_every_k_resumes_into_the_clean_stack(config):
    report = check_crash_resume(config, "network")
    clean = report.clean
    # the clean run: everything exists once, matches, and a re-run changes nothing
    assert set(clean.status.values()) == {"ok"} and clean.rerun_mutating_calls == 0
    assert clean.inventory["network.vpcs"] == 2  # moto's default VPC and ours
    assert clean.mutating_calls >= 30
    assert report.ks == list(range(1, clean.mutating_calls + 1))  # every k
    assert report.problems == {}, report.describe()


def test_crashes_while_recipes_run_concurrently_resume_too(config):
    # with four workers the k-th call differs from run to run; the end state may not
    report = check_crash_resume(config, "network", stride=3, max_workers=4)
    assert len(report.ks) >= 10
    assert report.problems == {}, report.describe()


def test_the_check_catches_a_recipe_that_tags_after_creating(config, monkeypatch):
    """The helper must fail a recipe that can leave an untagged orphan: create, then tag."""
    from provisioning.layers import network

    def create_then_tag(self, ctx, deps):
        ec2 = ctx.client("ec2")
        subnet = ec2.create_subnet(VpcId=deps[network.VPC]["id"], CidrBlock=self.cidr,
                                   AvailabilityZone=ctx.availability_zones()[self.zone_index])["Subnet"]
        ec2.create_tags(Resources=[subnet["SubnetId"]], Tags=ctx.tags(self.name))
        return self._state(subnet)

    monkeypatch.setattr(network.Subnet, "create", create_then_tag)
    # one worker: the first subnet is created around the tenth mutating call
    report = check_crash_resume(config, "network", ks=range(8, 20), max_workers=1)
    assert set(report.clean.status.values()) == {"ok"}  # a clean run cannot tell
    assert report.problems, "a crash between create and tag was not caught"
    assert any("InvalidSubnet.Conflict" in p or "inventory" in p
               for found in report.problems.values() for p in found)


def test_a_crash_right_after_the_lock_was_written_resumes_at_once(config):
    """k counts the lock's own calls: on first use PutItem (no table yet), CreateTable, PutItem
    (the lock written), then the stack's calls. A run dead right after writing the lock leaves it
    held by a run of this host that is gone: the next run takes it over at once and finishes."""
    from moto import mock_aws

    from devkit.testing import apply_locked, make_context
    from provisioning import naming
    from provisioning.calls import CallHook, is_mutating

    class Mutating(CallHook):
        def __init__(self):
            self.calls = []

        def before(self, service, operation, params):
            if is_mutating(operation):
                self.calls.append((operation, params.get("TableName") == naming.lock_table(config.name)))
    seen = Mutating()
    with mock_aws():
        apply_locked(make_context(config, hooks=(seen,)), ["network"])
    assert seen.calls[:3] == [("PutItem", True), ("CreateTable", True), ("PutItem", True)]
    assert seen.calls[-1] == ("DeleteItem", True) and not any(lock for _, lock in seen.calls[3:-1])
    report = check_crash_resume(config, "network", ks=[3, len(seen.calls) - 1, len(seen.calls)])
    assert report.problems == {}, report.describe()
