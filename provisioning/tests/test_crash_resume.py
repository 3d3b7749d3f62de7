"""Crash-resume for the network layer: for every k, a run that dies after its k-th mutating call,
then a second run, must end in exactly the stack a clean run makes."""
from devkit.testing import check_crash_resume
from provisioning.config import load_file


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


def _mock_with_zone():
    """A fresh emulator holding the public zone the test stack's domain lives in."""
    import contextlib

    import boto3
    from moto import mock_aws

    @contextlib.contextmanager
    def mock():
        with mock_aws():
            boto3.client("route53", region_name="us-east-1").create_hosted_zone(
                Name="dev.example.com", CallerReference="test")
            yield
    return mock


def test_image_every_k_resumes_into_the_clean_stack(config, fake_builder):
    report = check_crash_resume(config, "image", prerequisites=("network", "data"))
    clean = report.clean
    assert set(clean.status.values()) == {"ok"} and clean.rerun_mutating_calls == 0
    assert clean.inventory["image.images"] == 1 and clean.inventory["image.live_instances"] == 0
    assert report.ks == list(range(1, clean.mutating_calls + 1))
    assert report.problems == {}, report.describe()


def test_compute_every_k_resumes_into_the_clean_stack(config, fake_builder):
    report = check_crash_resume(config, "compute", prerequisites=("network", "data", "image"),
                                mock=_mock_with_zone())
    clean = report.clean
    assert set(clean.status.values()) == {"ok"} and clean.rerun_mutating_calls == 0
    assert clean.mutating_calls >= 30
    assert report.ks == list(range(1, clean.mutating_calls + 1))
    assert report.problems == {}, report.describe()


def test_every_k_of_the_pipeline_layer_resumes_into_the_clean_stack(stacks_dir, fake_builder,
                                                                    moto_ebs_default_key):
    from provisioning.tests.pipeline_fixtures import PREREQUISITE_LAYERS, emulated_stack

    config = load_file(emulated_stack(stacks_dir / "dev.toml"))
    report = check_crash_resume(config, "pipeline", prerequisites=PREREQUISITE_LAYERS, mock=_mock_with_zone())
    clean = report.clean
    assert set(clean.status.values()) == {"ok"} and clean.rerun_mutating_calls == 0
    # the verification Lambda (and the data layer's db-admin function, a prerequisite); the Celery
    # queue, its dead-letter queue, the Lambda's failure destination
    assert clean.inventory["pipeline.functions"] == 2 and clean.inventory["pipeline.queues"] == 3
    assert clean.mutating_calls >= 30
    assert report.ks == list(range(1, clean.mutating_calls + 1))  # every k
    assert report.problems == {}, report.describe()
