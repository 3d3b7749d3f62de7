import pytest
from moto import mock_aws

from provisioning import resource
from provisioning.config import load_file
from provisioning.testing import make_context, write_stack


@pytest.fixture(autouse=True)
def _no_real_sleeping(monkeypatch):
    monkeypatch.setattr(resource, "sleep", lambda seconds: None)
    # moto loads thousands of public AMIs into every fresh EC2 backend; no network test needs them
    # (a layer that does can set it back to "true")
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")


@pytest.fixture
def stacks_dir(tmp_path):
    write_stack(tmp_path / "stacks", "dev")
    return tmp_path / "stacks"


@pytest.fixture
def config(stacks_dir):
    return load_file(stacks_dir / "dev.toml")


@pytest.fixture
def aws():
    with mock_aws():
        yield


@pytest.fixture
def ctx(config, aws):
    return make_context(config)


@pytest.fixture(autouse=True)
def _acm_issues_at_once(monkeypatch):
    import moto.settings

    monkeypatch.setattr(moto.settings, "ACM_VALIDATION_WAIT", 0)


@pytest.fixture
def fake_builder(monkeypatch):
    """The bake script's signal, written as the builder would (moto never runs user data)."""
    from provisioning.testing import FakeBuilder

    return FakeBuilder("ok").install(monkeypatch)


@pytest.fixture
def zone(aws):
    """The public hosted zone the test stack's domain lives in (found by name)."""
    import boto3

    return boto3.client("route53", region_name="us-east-1").create_hosted_zone(
        Name="dev.example.com", CallerReference="test")["HostedZone"]["Id"].rsplit("/", 1)[-1]


@pytest.fixture
def prerequisites(config, aws, zone, fake_builder, moto_ebs_default_key):
    """network and data applied, the zone in place, the bake's signal driven."""
    from provisioning.testing import engine_for

    engine_for(make_context(config), ["network", "data"]).apply()


@pytest.fixture
def moto_ebs_default_key(monkeypatch):
    """moto 5.2.5 stores the default EBS key but implements neither reading nor resetting it
    (MOTO.md); in-process, teach it both, answering as AWS does (alias/aws/ebs by default)."""
    teach_moto_ebs_default_key(monkeypatch)


def teach_moto_ebs_default_key(monkeypatch):
    """The fixture's body, for module-scoped set-ups with their own ``pytest.MonkeyPatch``."""
    from moto.core.responses import ActionResult
    from moto.ec2.responses import EC2Response

    def aws_managed(self):
        return f"arn:aws:kms:{self.region}:{self.current_account}:alias/aws/ebs"

    def get(self):
        return ActionResult({"KmsKeyId": getattr(self.ec2_backend, "default_kms_key_id", None) or aws_managed(self)})

    def reset(self):
        self.ec2_backend.default_kms_key_id = None
        return ActionResult({"KmsKeyId": aws_managed(self)})

    monkeypatch.setattr(EC2Response, "get_ebs_default_kms_key_id", get, raising=False)
    monkeypatch.setattr(EC2Response, "reset_ebs_default_kms_key_id", reset, raising=False)
