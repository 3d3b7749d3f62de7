import pytest
from moto import mock_aws

from devkit.testing import EMULATOR_MYSQL, make_context, write_stack
from provisioning import retry
from provisioning.config import load_file


@pytest.fixture(autouse=True)
def _no_real_sleeping(monkeypatch):
    # every Context made without a clock of its own takes this one: waits pace real AWS only
    monkeypatch.setattr(retry, "SYSTEM_CLOCK", retry.Clock(sleep=lambda seconds: None))
    # moto loads thousands of public AMIs into every fresh EC2 backend; no network test needs them
    # (a layer that does can set it back to "true")
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")


@pytest.fixture
def stacks_dir(tmp_path):
    write_stack(tmp_path / "stacks", "dev")
    return tmp_path / "stacks"


@pytest.fixture
def config(stacks_dir):
    """The dev stack as an emulated one: no TLS-only bucket policy (moto answers 403 to every
    object call under one, docs/moto.md; the data layer uploads the db-admin function's zip)."""
    import dataclasses

    loaded = load_file(stacks_dir / "dev.toml")
    return dataclasses.replace(loaded, data=dataclasses.replace(loaded.data, tls_only_bucket_policy=False))


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
    from devkit.testing import FakeBuilder

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
    from devkit.testing import engine_for

    engine_for(make_context(config), ["network", "data"]).apply()


@pytest.fixture
def moto_ebs_default_key(monkeypatch):
    """moto 5.2.5 stores the default EBS key but implements neither reading nor resetting it
    (docs/moto.md); in-process, teach it both, answering as AWS does (alias/aws/ebs by default)."""
    from devkit.testing import teach_moto_ebs_default_key

    teach_moto_ebs_default_key(monkeypatch)


# --- the db-admin Lambda, answered by its real handler against MariaDB -------------------------
# moto needs Docker to run a function; the stand-in (devkit/emulator.py) runs the deployed
# zip's handler against this machine's MariaDB instead, with this branch's user and database
# prefixes (a shared server: cs_db_* users, cloudsite_db_* databases).
TEST_CA_BUNDLE = """-----BEGIN CERTIFICATE-----
(a stand-in for the RDS CA bundle: the emulated database is reached without TLS)
-----END CERTIFICATE-----
"""


@pytest.fixture(scope="session", autouse=True)
def _emulator_mysql(tmp_path_factory):
    """Session-wide, and inherited by the moto_server and command processes the tests start:
    the emulator's MariaDB and an offline CA bundle for the db-admin zip."""
    import os

    bundle = tmp_path_factory.mktemp("ca") / "rds-ca.pem"
    bundle.write_text(TEST_CA_BUNDLE)
    saved = {k: os.environ.get(k) for k in [*EMULATOR_MYSQL, "CLOUDSITE_RDS_CA_BUNDLE"]}
    for key, value in EMULATOR_MYSQL.items():
        os.environ.setdefault(key, value)
    os.environ.setdefault("CLOUDSITE_RDS_CA_BUNDLE", str(bundle))
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session", autouse=True)
def _db_admin_invocations(_emulator_mysql):
    """A ``before-call.lambda.Invoke`` hook on the botocore session the tests' contexts share:
    a db-admin invocation is answered by the stand-in, every other one goes to moto."""
    import io

    from botocore.awsrequest import AWSResponse
    from botocore.response import StreamingBody

    from devkit import serial_moto
    from devkit.emulator import INVOCATION_PATH, DbAdminStandIn, is_db_admin
    from devkit.testing import _shared_botocore_session

    stand_in = DbAdminStandIn(lock=serial_moto.LOCK)

    def answer(model, params, **kwargs):
        from urllib.parse import urlsplit

        from devkit.emulator import on_loopback

        if on_loopback(urlsplit(params.get("url", "")).hostname):
            return None  # a moto_server answers it (devkit.serial_moto routes it to its own stand-in)
        match = INVOCATION_PATH.match(params.get("url_path", ""))
        if not match or not is_db_admin(match.group(1)):
            return None
        if params.get("headers", {}).get("X-Amz-Invocation-Type", "RequestResponse") != "RequestResponse":
            return None
        body = params.get("body") or b""
        error, payload = stand_in.invoke(match.group(1), body if isinstance(body, bytes) else body.encode())
        headers = {"Content-Type": "application/json", "X-Amz-Executed-Version": "$LATEST"}
        parsed = {"StatusCode": 200, "ExecutedVersion": "$LATEST",
                  "Payload": StreamingBody(io.BytesIO(payload), len(payload)),
                  "ResponseMetadata": {"HTTPStatusCode": 200, "HTTPHeaders": headers}}
        if error:
            parsed["FunctionError"] = error
        return AWSResponse(params.get("url", ""), 200, headers, None), parsed

    import botocore.handlers

    # every botocore session made from now on (the commands make their own), as moto installs its
    # own stub; and the tests' shared session, which may exist already
    handler = ("before-call.lambda.Invoke", answer)
    botocore.handlers.BUILTIN_HANDLERS.append(handler)
    session = _shared_botocore_session()
    session.register("before-call.lambda.Invoke", answer, unique_id="cloudsite-db-admin-stand-in")
    yield stand_in
    session.unregister("before-call.lambda.Invoke", unique_id="cloudsite-db-admin-stand-in")
    botocore.handlers.BUILTIN_HANDLERS.remove(handler)
    if stand_in.mysql is not None and stand_in.made:
        stand_in.drop_made()  # what tests without the emulated_mysql fixture made


@pytest.fixture
def emulated_mysql(_db_admin_invocations):
    """The emulator's MariaDB (skipped without it, failed in CI); the users and databases the
    stand-in made for the test are dropped afterwards."""
    from devkit.testing import require_reachable

    mysql = _db_admin_invocations.mysql
    require_reachable(mysql)
    yield mysql
    _db_admin_invocations.drop_made()


@pytest.fixture
def network_layer(config, aws):
    """The network layer applied (what the data layer builds on)."""
    from provisioning.tests.data_fixtures import apply

    return apply(config, "network")[0]


@pytest.fixture
def data_layer(config, network_layer, emulated_mysql):
    """The network and data layers applied; the data layer's results by recipe name."""
    from provisioning.tests.data_fixtures import apply

    return apply(config)[0]
